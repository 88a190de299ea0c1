/**
 * The server of `weft ui`, the lab's live dashboard: the page's static files (its own and the
 * vendored preact, htm and cytoscape that the build copies into dist/ui, so nothing is fetched
 * from the internet), a JSON API over the LabClient, a server-sent-events stream that pushes
 * a new snapshot whenever the lab changes, and a second one of the flow log (./flow-feed.ts, the
 * source `weft flows -f` reads). Built on hono (routing, SSE) and @hono/node-server.
 *
 * Liveness: the store's revision moves with every object and pod status change, but node health
 * (heartbeats, readiness) and the probes the lab keeps (`weft probe` writes them, ./probe-store.ts)
 * do not move it, so a poller reads the revision, the nodes and the probes' stamps every `pollMs`
 * and rebuilds the snapshot only when one changed; every open stream gets it.
 */

import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { createAdaptorServer } from '@hono/node-server';
import {
  dashboardMatrix,
  dashboardSnapshot,
  explainPair,
  overlayProbe,
  type DashboardSnapshot,
  type NodeHealth,
} from '../core/lab/dashboard.js';
import { readNodeStatus, statusSocketPath } from '../agent/node-status.js';
import { flowMatches, flowQueryFilter, type Flow } from '../core/flows/flow.js';
import { FlowFeed, type FlowFeedEvent } from './flow-feed.js';
import { probeStamps, readProbe, saveProbe } from './probe-store.js';
import { sortPods } from './client.js';
import { isAgent, isRunner } from './lab.js';
import type { MatrixProtocol } from '../core/lab/probe-table.js';
import { hopsOf, renderHops } from '../core/trace/hops.js';
import { predictFor } from '../core/trace/predict.js';
import type { TraceProtocol } from '../core/trace/trace-table.js';
import { labNetConf, segmentCidr } from '../core/lab/lab-spec.js';
import { parseNetConf } from '../core/flannel/net-conf.js';
import type { LabClient } from './client.js';

/** The page's files (built into dist/ui by scripts/copy-ui.mjs), by URL path. */
const UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/vendor/preact.mjs': { file: 'vendor/preact.mjs', type: 'text/javascript; charset=utf-8' },
  '/vendor/hooks.mjs': { file: 'vendor/hooks.mjs', type: 'text/javascript; charset=utf-8' },
  '/vendor/htm.mjs': { file: 'vendor/htm.mjs', type: 'text/javascript; charset=utf-8' },
  '/vendor/cytoscape.mjs': { file: 'vendor/cytoscape.mjs', type: 'text/javascript; charset=utf-8' },
};

const MATRIX_PROTOCOLS: readonly MatrixProtocol[] = ['TCP', 'UDP', 'SCTP'];
const TRACE_PROTOCOLS: Record<string, TraceProtocol> = { TCP: 'tcp', UDP: 'udp', ICMP: 'icmp' };

/** A request the API refuses: the status and a message naming the parameter. */
class BadRequest extends Error {}

function portParam(text: string | undefined, name: string): number {
  if (text === undefined) throw new BadRequest(`${name}: required`);
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535)
    throw new BadRequest(`${name}: "${text}" must be a port number from 1 to 65535`);
  return port;
}

function protocolParam(text: string | undefined): MatrixProtocol {
  const p = (text ?? 'TCP').toUpperCase() as MatrixProtocol;
  if (!MATRIX_PROTOCOLS.includes(p)) throw new BadRequest(`protocol: "${text}" is not TCP, UDP or SCTP`);
  return p;
}

/** The request's JSON object body; a field not in `known` is refused, naming it. */
async function jsonBody(c: Context, known: readonly string[]): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (err) {
    throw new BadRequest(`body: not JSON (${(err as Error).message})`);
  }
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new BadRequest(`body.${unknown[0]}: unknown field (use ${known.join(', ')})`);
  return b;
}

/** The most flows one page is sent at once (its first list, and its backlog if it falls behind). */
const FLOWS_SENT = 500;

