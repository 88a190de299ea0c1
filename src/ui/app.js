// The dashboard of `weft ui`, run by the browser as it is (no build step): preact + htm for the
// views, cytoscape for the topology graph. It follows the server's /api/events stream (a new
// snapshot of the lab whenever it changes), the Flows view follows /api/flows (the flow log, a
// second stream), and it asks /api/reach, /api/explain, /api/trace and /api/probe on demand.
// Views: Topology, Reachability, Services, Flows, Policies.
import { h, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import cytoscape from 'cytoscape';

const html = htm.bind(h);

/**
 * What the tests, the benchmark (bench/ui.ts) and a curious user's console can read: the graph,
 * the last trace, and when each pod now in the lab was first drawn on the topology (epoch ms, the
 * clock `weft apply` is timed by; a pod that leaves the lab leaves the map, so it stays bounded).
 */
const debug = { cy: undefined, trace: undefined, drawnAt: new Map() };
window.weft = debug;

async function getJson(url, init) {
  const r = await fetch(url, init);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ?? `${url}: HTTP ${r.status}`);
  return body;
}

/** A node's health in words: readiness, then any dead process or failing controller. */
function healthText(n) {
  const parts = [n.ready ? 'Ready' : `NotReady${n.message ? ` (${n.message})` : ''}`];
  if (n.agent === false) parts.push('agent NOT RUNNING');
  if (n.runner === false) parts.push('pod-runner NOT RUNNING');
  for (const f of n.failing ?? []) parts.push(f);
  return parts.join(', ');
}

/**
 * The graph's elements, laid out in a fixed grid (cytoscape's force layouts tangle compound
 * nodes): the nodes side by side, each holding a column per namespace with its pods stacked, the
 * underlay below them joined to each node's eth0, and the tunnels between the nodes.
 */
