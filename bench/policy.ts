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
 * - rendering: planning and rendering one node's table for a cluster of 10,000 pods (100 on the
 *   node) and 1,000 policies; the size of the ruleset; and loading it with `nft -f` into a
 *   scratch namespace, against loading the same table with empty sets.
 * Prints a table and writes bench/results/policy.json. Not a test: it asserts nothing about time.
 *
 * Run: npm run bench   (as root), or node dist/bench/policy.js with
 *      WEFT_BENCH_POLICY=render,enforce,traffic (default all)
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { report, type BenchRow } from './report.js';
import { NodeExec } from '../src/adapters/exec.js';
import { parseManifest, parseManifestLocated } from '../src/core/k8s/parse.js';
import type { NetworkPolicy, Pod } from '../src/core/k8s/objects.js';
import type { PolicyPod } from '../src/core/policy/evaluate.js';
import { planPolicyElements, renderPolicyTable } from '../src/core/policy/nft-plan.js';
import { LabClient } from '../src/lab/client.js';
import { readPolicyApplied } from '../src/agent/node-status.js';
import { Netns } from '../test/support/netns.js';

const PARTS = new Set((process.env.WEFT_BENCH_POLICY ?? 'render,enforce,traffic').split(','));
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const CONN_RATE = fileURLToPath(new URL('./conn-rate.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'weft-bench-policy-'));
const env = { ...process.env, WEFT_LAB_ROOT: root };
const exec = new NodeExec();
const LABS = ['bpt', 'bpe'];

const rows: BenchRow[] = [];
const results: Record<string, unknown> = { date: new Date().toISOString() };

function weft(args: string[], input?: string): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, input: input ?? '', encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`weft ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
/** Nearest-rank percentile. */
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)]!;

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
    if (Date.now() > deadline) throw new Error(`revision ${revision} not enforced on every node after ${timeoutMs} ms: ${JSON.stringify(states)}`);
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
  const ports = [{ protocol: 'TCP', port: 80 }, { protocol: 'TCP', port: 5201 }];
  const policy = (name: string, spec: Record<string, unknown>) => JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec });
  for (let i = 0; i < 499; i++) docs.push(policy(`in-${i}`, { podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Ingress'], ingress: [{ from: blocks(), ports }] }));
  for (let i = 0; i < 499; i++) docs.push(policy(`out-${i}`, { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ to: blocks(), ports }] }));
  docs.push(policy('allow-client-in', { podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }, ...blocks()], ports }] }));
  docs.push(policy('allow-server-out', { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'server' } } }, ...blocks()], ports }] }));
  if (addr !== 10_000 || docs.length !== 1000) throw new Error(`policy load is ${docs.length} policies, ${addr} addresses`);
  return docs.join('\n---\n');
}

async function iperf(serverNs: string, clientNs: string, ip: string, seconds: number): Promise<number> {
  const server = spawn('nsenter', [`--net=${serverNs}`, '--', 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const r = await exec.run({ argv: ['iperf3', '-c', ip, '-p', '5201', '-t', String(seconds), '-J'], netns: clientNs, timeoutMs: (seconds + 20) * 1000 });
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second;
  } finally {
    server.kill('SIGKILL');
  }
}

async function connRate(clientNs: string, ip: string, ms: number): Promise<number> {
  const r = await exec.run({ argv: [process.execPath, CONN_RATE, ip, '80', String(ms), '16'], netns: clientNs, timeoutMs: ms + 30_000 });
  const j = JSON.parse(r.stdout) as { connections: number; errors: number; ms: number };
  if (j.errors > 0) throw new Error(`conn-rate: ${j.errors} of ${j.connections + j.errors} connections failed`);
  return (j.connections / j.ms) * 1000;
}

/** Rounds of (no policy, 1,000 policies) measurements; each figure is the median of its rounds. */
const ROUNDS = 5;

async function traffic(): Promise<void> {
  weft(['lab', 'up', '--name', 'bpt', '--nodes', '2']);
  const ns = 'bench';
  const pod = (name: string, node: string, app: string) =>
    `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${ns}, labels: { app: ${app} } }\nspec: { nodeName: ${node}, containers: [{ name: s, ports: [{ containerPort: 80 }] }] }\n`;
  weft(['apply', '--lab', 'bpt', '-f', '-'], [`apiVersion: v1\nkind: Namespace\nmetadata: { name: ${ns} }\n`, pod('server', 'n1', 'server'), pod('client', 'n2', 'client'), pod('other', 'n2', 'other')].join('---\n'));
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
      none.bps.push(await iperf(serverNs, clientNs, serverIP, 3));
      none.cps.push(await connRate(clientNs, serverIP, 3000));
      const t0 = Date.now();
      await client.apply(load);
      const at = await waitEnforced(client, await client.store.revision());
      applyMs = Math.max(...at) - t0;
      if (!checked) {
        // The rules are really in the path: client → server allowed, other → server refused.
        const m = JSON.parse(weft(['probe', '--lab', 'bpt', '-n', ns, '-o', 'json'])) as { results: Array<{ from: string; to: string; connected: boolean }> };
        const verdict = (from: string) => m.results.find((r) => r.from === `${ns}/${from}` && r.to === `${ns}/server`)!.connected;
        if (!verdict('client') || verdict('other')) throw new Error(`policies not in effect: client→server ${verdict('client')}, other→server ${verdict('other')}`);
        checked = true;
      }
      loaded.bps.push(await iperf(serverNs, clientNs, serverIP, 3));
      loaded.cps.push(await connRate(clientNs, serverIP, 3000));
      await client.delete(load, false);
      await waitEnforced(client, await client.store.revision());
    }
    const bpsRatio = median(loaded.bps) / median(none.bps);
    const cpsRatio = median(loaded.cps) / median(none.cps);
    results.traffic = { policies: 1000, addresses: 10_000, rounds: ROUNDS, noneBitsPerSec: none.bps, loadedBitsPerSec: loaded.bps, noneConnPerSec: none.cps, loadedConnPerSec: loaded.cps, throughputRatio: bpsRatio, connRatio: cpsRatio, applyToEnforcedMs: applyMs, targets: { throughput: 0.95, connections: 0.9 } };
    rows.push({ what: 'TCP throughput, 1k policies/10k addrs', weft: `${(median(loaded.bps) / 1e9).toFixed(2)} Gbit/s`, baseline: `${(median(none.bps) / 1e9).toFixed(2)} Gbit/s no policy`, ratio: bpsRatio.toFixed(3), note: `target >= 0.95: ${bpsRatio >= 0.95 ? 'met' : 'NOT met'}` });
    rows.push({ what: 'new TCP conn/s, 1k policies/10k addrs', weft: `${median(loaded.cps).toFixed(0)} /s`, baseline: `${median(none.cps).toFixed(0)} /s no policy`, ratio: cpsRatio.toFixed(3), note: `target >= 0.90: ${cpsRatio >= 0.9 ? 'met' : 'NOT met'}` });
    rows.push({ what: '1,000 policies applied → enforced', weft: `${(applyMs / 1000).toFixed(2)} s`, baseline: '', ratio: '', note: 'last round, both nodes' });
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
  for (let i = 0; i < NODES * 2; i++) docs.push(`apiVersion: v1\nkind: Pod\nmetadata: { name: p${i}, namespace: e, labels: { app: a${i % 2} } }\nspec: { nodeName: n${(i % NODES) + 1}, containers: [{ name: s, ports: [{ containerPort: 80 }] }] }\n`);
  weft(['apply', '--lab', 'bpe', '-f', '-'], docs.join('---\n'));
  const client = LabClient.open(root, 'bpe', exec);
  try {
    const policy = located(`apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: deny-in, namespace: e }\nspec: { podSelector: {}, policyTypes: [Ingress] }\n`);
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
    const m = JSON.parse(weft(['probe', '--lab', 'bpe', '-n', 'e', '-o', 'json'])) as { results: Array<{ from: string; to: string; connected: boolean }> };
    const leaks = m.results.filter((r) => r.connected && r.from !== r.to);
    if (leaks.length > 0) throw new Error(`deny-in applied but ${leaks.length} pairs still connect, e.g. ${leaks[0]!.from} → ${leaks[0]!.to}`);
    const med = median(lastNode);
    const p99 = percentile(lastNode, 99);
    results.enforce = { nodes: NODES, pods: NODES * 2, trials: TRIALS, lastNodeMs: lastNode, medianMs: med, p99Ms: p99, perNodeMedianMs: median(everyNode), perNodeP99Ms: percentile(everyNode, 99), commitMs, commitMedianMs: median(commitMs), commitP99Ms: percentile(commitMs, 99), targetP99Ms: 100 };
    rows.push({ what: `apply → enforced on all ${NODES} nodes`, weft: `median ${med.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms`, baseline: `per node median ${median(everyNode).toFixed(0)} ms`, ratio: '', note: `${TRIALS} trials; target p99 < 100 ms: ${p99 < 100 ? 'met' : 'NOT met'}` });
  } finally {
    await client.close();
    if (process.env.WEFT_BENCH_LOGS) spawnSync('cp', ['-r', client.paths.logDir, process.env.WEFT_BENCH_LOGS]);
    weft(['lab', 'down', '--name', 'bpe']);
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering for 10,000 pods and 1,000 policies.

function bigCluster(): { pods: PolicyPod[]; namespaces: Map<string, Record<string, string>>; policies: NetworkPolicy[] } {
  const NAMESPACES = 100;
  const PER_NS = 100;
  const NODES = 100;
  const namespaces = new Map<string, Record<string, string>>();
  const pods: PolicyPod[] = [];
  const perNode = new Array<number>(NODES).fill(0);
  const tiers = ['web', 'api', 'db'];
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns${n}`;
    namespaces.set(ns, { 'kubernetes.io/metadata.name': ns, team: `t${n % 10}`, env: n % 2 === 0 ? 'prod' : 'dev' });
    for (let j = 0; j < PER_NS; j++) {
      const node = (n * PER_NS + j) % NODES;
      const host = ++perNode[node]!;
      const pod = parseManifest(`apiVersion: v1\nkind: Pod\nmetadata: { name: p${j}, namespace: ${ns}, labels: { app: a${j % 10}, tier: ${tiers[j % 3]} } }\nspec: { containers: [{ name: s, ports: [{ containerPort: 80, name: http }, { containerPort: 9090, name: metrics }, { containerPort: 53, protocol: UDP, name: dns }] }] }\n`)[0] as Pod;
      pods.push({ namespace: ns, name: `p${j}`, labels: pod.metadata.labels, ip: `10.${244 + (node >> 8)}.${node & 255}.${host + 1}`, ports: pod.spec.containers.flatMap((c) => c.ports), selectable: true });
    }
  }
  const texts: string[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns${n}`;
    const p = (name: string, spec: string) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec: ${spec}\n`;
    texts.push(
      p('default-deny', '{ podSelector: {}, policyTypes: [Ingress, Egress] }'),
      p('same-app', `{ podSelector: { matchLabels: { app: a${n % 10} } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: a${n % 10} } } }] }] }`),
      p('team-web', `{ podSelector: { matchLabels: { tier: web } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: t${n % 10} } }, podSelector: { matchLabels: { tier: api } } }], ports: [{ port: http }] }] }`),
      p('external', `{ podSelector: { matchLabels: { tier: web } }, ingress: [{ from: [{ ipBlock: { cidr: ${100 + (n % 50)}.0.0.0/8, except: [${100 + (n % 50)}.1.0.0/16, ${100 + (n % 50)}.2.0.0/16] } }], ports: [{ port: 80 }, { port: 443 }] }] }`),
      p('prod-egress', '{ podSelector: { matchLabels: { tier: api } }, policyTypes: [Egress], egress: [{ to: [{ namespaceSelector: { matchLabels: { env: prod } } }], ports: [{ port: 8000, endPort: 8100 }] }] }'),
      p('internet-out', '{ podSelector: { matchLabels: { tier: web } }, policyTypes: [Egress], egress: [{ to: [{ ipBlock: { cidr: 0.0.0.0/0, except: [10.0.0.0/8] } }], ports: [{ port: 443 }] }] }'),
      p('expr', '{ podSelector: { matchExpressions: [{ key: tier, operator: In, values: [web, api] }, { key: app, operator: NotIn, values: [a0, a1] }] }, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: tier, operator: Exists }] } }], ports: [{ port: metrics }] }] }'),
      p('monitoring', '{ podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: t0 } } }], ports: [{ port: metrics }] }] }'),
      p('dns-out', '{ podSelector: {}, policyTypes: [Egress], egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: a9 } } }], ports: [{ port: dns, protocol: UDP }, { port: 53, protocol: TCP }] }] }'),
      p('db-in', `{ podSelector: { matchLabels: { tier: db } }, ingress: [{ from: [{ podSelector: { matchLabels: { tier: api } } }, { namespaceSelector: { matchExpressions: [{ key: team, operator: In, values: [t${n % 10}, t${(n + 1) % 10}] }] } }], ports: [{ port: 5432 }] }] }`),
    );
  }
  const policies = parseManifest(texts.join('---\n')) as NetworkPolicy[];
  if (pods.length !== 10_000 || policies.length !== 1000) throw new Error(`cluster is ${pods.length} pods, ${policies.length} policies`);
  return { pods, namespaces, policies };
}