export interface UiServerOptions {
  lab: LabClient;
  port: number;
  address: string;
  /** How often the poller looks for changes (default 300 ms). */
  pollMs?: number;
  /** How many flows the server keeps for the page, over every node (default 2000). */
  flowCapacity?: number;
  log: (line: string) => void;
}

export class UiServer {
  private readonly listeners = new Set<(s: DashboardSnapshot) => void>();
  private latest: DashboardSnapshot | undefined;
  private lastKey = '';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Traces run one at a time: each turns on nftables tracing in every namespace of the lab. */
  private traceChain: Promise<unknown> = Promise.resolve();
  /** Probes run one at a time too: two at once would measure each other's load. */
  private probeChain: Promise<unknown> = Promise.resolve();
  private readonly flows: FlowFeed;

  private readonly server: Server;

  private constructor(private readonly o: UiServerOptions) {
    const app = new Hono();
    app.onError((err, c) => {
      if (err instanceof BadRequest) return c.json({ error: err.message }, 400);
      o.log(`weft ui: ${c.req.method} ${c.req.path}: ${err.message}`);
      return c.json({ error: err.message }, 500);
    });
    app.get('/api/snapshot', (c) => c.json(this.snapshot()));
    app.get('/api/events', (c) => this.events(c));
    app.get('/api/reach', async (c) => this.reach(c));
    app.get('/api/explain', async (c) => this.explain(c));
    app.post('/api/trace', async (c) => this.trace(c));
    app.get('/api/flows', (c) => this.flowEvents(c));
    app.post('/api/probe', async (c) => this.probe(c));
    for (const [path, f] of Object.entries(FILES))
      app.get(path, async (c) => c.body(await readFile(`${UI_DIR}${f.file}`), 200, { 'content-type': f.type }));
    this.server = createAdaptorServer({ fetch: app.fetch }) as Server;
    this.flows = new FlowFeed({ capacity: o.flowCapacity ?? 2_000, log: o.log });
  }

