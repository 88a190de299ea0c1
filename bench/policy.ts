/**
 * Benchmark of NetworkPolicy enforcement (issue 5), each figure beside a baseline of the same run:
 * - traffic: pod-to-pod TCP throughput (iperf3) and new connections per second between two pods
 *   on different nodes of a 2-node lab, with 1,000 NetworkPolicies holding 10,000 ipBlock
 *   addresses loaded (and selecting both ends) against no policy at all; rounds alternate, and
 *   each figure is the median of its rounds. With the policies loaded, a third pod that no
 *   policy allows is checked to be refused, so the rules measured are really in the path.
 * - enforcement latency: on a 10-node lab with pods on every node, the time from `apply` (or
 *   `delete`) of a policy that changes every node's rules until every agent has committed the
 *   new rules to its kernel (each agent writes the objects revision it enforces, and when, to
 *   run/policy-applied.json after its `nft -f` returns); median and p99 over the trials.
 * - rendering: one node's table for a cluster of 10,000 pods (100 on the node) and 1,000
 *   policies, with sets shared per selector (src/core/policy/policy-sets.ts) against the per-pod
 *   plan the agent used before (bench/baseline/policy-per-pod.ts), in the same run: set
 *   elements, planning time, the script's size, loading it with `nft -f` into a scratch
 *   namespace (and the empty skeleton), and the time from one pod label change to the node's table updated (incremental plan, and
 *   the element differences applied in one transaction through `nft -i`, as the agent does).
 * Prints a table and writes bench/results/policy.json. Not a test: it asserts nothing about time.
 *
 * Run: npm run bench   (as root), or node dist/bench/policy.js with
 *      WEFT_BENCH_POLICY=render,enforce,traffic (default all)
 */

import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchLabs } from './bench-labs.js';
import { carryParts, report, type BenchRow } from './report.js';
import { connRate, iperf } from './pod-traffic.js';
import { NodeExec } from '../src/adapters/exec.js';
import { parseManifestLocated } from '../src/core/k8s/parse.js';
import type { PolicyPod } from '../src/core/policy/evaluate.js';
import { planPolicyElements, renderPolicyTableText } from './baseline/policy-per-pod.js';
import { bigCluster, NODE0_PREFIX } from './policy-cluster.js';
import { PolicySetPlanner, type PolicySetPod } from '../src/core/policy/policy-sets.js';
import { PolicyTableRenderer, policyTableDef } from '../src/core/policy/policy-table.js';
import { planFullRebuild } from '../src/core/nft/sync.js';
import { PolicyTableSync } from '../src/agent/policy-sync.js';
import { NftSession } from '../src/adapters/nft-session.js';
import { LabClient } from '../src/lab/client.js';
import { readPolicyApplied } from '../src/agent/node-status.js';
import { Netns } from '../test/support/netns.js';

const PARTS = new Set((process.env.WEFT_BENCH_POLICY ?? 'render,enforce,traffic').split(','));
const { root, weft, teardown } = benchLabs('policy');
const exec = new NodeExec();
const LABS = ['bpt', 'bpe'];

const rows: BenchRow[] = [];
const results: Record<string, unknown> = { date: new Date().toISOString() };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
/** Nearest-rank percentile. */
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)]!;

/** The objects revision each node's agent enforces, from its run/policy-applied.json. */
function appliedOn(client: LabClient, node: string): { revision: number; appliedAtMs: number } | undefined {
  return readPolicyApplied(client.paths.runDir(node));
}

/** Waits until every node enforces at least `revision`; returns each node's commit time (ms since epoch). */
async function waitEnforced(client: LabClient, revision: number, timeoutMs = 60_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = client.nodeNames.map((n) => appliedOn(client, n));
    if (states.every((s) => s && s.revision >= revision)) return states.map((s) => s!.appliedAtMs);
    if (Date.now() > deadline)
      throw new Error(
        `revision ${revision} not enforced on every node after ${timeoutMs} ms: ${JSON.stringify(states)}`,
      );
    await new Promise((r) => setTimeout(r, 2));
  }
}

function located(text: string) {
  return parseManifestLocated(text);
}

// ---------------------------------------------------------------------------------------------
// Traffic with 1,000 policies and 10,000 addresses versus none.