const POD_W = 96;
const POD_H = 48;
function elementsOf(snap) {
  const els = [];
  const podsOf = new Map(snap.nodes.map((n) => [n.name, new Map()]));
  for (const p of snap.pods) {
    const byNs = podsOf.get(p.node);
    if (!byNs) continue;
    if (!byNs.has(p.namespace)) byNs.set(p.namespace, []);
    byNs.get(p.namespace).push(p);
  }
  let x = 0;
  let deepest = 1;
  for (const n of snap.nodes) {
    const health = healthText(n);
    const byNs = podsOf.get(n.name);
    els.push({
      data: {
        id: `node:${n.name}`,
        label: `${n.name} ${n.internalIP}\nsubnet ${n.podCIDR ?? '-'} · ${n.backend ?? snap.lab.backend} · ${health}`,
        kind: 'node',
        index: snap.nodes.indexOf(n),
        ready: n.ready ? 'yes' : 'no',
      },
      ...(byNs.size === 0 ? { position: { x: x + POD_W / 2, y: 0 } } : {}),
    });
    for (const [ns, pods] of [...byNs.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const group = `ns:${n.name}:${ns}`;
      els.push({ data: { id: group, parent: `node:${n.name}`, label: ns, kind: 'namespace' } });
      pods.forEach((p, i) =>
        els.push({
          data: {
            id: `pod:${p.namespace}/${p.name}`,
            parent: group,
            label: `${p.name}\n${p.ip ?? p.phase}`,
            ref: `${p.namespace}/${p.name}`,
            kind: 'pod',
            running: p.phase === 'Running' ? 'yes' : 'no',
          },
          position: { x, y: i * POD_H },
        }),
      );
      deepest = Math.max(deepest, pods.length);
      x += POD_W;
    }
    if (byNs.size === 0) x += POD_W;
        x += POD_W / 2;
  }
  els.push({
    data: { id: 'underlay', label: `underlay ${snap.lab.segments.join(', ')}`, kind: 'underlay' },
    position: { x: (x - POD_W * 1.5) / 2, y: deepest * POD_H + 140 },
  });
  for (const n of snap.nodes)
    els.push({
      data: { id: `link:${n.name}`, source: `node:${n.name}`, target: 'underlay', label: `eth0 ${n.internalIP}`, kind: 'link' },
    });
  for (let i = 0; i < snap.nodes.length; i++)
    for (let j = i + 1; j < snap.nodes.length; j++) {
      const a = snap.nodes[i];
      const b = snap.nodes[j];
      els.push({
        data: {
          id: `tunnel:${a.name}:${b.name}`,
          source: `node:${a.name}`,
          target: `node:${b.name}`,
          label: a.backend ?? snap.lab.backend,
          kind: 'tunnel',
          // Over the nodes between them, not through them.
          bend: -70 * (j - i),
        },
      });
    }
  return els;
}

const STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'text-wrap': 'wrap',
      'font-size': 10,
      'text-valign': 'center',
      'text-halign': 'center',
    },
  },
  { selector: 'node[kind="underlay"]', style: { shape: 'round-rectangle', 'background-color': '#c9d3e6', width: 200, height: 30 } },
  {
    selector: 'node[kind="node"]',
    style: { 'background-color': '#eef2fb', 'border-color': '#3f6fd8', 'border-width': 2, 'text-valign': 'top', 'font-weight': 'bold' },
  },
  { selector: 'node[kind="node"][ready="no"]', style: { 'border-color': '#b3261e' } },
  { selector: 'node[kind="namespace"]', style: { 'background-color': '#fbfcfe', 'border-color': '#aab3c5', 'text-valign': 'top', 'font-size': 8 } },
  { selector: 'node[kind="pod"]', style: { shape: 'round-rectangle', width: 80, height: 34, 'background-color': '#7fb0f0' } },
  { selector: 'node[kind="pod"][running="no"]', style: { 'background-color': '#d0d0d0' } },
  { selector: 'edge', style: { width: 1, 'line-color': '#aab3c5', label: 'data(label)', 'font-size': 8, 'curve-style': 'bezier' } },
  {
    selector: 'edge[kind="tunnel"]',
    style: { 'line-style': 'dashed', 'line-color': '#6c86c4', 'curve-style': 'unbundled-bezier', 'control-point-distances': 'data(bend)' },
  },
  { selector: 'edge[kind="trace"][bend]', style: { 'curve-style': 'unbundled-bezier', 'control-point-distances': 'data(bend)' } },
  {
    selector: 'edge[kind="trace"]',
    style: {
      width: 3,
      'line-color': '#e0701b',
      'target-arrow-color': '#e0701b',
      'target-arrow-shape': 'triangle',
      color: '#a34b0c',
      'font-size': 9,
      'font-weight': 'bold',
    },
  },
  { selector: '.hop', style: { 'border-color': '#e0701b', 'border-width': 3 } },
];

/**
 * The element a trace hop's label ("pod x/a", "node weft-1", "router") stands for in the graph;
 * the client outside the cluster, the gateway and the router are all on the underlay.
 */
function elementOfHop(label) {
  if (label.startsWith('pod ')) return `pod:${label.slice(4)}`;
  if (label.startsWith('node ')) return `node:${label.slice(5)}`;
  return 'underlay';
}

/** Draws the trace's hops as numbered edges over the topology (and marks the elements they pass). */
function drawTrace(cy, trace) {
  cy.remove('edge[kind="trace"]');
  cy.elements().removeClass('hop');
  if (!trace) return;
  const ids = trace.hops.map((hop) => elementOfHop(hop.label)).filter((id) => cy.getElementById(id).nonempty());
  ids.forEach((id) => cy.getElementById(id).addClass('hop'));
  for (let i = 0; i + 1 < ids.length; i++) {
    if (ids[i] === ids[i + 1]) continue;
    // Between two nodes the hop curves below them (the tunnels curve above), past the nodes between.
    const a = cy.getElementById(ids[i]).data('index');
    const b = cy.getElementById(ids[i + 1]).data('index');
    const bend = a !== undefined && b !== undefined ? { bend: 70 * Math.abs(a - b) * Math.sign(b - a) } : {};
    cy.add({ data: { id: `trace:${i}`, source: ids[i], target: ids[i + 1], label: String(i + 1), kind: 'trace', ...bend } });
  }
}