async function render(): Promise<void> {
  const { pods, namespaces, policies } = bigCluster();
  const node = '10.244.0.';
  const local = pods.filter((p) => p.ip!.startsWith(node));
  const cluster = { namespaces, policies };
  const planMs: number[] = [];
  const renderMs: number[] = [];
  let text = '';
  let elements = 0;
  for (let i = 0; i < 3; i++) {
    let t = performance.now();
    const el = planPolicyElements(cluster, local, pods);
    planMs.push(performance.now() - t);
    t = performance.now();
    text = renderPolicyTable(el).render();
    renderMs.push(performance.now() - t);
    elements = el.ingressIsolated.length + el.egressIsolated.length + el.ingressAny.length + el.ingressPorts.length + el.egressAny.length + el.egressPorts.length;
  }
  const empty = renderPolicyTable({ ingressIsolated: [], egressIsolated: [], ingressAny: [], ingressPorts: [], egressAny: [], egressPorts: [] }).render();
  // Load both into a scratch namespace's kernel.
  const fx = new Netns('weft-bench-pol-');
  let loadMs = 0;
  let emptyMs = 0;
  try {
    const ns = fx.add('render');
    const dir = fx.tmpDir('render');
    writeFileSync(join(dir, 'full.nft'), text);
    writeFileSync(join(dir, 'empty.nft'), empty);
    let t = performance.now();
    await exec.run({ argv: ['nft', '-f', join(dir, 'empty.nft')], netns: fx.path(ns) });
    emptyMs = performance.now() - t;
    t = performance.now();
    await exec.run({ argv: ['nft', '-f', join(dir, 'full.nft')], netns: fx.path(ns) });
    loadMs = performance.now() - t;
    const listed = await exec.run({ argv: ['nft', '-j', 'list', 'table', 'inet', 'weft-policy'], netns: fx.path(ns) });
    if (!listed.stdout.includes('ingress-ports')) throw new Error('the rendered table did not load');
  } finally {
    fx.cleanup();
  }
  results.render = { pods: pods.length, policies: policies.length, localPods: local.length, planMs, renderMs, elements, bytes: Buffer.byteLength(text), nftLoadMs: loadMs, nftLoadEmptyMs: emptyMs };
  rows.push({ what: 'plan 1 node, 10k pods/1k policies', weft: `${median(planMs).toFixed(0)} ms`, baseline: '', ratio: '', note: `${local.length} local pods, ${elements} set elements` });
  rows.push({ what: 'render that table', weft: `${median(renderMs).toFixed(0)} ms`, baseline: '', ratio: '', note: `${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB of nft script` });
  rows.push({ what: 'nft -f of that table', weft: `${loadMs.toFixed(0)} ms`, baseline: `${emptyMs.toFixed(0)} ms empty sets`, ratio: `${(loadMs / emptyMs).toFixed(1)}x`, note: 'into a scratch namespace' });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/policy: run as root');
  if (PARTS.has('render')) await render();
  if (PARTS.has('enforce')) await enforce();
  if (PARTS.has('traffic')) await traffic();
  report('policy', rows, results, [40, 30, 30, 8]);
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  })
  .finally(() => {
    for (const name of LABS) spawnSync(process.execPath, [CLI, 'lab', 'down', '--name', name], { env });
    rmSync(root, { recursive: true, force: true });
  });