/** 1,000 policies: 499 selecting the server (ingress), 499 the client (egress), 10 ipBlock /32 each, plus the two that allow client→server (10 ipBlocks each too). */
function loadPolicies(ns: string): string {
  const docs: string[] = [];
  let addr = 0;
  const blocks = () =>
    Array.from({ length: 10 }, () => {
      const a = addr++;
      return { ipBlock: { cidr: `100.${64 + (a >> 16)}.${(a >> 8) & 255}.${a & 255}/32` } };
    });
  const ports = [
    { protocol: 'TCP', port: 80 },
    { protocol: 'TCP', port: 5201 },
  ];
  const policy = (name: string, spec: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name, namespace: ns },
      spec,
    });
  for (let i = 0; i < 499; i++)
    docs.push(
      policy(`in-${i}`, {
        podSelector: { matchLabels: { app: 'server' } },
        policyTypes: ['Ingress'],
        ingress: [{ from: blocks(), ports }],
      }),
    );
  for (let i = 0; i < 499; i++)
    docs.push(
      policy(`out-${i}`, {
        podSelector: { matchLabels: { app: 'client' } },
        policyTypes: ['Egress'],
        egress: [{ to: blocks(), ports }],
      }),
    );
  docs.push(
    policy('allow-client-in', {
      podSelector: { matchLabels: { app: 'server' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }, ...blocks()], ports }],
    }),
  );
  docs.push(
    policy('allow-server-out', {
      podSelector: { matchLabels: { app: 'client' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: { matchLabels: { app: 'server' } } }, ...blocks()], ports }],
    }),
  );
  if (addr !== 10_000 || docs.length !== 1000)
    throw new Error(`policy load is ${docs.length} policies, ${addr} addresses`);
  return docs.join('\n---\n');
}

/** Rounds of (no policy, 1,000 policies) measurements; each figure is the median of its rounds. */
const ROUNDS = 5;

async function traffic(): Promise<void> {
  weft(['lab', 'up', '--name', 'bpt', '--nodes', '2']);
  const ns = 'bench';
  const pod = (name: string, node: string, app: string) =>
    `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${ns}, labels: { app: ${app} } }\nspec: { nodeName: ${node}, containers: [{ name: s, ports: [{ containerPort: 80 }] }] }\n`;
  weft(
    ['apply', '--lab', 'bpt', '-f', '-'],
    [
      `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${ns} }\n`,
      pod('server', 'n1', 'server'),
      pod('client', 'n2', 'client'),
      pod('other', 'n2', 'other'),
    ].join('---\n'),
  );
  const client = LabClient.open(root, 'bpt', exec);
  try {
    const views = await client.pods();
    const serverIP = views.find((p) => p.stored.object.metadata.name === 'server')?.status?.podIP;
    if (!serverIP) throw new Error('the server pod has no IP');
    const serverNs = await client.podNetnsPath(ns, 'server');
    const clientNs = await client.podNetnsPath(ns, 'client');
    const load = located(loadPolicies(ns));
    const none = { bps: [] as number[], cps: [] as number[] };
    const loaded = { bps: [] as number[], cps: [] as number[] };
    let applyMs = 0;
    let checked = false;
    for (let round = 0; round < ROUNDS; round++) {
      none.bps.push(await iperf(exec, { serverNs, clientNs, ip: serverIP, seconds: 3, port: 5201 }));
      none.cps.push(await connRate(exec, clientNs, serverIP, 3000));
      const t0 = Date.now();
      await client.apply(load);
      const at = await waitEnforced(client, await client.store.revision());
      applyMs = Math.max(...at) - t0;
      if (!checked) {
        // The rules are really in the path: client → server allowed, other → server refused.
        const m = JSON.parse(weft(['probe', '--lab', 'bpt', '-n', ns, '-o', 'json'])) as {
          results: Array<{ from: string; to: string; connected: boolean }>;
        };
        const verdict = (from: string) =>
          m.results.find((r) => r.from === `${ns}/${from}` && r.to === `${ns}/server`)!.connected;
        if (!verdict('client') || verdict('other'))
          throw new Error(
            `policies not in effect: client→server ${verdict('client')}, other→server ${verdict('other')}`,
          );
        checked = true;
      }
      loaded.bps.push(await iperf(exec, { serverNs, clientNs, ip: serverIP, seconds: 3, port: 5201 }));
      loaded.cps.push(await connRate(exec, clientNs, serverIP, 3000));
      await client.delete(load, false);
      await waitEnforced(client, await client.store.revision());
    }
    const bpsRatio = median(loaded.bps) / median(none.bps);
    const cpsRatio = median(loaded.cps) / median(none.cps);
    results.traffic = {
      policies: 1000,
      addresses: 10_000,
      rounds: ROUNDS,
      noneBitsPerSec: none.bps,
      loadedBitsPerSec: loaded.bps,
      noneConnPerSec: none.cps,
      loadedConnPerSec: loaded.cps,
      throughputRatio: bpsRatio,
      connRatio: cpsRatio,
      applyToEnforcedMs: applyMs,
      targets: { throughput: 0.95, connections: 0.9 },
    };
    rows.push({
      what: 'TCP throughput, 1k policies/10k addrs',
      weft: `${(median(loaded.bps) / 1e9).toFixed(2)} Gbit/s`,
      baseline: `${(median(none.bps) / 1e9).toFixed(2)} Gbit/s no policy`,
      ratio: bpsRatio.toFixed(3),
      note: `target >= 0.95: ${bpsRatio >= 0.95 ? 'met' : 'NOT met'}`,
    });
    rows.push({
      what: 'new TCP conn/s, 1k policies/10k addrs',
      weft: `${median(loaded.cps).toFixed(0)} /s`,
      baseline: `${median(none.cps).toFixed(0)} /s no policy`,
      ratio: cpsRatio.toFixed(3),
      note: `target >= 0.90: ${cpsRatio >= 0.9 ? 'met' : 'NOT met'}`,
    });
    rows.push({
      what: '1,000 policies applied → enforced',
      weft: `${(applyMs / 1000).toFixed(2)} s`,
      baseline: '',
      ratio: '',
      note: 'last round, both nodes',
    });
  } finally {
    await client.close();
    weft(['lab', 'down', '--name', 'bpt']);
  }
}