/**
 * Notes when the topology was drawn: the first time as the performance mark
 * `weft:topology-drawn` (navigation start → the lab drawn with every pod it had; its detail counts
 * them), and for every pod the time it was first drawn (`debug.drawnAt`).
 */
function markDrawn(snap) {
  const now = performance.timeOrigin + performance.now();
  const present = new Set(snap.pods.map((p) => `${p.namespace}/${p.name}`));
  for (const id of present) if (!debug.drawnAt.has(id)) debug.drawnAt.set(id, now);
  for (const id of debug.drawnAt.keys()) if (!present.has(id)) debug.drawnAt.delete(id);
  if (performance.getEntriesByName('weft:topology-drawn').length === 0)
    performance.mark('weft:topology-drawn', { detail: { pods: present.size, nodes: snap.nodes.length } });
}

function Topology({ snap, trace }) {
  const box = useRef(null);
  const cyRef = useRef(null);
  const shownKey = useRef('');
  useEffect(() => {
    const cy = cytoscape({ container: box.current, style: STYLE, wheelSensitivity: 0.3 });
    cyRef.current = cy;
    debug.cy = cy;
    return () => {
      cy.destroy();
      debug.cy = undefined;
    };
  }, []);
  useEffect(() => {
    const cy = cyRef.current;
    if (!cy || !snap) return;
    const els = elementsOf(snap);
    const key = JSON.stringify(els);
    if (key !== shownKey.current) {
      shownKey.current = key;
      cy.elements().remove();
      cy.add(els);
      cy.layout({ name: 'preset', fit: true, padding: 30 }).run();
      markDrawn(snap);
    }
    drawTrace(cy, trace);
  }, [snap, trace]);
  const byNode = new Map(snap.nodes.map((n) => [n.name, []]));
  const unscheduled = [];
  for (const p of snap.pods) (byNode.get(p.node) ?? unscheduled).push(p);
  return html`<div class="topology">
    <div id="cy" ref=${box}></div>
    <aside>
      ${trace &&
      html`<section data-testid="trace-hops">
        <h3>trace ${trace.from} → ${trace.to} (${trace.probe.daddr}${trace.probe.port ? `:${trace.probe.port}` : ''} ${trace.probe.protocol})</h3>
        <ol>
          ${trace.hops.map((hop) => html`<li class="hop-label">${hop.label}${hop.verdict === 'drop' ? ' (dropped)' : ''}</li>`)}
        </ol>
        <div>${endText(trace.end)}</div>
        ${trace.differences.length > 0 &&
        html`<div class="error">MISMATCH with weft's model: ${trace.differences.join('; ')}</div>`}
        <pre>${trace.text}</pre>
      </section>`}
      ${snap.nodes.map(
        (n) => html`<section data-testid="node" data-node=${n.name}>
          <h3>${n.name} <span class=${n.ready && n.agent !== false && n.runner !== false ? 'ready' : 'notready'}>${healthText(n)}</span></h3>
          <div>${n.internalIP} · subnet ${n.podCIDR ?? '-'} · ${n.backend ?? snap.lab.backend}</div>
          <ul>
            ${byNode.get(n.name).map((p) => html`<li data-testid="pod" data-pod=${`${p.namespace}/${p.name}`}>${p.namespace}/${p.name} ${p.ip ?? p.phase}</li>`)}
          </ul>
        </section>`,
      )}
      ${unscheduled.length > 0 &&
      html`<section><h3>not on a node</h3><ul>${unscheduled.map((p) => html`<li>${p.namespace}/${p.name} ${p.phase}</li>`)}</ul></section>`}
    </aside>
  </div>`;
}

function endText(end) {
  if (end.kind === 'dropped') return `dropped in ${end.at}${end.rule ? ` by ${end.rule.table} ${end.rule.chain}${end.rule.comment ? ` ("${end.rule.comment}")` : ''}` : ''}`;
  if (end.kind === 'delivered') return `delivered to ${end.at}`;
  return `not seen after ${end.after ?? 'the sender'}`;
}