  /** Starts serving; resolves once listening (port 0 picks a free port: see `url`). */
  static async start(o: UiServerOptions): Promise<UiServer> {
    const self = new UiServer(o);
    await new Promise<void>((resolve, reject) => {
      self.server.once('error', (err) =>
        reject(new Error(`listen on ${o.address}:${o.port}: ${(err as Error).message}`)),
      );
      self.server.listen(o.port, o.address, () => resolve());
    });
    await self.poll();
    return self;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/`;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
    this.flows.stop();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The latest snapshot; until the poller could read the lab once, an error (its cause is in the log). */
  private snapshot(): DashboardSnapshot {
    if (!this.latest) throw new Error("the lab could not be read yet (see weft ui's log)");
    return this.latest;
  }

  /** Rebuilds the snapshot when the store revision or the nodes changed; tells every stream. */
  private async poll(): Promise<void> {
    try {
      const lab = this.o.lab;
      const revision = await lab.store.revision();
      const nodes = await lab.nodes();
      const health = this.health();
      const probes = probeStamps(lab.paths);
      // The nodes as they come and go (lab add-node, remove-node): each one's flows followed.
      this.flows.setNodes(nodes.map((n) => ({ node: n.name, path: statusSocketPath(lab.paths.runDir(n.name)) })));
      const key = JSON.stringify([
        revision,
        nodes.map((n) => [n.name, n.podCIDR, n.backend, n.ready, n.message]),
        [...health],
        probes,
      ]);
      if (key !== this.lastKey) {
        const conf = parseNetConf(labNetConf(lab.record.spec));
        const segments = lab.record.segments?.map((s) => s.cidr) ?? [segmentCidr(0)];
        this.latest = dashboardSnapshot({
          lab: { name: lab.paths.name, backend: conf.backend.type, network: conf.network, segments },
          revision,
          nodes,
          pods: (await lab.store.list('Pod')).map((p) => p.object),
          services: (await lab.store.list('Service')).map((s) => s.object),
          slices: (await lab.store.list('EndpointSlice')).map((s) => s.object),
          cluster: await lab.policyCluster(),
          health,
          probes,
        });
        this.lastKey = key;
        for (const l of this.listeners) l(this.latest);
      }
    } catch (err) {
      this.o.log(`weft ui: read the lab: ${(err as Error).message}`);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.poll(), this.o.pollMs ?? 300);
  }

  /** Each node's processes and controllers, as `weft lab status` reads them. */
  private health(): Map<string, NodeHealth> {
    const { paths, record } = this.o.lab;
    return new Map(
      record.nodes.map((n) => {
        const doc = readNodeStatus(paths.runDir(n.name));
        const controllers = doc?.controllers.map((c) => ({
          name: c.name,
          ready: c.ready,
          state: c.state,
          ...(c.lastError ? { lastError: c.lastError } : {}),
        }));
        return [
          n.name,
          {
            agent: isAgent(paths, n.agentPid),
            runner: isRunner(paths, n.runnerPid),
            ...(controllers ? { controllers } : {}),
          },
        ];
      }),
    );
  }

  private events(c: Context): Response {
    return streamSSE(c, async (stream) => {
      let id = 0;
      const queue: DashboardSnapshot[] = [];
      let wake: (() => void) | undefined;
      const listener = (s: DashboardSnapshot) => {
        queue.splice(0, queue.length, s);
        wake?.();
      };
      this.listeners.add(listener);
      stream.onAbort(() => {
        this.listeners.delete(listener);
        wake?.();
      });
      if (this.latest) queue.push(this.latest);
      while (!stream.aborted && !stream.closed && !this.stopped) {
        const next = queue.shift();
        if (next) await stream.writeSSE({ event: 'snapshot', data: JSON.stringify(next), id: String(id++) });
        else await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      this.listeners.delete(listener);
    });
  }

  private async reach(c: Context): Promise<Response> {
    const port = portParam(c.req.query('port') ?? '80', 'port');
    const protocol = protocolParam(c.req.query('protocol'));
    const lab = this.o.lab;
    const pods = (await lab.store.list('Pod')).map((p) => p.object);
    const matrix = dashboardMatrix(await lab.policyCluster(), pods, port, protocol);
    return c.json(overlayProbe(matrix, readProbe(lab.paths, port, protocol), pods));
  }

  /**
   * The flow log as server-sent events, filtered by the query (namespace, pod, from, to, verdict):
   * first `flows` (the newest kept flows that match, at most `FLOWS_SENT`, with the nodes whose
   * flows cannot be read), then a `flow` per new one that matches and `errors` when a node's
   * state changes.
   */
  private flowEvents(c: Context): Response {
    let filter;
    try {
      filter = flowQueryFilter(c.req.query());
    } catch (err) {
      throw new BadRequest((err as Error).message);
    }
    return streamSSE(c, async (stream) => {
      const queue: FlowFeedEvent[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = this.flows.subscribe((e) => {
        if (e.kind === 'flow' && !flowMatches(e.flow, filter)) return;
        // A page that cannot keep up loses the oldest events, not the server's memory.
        if (queue.length >= FLOWS_SENT) queue.shift();
        queue.push(e);
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      const first = {
        flows: this.flows.list((f: Flow) => flowMatches(f, filter), FLOWS_SENT),
        capacity: this.flows.capacity,
        errors: this.flows.errors(),
      };
      await stream.writeSSE({ event: 'flows', data: JSON.stringify(first) });
      while (!stream.aborted && !stream.closed && !this.stopped) {
        const next = queue.shift();
        if (next?.kind === 'flow') await stream.writeSSE({ event: 'flow', data: JSON.stringify(next.flow) });
        else if (next) await stream.writeSSE({ event: 'errors', data: JSON.stringify(next.errors) });
        else await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      unsubscribe();
    });
  }

  /**
   * POST /api/probe {port, protocol}: `weft probe -A` from the page (real traffic between every
   * pod but kube-system's), kept as the lab's last probe of that port and protocol like the CLI's;
   * answers the kept probe.
   */
  private async probe(c: Context): Promise<Response> {
    const b = await jsonBody(c, ['port', 'protocol']);
    if (typeof b.port !== 'number' || !Number.isInteger(b.port) || b.port < 1 || b.port > 65535)
      throw new BadRequest(`body.port: ${JSON.stringify(b.port)} must be a port number 1-65535`);
    const protocol = b.protocol === undefined ? 'TCP' : b.protocol;
    if (protocol !== 'TCP' && protocol !== 'UDP')
      throw new BadRequest(
        `body.protocol: ${JSON.stringify(b.protocol)} must be TCP or UDP (this kernel has no SCTP sockets)`,
      );
    const port = b.port;
    const lab = this.o.lab;
    const run = this.probeChain.then(async () => {
      const pods = sortPods((await lab.pods()).filter((p) => p.stored.object.metadata.namespace !== 'kube-system'));
      if (pods.length === 0) throw new BadRequest('no pods in the lab to probe');
      const time = Date.now();
      const revision = await lab.store.revision();
      const kept = { ...(await lab.probeMatrix(pods, port, protocol, 1_000)), time, revision };
      saveProbe(lab.paths, kept);
      return kept;
    });
    this.probeChain = run.catch(() => undefined);
    return c.json(await run);
  }

  private async explain(c: Context): Promise<Response> {
    const from = c.req.query('from');
    const to = c.req.query('to');
    if (!from) throw new BadRequest('from: required (namespace/name)');
    if (!to) throw new BadRequest('to: required (namespace/name)');
    const port = portParam(c.req.query('port'), 'port');
    const protocol = protocolParam(c.req.query('protocol'));
    const lab = this.o.lab;
    const pods = (await lab.store.list('Pod')).map((p) => p.object);
    try {
      return c.json(explainPair(await lab.policyCluster(), pods, from, to, port, protocol));
    } catch (err) {
      throw new BadRequest((err as Error).message);
    }
  }

  private async trace(c: Context): Promise<Response> {
    const b = await jsonBody(c, ['from', 'to', 'port', 'protocol']);
    if (typeof b.from !== 'string') throw new BadRequest('body.from: required, a pod namespace/name');
    if (typeof b.to !== 'string') throw new BadRequest('body.to: required, a pod, service/NS/NAME or an IPv4 address');
    const protocolText = b.protocol === undefined ? 'TCP' : b.protocol;
    const protocol = typeof protocolText === 'string' ? TRACE_PROTOCOLS[protocolText.toUpperCase()] : undefined;
    if (!protocol) throw new BadRequest(`body.protocol: ${JSON.stringify(b.protocol)} must be TCP, UDP or ICMP`);
    let port: number | undefined;
    if (b.port !== undefined) {
      if (typeof b.port !== 'number' || !Number.isInteger(b.port) || b.port < 1 || b.port > 65535)
        throw new BadRequest(`body.port: ${JSON.stringify(b.port)} must be a port number 1-65535`);
      if (protocol === 'icmp') throw new BadRequest('body.port: an ICMP echo has no port');
      port = b.port;
    }
    const from = b.from;
    const to = b.to;
    const run = this.traceChain.then(async () => {
      const { real, model } = await this.o.lab.trace(from, to, port, protocol);
      const { hops, end } = hopsOf(real.seen, real.probe.from.label);
      const { predicted, differences } = predictFor({ hops, end }, model, real.probe);
      return { from, to, probe: real.probe, hops, end, predicted, differences, text: renderHops(hops, end) };
    });
    this.traceChain = run.catch(() => undefined);
    try {
      return c.json(await run);
    } catch (err) {
      // The lab's own refusals (no such pod, not running, no port) are the request's fault.
      if (/^(FROM|TO|--port):/.test((err as Error).message)) throw new BadRequest((err as Error).message);
      throw err;
    }
  }
}