// ---------------------------------------------------------------------------------------------
// Apply-to-enforcement latency on 10 nodes.

async function enforce(): Promise<void> {
  const NODES = Number(process.env.WEFT_BENCH_POLICY_NODES ?? 10);
  const TRIALS = 200;
  weft(['lab', 'up', '--name', 'bpe', '--nodes', String(NODES)]);
  const docs = [`apiVersion: v1\nkind: Namespace\nmetadata: { name: e }\n`];
  for (let i = 0; i < NODES * 2; i++)
    docs.push(
      `apiVersion: v1\nkind: Pod\nmetadata: { name: p${i}, namespace: e, labels: { app: a${i % 2} } }\nspec: { nodeName: n${(i % NODES) + 1}, containers: [{ name: s, ports: [{ containerPort: 80 }] }] }\n`,
    );
  weft(['apply', '--lab', 'bpe', '-f', '-'], docs.join('---\n'));
  const client = LabClient.open(root, 'bpe', exec);
  try {
    const policy = located(
      `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: deny-in, namespace: e }\nspec: { podSelector: {}, policyTypes: [Ingress] }\n`,
    );
    await waitEnforced(client, await client.store.revision());
    const lastNode: number[] = [];
    const everyNode: number[] = [];
    const commitMs: number[] = [];
    for (let t = 0; t < TRIALS; t++) {
      const t0 = Date.now();
      if (t % 2 === 0) await client.apply(policy);
      else await client.delete(policy, false);
      commitMs.push(Date.now() - t0);
      const at = await waitEnforced(client, await client.store.revision());
      lastNode.push(Math.max(...at) - t0);
      for (const a of at) everyNode.push(a - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
    // With the policy in place, traffic between pods of e is really refused (self excepted).
    await client.apply(policy);
    await waitEnforced(client, await client.store.revision());
    const m = JSON.parse(weft(['probe', '--lab', 'bpe', '-n', 'e', '-o', 'json'])) as {
      results: Array<{ from: string; to: string; connected: boolean }>;
    };
    const leaks = m.results.filter((r) => r.connected && r.from !== r.to);
    if (leaks.length > 0)
      throw new Error(
        `deny-in applied but ${leaks.length} pairs still connect, e.g. ${leaks[0]!.from} → ${leaks[0]!.to}`,
      );
    const med = median(lastNode);
    const p99 = percentile(lastNode, 99);
    results.enforce = {
      nodes: NODES,
      pods: NODES * 2,
      trials: TRIALS,
      lastNodeMs: lastNode,
      medianMs: med,
      p99Ms: p99,
      perNodeMedianMs: median(everyNode),
      perNodeP99Ms: percentile(everyNode, 99),
      commitMs,
      commitMedianMs: median(commitMs),
      commitP99Ms: percentile(commitMs, 99),
      targetP99Ms: 100,
    };
    rows.push({
      what: `apply → enforced on all ${NODES} nodes`,
      weft: `median ${med.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms`,
      baseline: `per node median ${median(everyNode).toFixed(0)} ms`,
      ratio: '',
      note: `${TRIALS} trials; target p99 < 100 ms: ${p99 < 100 ? 'met' : 'NOT met'}`,
    });
  } finally {
    await client.close();
    if (process.env.WEFT_BENCH_LOGS) spawnSync('cp', ['-r', client.paths.logDir, process.env.WEFT_BENCH_LOGS]);
    weft(['lab', 'down', '--name', 'bpe']);
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering for 10,000 pods and 1,000 policies.

async function render(): Promise<void> {
  const { pods, namespaces, policies } = bigCluster();
  const cluster = { namespaces, policies };
  const isLocal = (p: PolicyPod) => p.ip!.startsWith(NODE0_PREFIX);
  const local = pods.filter(isLocal);

  // Baseline, in the same run: the per-(local pod, peer range, port) plan the agent used before
  // (bench/baseline/policy-per-pod.ts), where any pod change re-plans the node.
  let t = performance.now();
  const el = planPolicyElements(cluster, local, pods);
  const basePlanMs = performance.now() - t;
  const baseText = renderPolicyTableText(el);
  const baseElements =
    el.ingressIsolated.length +
    el.egressIsolated.length +
    el.ingressAny.length +
    el.ingressPorts.length +
    el.egressAny.length +
    el.egressPorts.length;

  // Sets shared per selector (src/core/policy/policy-sets.ts).
  const setPods: PolicySetPod[] = pods.map((p) => ({ ...p, local: isLocal(p) }));
  const planMs: number[] = [];
  const renderMs: number[] = [];
  let planner = new PolicySetPlanner();
  let def = policyTableDef(planner.state());
  let text = '';
  for (let i = 0; i < 3; i++) {
    t = performance.now();
    planner = new PolicySetPlanner();
    planner.setPods(setPods);
    planner.setCluster(cluster);
    planMs.push(performance.now() - t);
    t = performance.now();
    def = policyTableDef(planner.state());
    text = planFullRebuild(def).render();
    renderMs.push(performance.now() - t);
  }
  const elements = def.sets.reduce((n, s) => n + s.elements.length, 0);
  const rules = def.chains.reduce((n, c) => n + c.rules.length, 0);
  const empty = planFullRebuild(policyTableDef(new PolicySetPlanner().state())).render();

  const fx = new Netns('weft-bench-pol-');
  let loadMs = 0;
  let baseLoadMs = 0;
  let emptyMs = 0;
  const labelMs: number[] = [];
  const labelOps: number[] = [];
  const session = { nft: undefined as NftSession | undefined };
  try {
    const ns = fx.add('render');
    const dir = fx.tmpDir('render');
    writeFileSync(join(dir, 'empty.nft'), empty);
    writeFileSync(join(dir, 'base.nft'), baseText);
    writeFileSync(join(dir, 'full.nft'), text);
    const load = async (file: string) => {
      const t0 = performance.now();
      await exec.run({ argv: ['nft', '-f', join(dir, file)], netns: fx.path(ns), timeoutMs: 120_000 });
      return performance.now() - t0;
    };
    emptyMs = await load('empty.nft');
    baseLoadMs = await load('base.nft');
    loadMs = await load('full.nft');

    // One pod label change → the node's table updated: the planner moves that pod only, the
    // sync sends the element differences in one transaction (through nft -i, as the agent does).
    session.nft = new NftSession(exec, { netns: fx.path(ns) });
    const sync = new PolicyTableSync({
      nft: session.nft,
      context: 'bench: weft-policy',
      clock: { now: () => Date.now() },
    });
    const renderer = new PolicyTableRenderer();
    await sync.apply(renderer.def(planner.state()));
    const remote = setPods.find((p) => p.namespace === 'ns1' && p.name === 'p1')!; // tier=api: a peer of ns0..ns9's team-web sets
    const mine = setPods.find((p) => p.namespace === 'ns0' && p.name === 'p0')!; // local: its group changes
    const TRIALS = 40;
    for (let i = 0; i < TRIALS; i++) {
      const pod = i % 2 === 0 ? remote : mine;
      const flip = Math.floor(i / 2) % 2 === 0;
      const labels =
        pod === remote ? { ...pod.labels, tier: flip ? 'web' : 'api' } : { ...pod.labels, app: flip ? 'a5' : 'a0' };
      const t0 = performance.now();
      planner.upsertPod({ ...pod, labels });
      const r = await sync.apply(renderer.def(planner.state()));
      labelMs.push(performance.now() - t0);
      labelOps.push(r.ops);
    }
    // The last change is in the kernel: ns1/p1 is back to tier=api, a member of its peer set again.
    const listed = await exec.run({ argv: ['nft', '-j', 'list', 'table', 'inet', 'weft-policy'], netns: fx.path(ns) });
    if (!listed.stdout.includes(remote.ip!))
      throw new Error(`the label change of ${remote.namespace}/${remote.name} is not in the kernel`);
  } finally {
    session.nft?.close();
    fx.cleanup();
  }
  results.render = {
    pods: pods.length,
    policies: policies.length,
    localPods: local.length,
    planMs,
    renderMs,
    elements,
    sets: def.sets.length,
    chains: def.chains.length,
    rules,
    bytes: Buffer.byteLength(text),
    nftLoadMs: loadMs,
    nftLoadEmptyMs: emptyMs,
    labelChangeMs: labelMs,
    labelChangeMedianMs: median(labelMs),
    labelChangeP99Ms: percentile(labelMs, 99),
    labelChangeOps: labelOps,
    baseline: {
      what: 'per (local pod, peer range, port) elements (bench/baseline/policy-per-pod.ts), the agent before',
      planMs: basePlanMs,
      elements: baseElements,
      bytes: Buffer.byteLength(baseText),
      nftLoadMs: baseLoadMs,
      labelChangeMs: basePlanMs,
    },
    targets: { elements: 30_000, nftLoadMs: 500, labelChangeMs: 50 },
  };
  rows.push({
    what: 'set elements, 10k pods/1k policies',
    weft: `${elements}`,
    baseline: `${baseElements} per-pod plan`,
    ratio: (elements / baseElements).toFixed(3),
    note: `target <= 30,000: ${elements <= 30_000 ? 'met' : 'NOT met'}; ${def.sets.length} sets, ${def.chains.length} chains, ${rules} rules`,
  });
  rows.push({
    what: 'plan 1 node from scratch',
    weft: `${median(planMs).toFixed(0)} ms`,
    baseline: `${basePlanMs.toFixed(0)} ms per-pod plan`,
    ratio: (median(planMs) / basePlanMs).toFixed(3),
    note: `${local.length} local pods; render ${median(renderMs).toFixed(0)} ms, ${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB`,
  });
  rows.push({
    what: 'nft -f of the full table',
    weft: `${loadMs.toFixed(0)} ms`,
    baseline: `${baseLoadMs.toFixed(0)} ms per-pod plan`,
    ratio: (loadMs / baseLoadMs).toFixed(3),
    note: `target <= 500 ms: ${loadMs <= 500 ? 'met' : 'NOT met'}; empty skeleton ${emptyMs.toFixed(0)} ms`,
  });
  rows.push({
    what: 'one pod label change → table updated',
    weft: `median ${median(labelMs).toFixed(1)} ms, p99 ${percentile(labelMs, 99).toFixed(1)} ms`,
    baseline: `${basePlanMs.toFixed(0)} ms re-plan (per-pod plan, before nft)`,
    ratio: (median(labelMs) / basePlanMs).toFixed(4),
    note: `${labelMs.length} changes (remote and local pods), plan + nft -i transaction; target <= 50 ms: ${percentile(labelMs, 99) <= 50 ? 'met' : 'NOT met'}`,
  });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/policy: run as root');
  if (PARTS.has('render')) await render();
  if (PARTS.has('enforce')) await enforce();
  if (PARTS.has('traffic')) await traffic();
  carryParts('policy', ['render', 'enforce', 'traffic'], (k) => PARTS.has(k), results);
  report('policy', rows, results, [40, 30, 30, 8]);
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  })
  .finally(() => {
    teardown(LABS);
  });