function Reachability({ snap, onTrace }) {
  const [port, setPort] = useState('80');
  const [protocol, setProtocol] = useState('TCP');
  const [matrix, setMatrix] = useState(undefined);
  const [selected, setSelected] = useState(undefined);
  const [explain, setExplain] = useState(undefined);
  const [error, setError] = useState(undefined);
  const [tracing, setTracing] = useState(false);
  const load = () =>
    getJson(`/api/reach?port=${encodeURIComponent(port)}&protocol=${protocol}`)
      .then((m) => (setMatrix(m), setError(undefined)))
      .catch((e) => setError(e.message));
  // The matrix follows the lab: recomputed on every new snapshot (a policy applied, a pod added,
  // a probe kept by `weft probe`).
  const probeStamp = JSON.stringify(snap.probes);
  useEffect(() => void load(), [snap.revision, probeStamp, port, protocol]);
  const [probing, setProbing] = useState(false);
  const probe = () => {
    setProbing(true);
    setError(undefined);
    getJson('/api/probe', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ port: matrix.port, protocol: matrix.protocol }),
    })
      .then(() => load())
      .catch((e) => setError(`probe: ${e.message}`))
      .finally(() => setProbing(false));
  };
  const choose = (from, to) => {
    setSelected({ from, to });
    setExplain(undefined);
    getJson(`/api/explain?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&port=${matrix.port}&protocol=${matrix.protocol}`)
      .then((e) => setExplain(e.text))
      .catch((e) => setExplain(`error: ${e.message}`));
  };
  const trace = () => {
    setTracing(true);
    setError(undefined);
    const body = { from: selected.from, to: selected.to, port: matrix.port, protocol: matrix.protocol };
    runTrace(body)
      .then((t) => onTrace(t))
      .catch((e) => setError(`trace: ${e.message}`))
      .finally(() => setTracing(false));
  };
  const cells = new Map((matrix?.results ?? []).map((r) => [`${r.from} ${r.to}`, r]));
  return html`<div>
    <div class="controls">
      <label>port <input data-testid="port" size="5" value=${port} onChange=${(e) => setPort(e.target.value)} /></label>
      <label>protocol
        <select data-testid="protocol" value=${protocol} onChange=${(e) => setProtocol(e.target.value)}>
          <option>TCP</option><option>UDP</option><option>SCTP</option>
        </select>
      </label>
      ${matrix &&
      matrix.protocol !== 'SCTP' &&
      html`<button data-testid="probe" disabled=${probing} onClick=${probe}>${probing ? 'probing…' : 'probe now (real traffic)'}</button>`}
      ${error && html`<span class="error" data-testid="error">${error}</span>`}
    </div>
    ${matrix && html`<${ProbeSummary} matrix=${matrix} revision=${snap.revision} />`}
    ${matrix &&
    html`<table class="matrix" data-testid="matrix" data-port=${matrix.port} data-protocol=${matrix.protocol}>
      <tr><th>from \\ to</th>${matrix.pods.map((p) => html`<th>${p}</th>`)}</tr>
      ${matrix.pods.map(
        (from) => html`<tr>
          <th>${from}</th>
          ${matrix.pods.map((to) => {
            const r = cells.get(`${from} ${to}`);
            const ok = r?.allowed;
            const sel = selected && selected.from === from && selected.to === to;
            const probed = r?.connected === undefined ? '' : r.agrees ? ' agrees' : ' disagrees';
            const said = r?.connected === undefined ? 'not probed' : `probe: ${r.connected ? 'connected' : 'not connected'}`;
            return html`<td
              class=${`cell ${ok ? 'allowed' : 'denied'}${probed}${sel ? ' selected' : ''}`}
              data-from=${from}
              data-to=${to}
              data-allowed=${ok ? 'true' : 'false'}
              data-probe=${r?.connected === undefined ? 'none' : r.connected ? 'connected' : 'not-connected'}
              title=${`${from} → ${to}: model ${ok ? 'allowed' : 'denied'}, ${said}${r?.agrees === false ? ' (DISAGREES)' : ''}${r?.hint ? `: ${r.hint}` : ''}`}
              onClick=${() => choose(from, to)}
            >${ok ? '.' : 'X'}${r?.connected === undefined ? '' : html`<span class="probe-mark">${r.agrees ? '✓' : '!'}</span>`}</td>`;
          })}
        </tr>`,
      )}
    </table>`}
    ${selected &&
    html`<div>
      <h3>${selected.from} → ${selected.to}</h3>
      <pre data-testid="explain">${explain ?? '…'}</pre>
      <button data-testid="trace" disabled=${tracing} onClick=${trace}>${tracing ? 'tracing…' : 'trace a real packet'}</button>
    </div>`}
  </div>`;
}

/** Seconds, minutes or hours ago, for when a probe ran. */
function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

/** What the last probe says over the matrix: when it ran, whether the lab moved since, every disagreement. */
function ProbeSummary({ matrix, revision }) {
  if (!matrix.probe)
    return html`<p class="probe-summary" data-testid="probe-summary">no probe of ${matrix.port}/${matrix.protocol} kept:
      run <code>weft probe -A --port ${matrix.port} --protocol ${matrix.protocol}</code> or “probe now” to lay real traffic over the model</p>`;
  const p = matrix.probe;
  const covered = matrix.results.filter((r) => r.connected !== undefined).length;
  return html`<div class="probe-summary" data-testid="probe-summary" data-disagreements=${matrix.disagreements.length}>
    <div>
      ${`last probe of ${matrix.port}/${matrix.protocol}: ${new Date(p.time).toLocaleTimeString()} (${ago(p.time)}), ${p.pods} pods, ${covered} of ${matrix.results.length} cells probed (✓ real traffic agrees with the model, ! it disagrees)`}
      ${p.revision !== revision && html`<span class="stale"> · the lab changed since (revision ${p.revision} → ${revision})</span>`}
    </div>
    ${matrix.disagreements.length === 0
      ? html`<div class="ready">real traffic agrees with weft reach on every probed pair</div>`
      : html`<div class="error" data-testid="disagreements">
          ${matrix.disagreements.length} pair${matrix.disagreements.length === 1 ? '' : 's'} where real traffic DISAGREES with weft reach (a bug in weft, or a pod that does not serve the port):
          <ul>${matrix.disagreements.map((d) => html`<li>${d}</li>`)}</ul>
        </div>`}
  </div>`;
}

/** POSTs a trace; the caller shows the error, the topology draws the result. */
const runTrace = (body) =>
  getJson('/api/trace', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

function Services({ snap, onTrace }) {
  const running = snap.pods.filter((p) => p.phase === 'Running' && !p.hostNetwork).map((p) => `${p.namespace}/${p.name}`);
  const [from, setFrom] = useState(running[0]);
  const [busy, setBusy] = useState(undefined);
  const [error, setError] = useState(undefined);
  if (snap.services.length === 0) return html`<p>no Services</p>`;
  const trace = (s) => {
    setBusy(`${s.namespace}/${s.name}`);
    setError(undefined);
    runTrace({ from, to: `service/${s.namespace}/${s.name}` })
      .then((t) => onTrace(t))
      .catch((e) => setError(`trace: ${e.message}`))
      .finally(() => setBusy(undefined));
  };
  return html`<div>
    <div class="controls">
      <label>trace from
        <select data-testid="trace-from" value=${from} onChange=${(e) => setFrom(e.target.value)}>
          ${running.map((p) => html`<option>${p}</option>`)}
          <option value="outside">outside (to LoadBalancer Services)</option>
        </select>
      </label>
      ${error && html`<span class="error">${error}</span>`}
    </div>
    <table data-testid="services">
    <tr><th>service</th><th>type</th><th>VIP</th><th>ports</th><th>endpoints</th><th></th></tr>
    ${snap.services.map(
      (s) => html`<tr data-service=${`${s.namespace}/${s.name}`}>
        <td>${s.namespace}/${s.name}</td>
        <td>${s.type}</td>
        <td>${s.clusterIP ?? '-'}</td>
        <td>${s.ports.map((p) => html`<div>${p.name ? `${p.name} ` : ''}${p.port}/${p.protocol} → ${p.targetPort}${p.nodePort ? ` (NodePort ${p.nodePort})` : ''}</div>`)}</td>
        <td>
          ${s.endpoints.length === 0 ? 'none' : ''}
          ${s.endpoints.map(
            (e) => html`<div class=${e.ready ? 'ready' : 'notready'}>${e.address}${e.pod ? ` ${e.pod}` : ''}${e.node ? ` on ${e.node}` : ''} ${e.ready ? 'ready' : 'not ready'}</div>`,
          )}
        </td>
        <td>
          ${(from === 'outside' ? s.type === 'LoadBalancer' : s.clusterIP && s.clusterIP !== 'None' && from) &&
          html`<button data-testid="trace-service" disabled=${busy !== undefined} onClick=${() => trace(s)}>
            ${busy === `${s.namespace}/${s.name}` ? 'tracing…' : 'trace'}
          </button>`}
        </td>
      </tr>`,
    )}
  </table></div>`;
}

/** The most flows the page holds (the server keeps more; a filter asks it again). */
const FLOWS_KEPT = 500;

function flowEnd(e) {
  const addr = e.port === undefined ? e.ip : `${e.ip}:${e.port}`;
  return e.pod ? html`<b>${e.pod}</b> ${addr}` : addr;
}

/** The live flow log (what `weft flows -A -f` prints), newest first, filtered by the server. */
function Flows({ snap }) {
  const [filter, setFilter] = useState({ namespace: '', pod: '', verdict: '' });
  const [flows, setFlows] = useState([]);
  const [errors, setErrors] = useState({});
  const [live, setLive] = useState('connecting');
  useEffect(() => {
    const q = new URLSearchParams(Object.entries(filter).filter(([, v]) => v !== ''));
    const events = new EventSource(`/api/flows?${q}`);
    events.addEventListener('flows', (e) => {
      const first = JSON.parse(e.data);
      setFlows(first.flows.slice(-FLOWS_KEPT));
      setErrors(first.errors);
      setLive('live');
    });
    events.addEventListener('flow', (e) => {
      const f = JSON.parse(e.data);
      setFlows((old) => {
        const next = [...old, f].sort((a, b) => a.time - b.time || a.node.localeCompare(b.node));
        return next.length > FLOWS_KEPT ? next.slice(next.length - FLOWS_KEPT) : next;
      });
    });
    events.addEventListener('errors', (e) => setErrors(JSON.parse(e.data)));
    events.onerror = () => setLive('reconnecting');
    return () => events.close();
  }, [filter.namespace, filter.pod, filter.verdict]);
  const namespaces = [...new Set(snap.pods.map((p) => p.namespace))].sort();
  const pods = snap.pods.map((p) => `${p.namespace}/${p.name}`);
  const set = (k) => (e) => setFilter({ ...filter, [k]: e.target.value });
  const denied = flows.filter((f) => f.verdict === 'denied').length;
  return html`<div>
    <div class="controls">
      <label>namespace
        <select data-testid="flow-namespace" value=${filter.namespace} onChange=${set('namespace')}>
          <option value="">all</option>${namespaces.map((n) => html`<option>${n}</option>`)}
        </select>
      </label>
      <label>pod
        <select data-testid="flow-pod" value=${filter.pod} onChange=${set('pod')}>
          <option value="">any</option>${pods.map((p) => html`<option>${p}</option>`)}
        </select>
      </label>
      <label>verdict
        <select data-testid="flow-verdict" value=${filter.verdict} onChange=${set('verdict')}>
          <option value="">any</option><option>allowed</option><option>denied</option>
        </select>
      </label>
      <span data-testid="flow-status">${live} · ${flows.length} flows shown (at most ${FLOWS_KEPT}), ${denied} denied</span>
    </div>
    ${Object.entries(errors).map(([node, why]) => html`<div class="error">flows of node ${node} cannot be read: ${why}</div>`)}
    ${flows.length === 0
      ? html`<p>no flows${filter.namespace || filter.pod || filter.verdict ? ' match the filter' : ' logged yet'}</p>`
      : html`<table class="flows" data-testid="flows">
          <tr><th>time</th><th>node</th><th>verdict</th><th>proto</th><th>source</th><th>destination</th><th>policy</th></tr>
          ${[...flows].reverse().map(
            (f) => html`<tr
              class=${`flow ${f.verdict}`}
              data-verdict=${f.verdict}
              data-src=${f.src.pod ?? f.src.ip}
              data-dst=${f.dst.pod ?? f.dst.ip}
              data-sport=${f.src.port}
              data-node=${f.node}
            >
              <td>${new Date(f.time).toLocaleTimeString(undefined, { hour12: false })}.${String(f.time % 1000).padStart(3, '0')}</td>
              <td>${f.node}</td>
              <td class="verdict">${f.verdict}</td>
              <td>${f.protocol}</td>
              <td>${flowEnd(f.src)}</td>
              <td>${flowEnd(f.dst)}</td>
              <td class="policy">${f.verdict === 'denied'
                ? html`isolated for ${f.direction.toLowerCase()} by <b>${f.policies.join(', ')}</b>`
                : `${f.policies.join(', ')} ${f.direction.toLowerCase()}[${f.rule ?? '?'}]`}</td>
            </tr>`,
          )}
        </table>`}
  </div>`;
}

function Policies({ snap }) {
  if (snap.policies.length === 0) return html`<p>no NetworkPolicies: every pod is reachable</p>`;
  return html`<table data-testid="policies">
    <tr><th>policy</th><th>types</th><th>selects</th><th>rules</th></tr>
    ${snap.policies.map(
      (p) => html`<tr data-policy=${`${p.namespace}/${p.name}`}>
        <td>${p.namespace}/${p.name}</td>
        <td>${p.policyTypes.join(', ')}</td>
        <td>${p.selects.length === 0 ? 'no pods' : p.selects.join(', ')}</td>
        <td>${p.ingressRules} ingress, ${p.egressRules} egress${p.ingressRules + p.egressRules === 0 ? ' (denies all it isolates)' : ''}</td>
      </tr>`,
    )}
  </table>`;
}

const VIEWS = ['Topology', 'Reachability', 'Services', 'Flows', 'Policies'];

function App() {
  const [snap, setSnap] = useState(undefined);
  const [view, setView] = useState('Topology');
  const [live, setLive] = useState('connecting');
  const [trace, setTrace] = useState(undefined);
  useEffect(() => {
    const events = new EventSource('/api/events');
    events.addEventListener('snapshot', (e) => {
      setSnap(JSON.parse(e.data));
      setLive('live');
    });
    events.onerror = () => setLive('reconnecting');
    return () => events.close();
  }, []);
  const onTrace = (t) => {
    debug.trace = t;
    setTrace(t);
    setView('Topology');
  };
  return html`<header>
      <h1>weft ui${snap ? ` · lab ${snap.lab.name}` : ''}</h1>
      ${VIEWS.map((v) => html`<button data-view=${v} class=${v === view ? 'active' : ''} onClick=${() => setView(v)}>${v}</button>`)}
      <span class="status" data-testid="status" data-revision=${snap?.revision}>
        ${snap ? `${snap.lab.backend} · ${snap.lab.network} · ${snap.nodes.length} nodes · ${snap.pods.length} pods · revision ${snap.revision} · ${live}` : live}
      </span>
    </header>
    <main>
      ${!snap
        ? html`<p>loading…</p>`
        : view === 'Topology'
          ? html`<${Topology} snap=${snap} trace=${trace} />`
          : view === 'Reachability'
            ? html`<${Reachability} snap=${snap} onTrace=${onTrace} />`
            : view === 'Services'
              ? html`<${Services} snap=${snap} onTrace=${onTrace} />`
              : view === 'Flows'
                ? html`<${Flows} snap=${snap} />`
                : html`<${Policies} snap=${snap} />`}
    </main>`;
}

render(html`<${App} />`, document.getElementById('app'));
