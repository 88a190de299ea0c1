/**
 * Benchmark of the pod guard (issue 16: anti-spoofing and fail-closed pod start), each figure
 * beside a baseline of the same run, on a 2-node lab (vxlan) with `server` on n1 and `client` on n2:
 * - traffic: pod-to-pod TCP throughput (iperf3) and new connections per second, with the guard
 *   table (bridge weft-guard) on both nodes against the same lab with the table removed; rounds
 *   alternate which side goes first, each figure is the median of its rounds. The table is put back from its own listing.
 * - pod start: the time from storing a new pod on n1 until `client` first completes a TCP
 *   connection to it (tries every ~20 ms from inside client's namespace), with the fail-closed
 *   start (WEFT_AWAIT_POLICY in n1's subnet.env: the pod waits in the pending set until n1's
 *   agent has programmed its policy) against the same lab with that line removed from n1's
 *   subnet.env (the pod is reachable as soon as it is wired); trials alternate; p50 and p99.
 *   A NetworkPolicy that admits only `client` selects every new pod, so the agent has real
 *   rules to program for each.
 * Prints a table and writes bench/results/guard.json. Not a test: it asserts nothing about time.
 *
 * Run: npm run bench (as root), or node dist/bench/guard.js with WEFT_BENCH_GUARD=traffic,start
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { benchLabs } from './bench-labs.js';
import { report, type BenchRow } from './report.js';
import { connRate, iperf } from './pod-traffic.js';
import { NodeExec } from '../src/adapters/exec.js';
import { parseManifestLocated } from '../src/core/k8s/parse.js';
import { LabClient } from '../src/lab/client.js';
import { LabPaths } from '../src/lab/lab-state.js';
import { subnetEnvPath } from '../src/agent/cni-files.js';

const PARTS = new Set((process.env.WEFT_BENCH_GUARD ?? 'traffic,start').split(','));
const CONNECT_UNTIL = fileURLToPath(new URL('./connect-until.js', import.meta.url));
const LAB = 'bgd';
const NS = 'bench';
const ROUNDS = 7;
const TRIALS = Number(process.env.WEFT_BENCH_GUARD_TRIALS ?? 100);
const { root, weft, teardown } = benchLabs('guard');
const exec = new NodeExec();
const rows: BenchRow[] = [];
const results: Record<string, unknown> = { date: new Date().toISOString() };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pod = (name: string, node: string, app: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS}, labels: { app: ${app} } }\n` +
  `spec: { nodeName: ${node}, containers: [{ name: s, ports: [{ containerPort: 80 }, { containerPort: 5201 }] }] }\n`;

function nodeNs(client: LabClient, node: string): string {
  return client.record.nodes.find((n) => n.name === node)!.ns;
}

function nft(ns: string, args: string[], input?: string): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', ...args], { input: input ?? '', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nft ${args.join(' ')} in ${ns}: ${r.stderr}`);
  return r.stdout;
}

async function traffic(client: LabClient, serverIP: string, serverNs: string, clientNs: string): Promise<void> {
  const nodes = ['n1', 'n2'].map((n) => nodeNs(client, n));
  const saved = nodes.map((ns) => nft(ns, ['list', 'table', 'bridge', 'weft-guard']));
  if (saved.some((t) => !t.includes('jump from-pod'))) throw new Error('the guard table is not on both nodes');
  const on = { bps: [] as number[], cps: [] as number[] };
  const off = { bps: [] as number[], cps: [] as number[] };
  try {
    const measure = async (into: typeof on) => {
      into.bps.push(await iperf(exec, { serverNs, clientNs, ip: serverIP, seconds: 3, port: 5202 }));
      into.cps.push(await connRate(exec, clientNs, serverIP, 3000));
    };
    const without = async () => {
      for (const ns of nodes) nft(ns, ['delete', 'table', 'bridge', 'weft-guard']);
      try {
        await measure(off);
      } finally {
        nodes.forEach((ns, i) => nft(ns, ['-f', '-'], saved[i]));
      }
    };
    // The order alternates between rounds, so neither side always runs on a warmer machine.
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        await measure(on);
        await without();
      } else {
        await without();
        await measure(on);
      }
    }
  } finally {
    for (const [i, ns] of nodes.entries())
      if (!nft(ns, ['list', 'tables']).includes('bridge weft-guard')) nft(ns, ['-f', '-'], saved[i]);
  }
  const bps = median(on.bps) / median(off.bps);
  const cps = median(on.cps) / median(off.cps);
  results.traffic = {
    rounds: ROUNDS,
    guardBitsPerSec: on.bps,
    noGuardBitsPerSec: off.bps,
    guardConnPerSec: on.cps,
    noGuardConnPerSec: off.cps,
    throughputRatio: bps,
    connRatio: cps,
    target: 0.98,
  };
  rows.push({
    what: 'TCP throughput, pod guard on both ends',
    weft: `${(median(on.bps) / 1e9).toFixed(2)} Gbit/s`,
    baseline: `${(median(off.bps) / 1e9).toFixed(2)} Gbit/s no guard`,
    ratio: bps.toFixed(3),
    note: `target >= 0.98: ${bps >= 0.98 ? 'met' : 'NOT met'}`,
  });
  rows.push({
    what: 'new TCP conn/s, pod guard on both ends',
    weft: `${median(on.cps).toFixed(0)} /s`,
    baseline: `${median(off.cps).toFixed(0)} /s no guard`,
    ratio: cps.toFixed(3),
    note: `target >= 0.98: ${cps >= 0.98 ? 'met' : 'NOT met'}`,
  });
}

async function podStart(client: LabClient, clientNs: string): Promise<void> {
  const subnetEnv = subnetEnvPath(new LabPaths(root, LAB).runDir('n1'));
  const original = readFileSync(subnetEnv, 'utf8');
  if (!/^WEFT_AWAIT_POLICY=true$/m.test(original)) throw new Error(`${subnetEnv} does not say WEFT_AWAIT_POLICY=true`);
  const helper = spawn('nsenter', [`--net=${clientNs}`, '--', process.execPath, CONNECT_UNTIL], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const answers = createInterface({ input: helper.stdout })[Symbol.asyncIterator]();
  const times = { await: [] as number[], open: [] as number[] };
  try {
    for (let i = 0; i < 2 * TRIALS; i++) {
      const mode = i % 2 === 0 ? 'await' : 'open';
      writeFileSync(subnetEnv, mode === 'await' ? original : original.replace(/^WEFT_AWAIT_POLICY=true\n/m, ''));
      const name = `p${i}`;
      const objects = parseManifestLocated(pod(name, 'n1', 'target')).map((l) => ({ object: l.object, where: name }));
      const t0 = Date.now();
      await client.apply(objects);
      let ip: string | undefined;
      while (!ip) {
        ip = (await client.pods()).find((p) => p.stored.object.metadata.name === name)?.status?.podIP;
        if (!ip) await sleep(2);
      }
      helper.stdin.write(`${ip} 80\n`);
      const line = await answers.next();
      if (line.done) throw new Error('connect-until ended');
      times[mode].push((JSON.parse(String(line.value)) as { at: number }).at - t0);
      await client.delete(objects, false);
      while ((await client.sandboxes()).some((s) => s.name === name)) await sleep(20);
    }
  } finally {
    writeFileSync(subnetEnv, original);
    helper.kill('SIGKILL');
  }
  const ratio50 = median(times.await) / median(times.open);
  const ratio99 = percentile(times.await, 99) / percentile(times.open, 99);
  results.podStart = {
    trials: TRIALS,
    awaitMs: times.await,
    openMs: times.open,
    p50: { await: median(times.await), open: median(times.open), ratio: ratio50 },
    p99: { await: percentile(times.await, 99), open: percentile(times.open, 99), ratio: ratio99 },
    target: 'at most 10 % slower (ratio <= 1.10)',
  };
  rows.push({
    what: 'pod start to first connection, p50',
    weft: `${median(times.await)} ms fail-closed`,
    baseline: `${median(times.open)} ms open at start`,
    ratio: ratio50.toFixed(3),
    note: `target <= 1.10: ${ratio50 <= 1.1 ? 'met' : 'NOT met'}`,
  });
  rows.push({
    what: 'pod start to first connection, p99',
    weft: `${percentile(times.await, 99)} ms fail-closed`,
    baseline: `${percentile(times.open, 99)} ms open at start`,
    ratio: ratio99.toFixed(3),
    note: `target <= 1.10: ${ratio99 <= 1.1 ? 'met' : 'NOT met'}; ${TRIALS} trials each`,
  });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/guard: run as root');
  weft(['lab', 'up', '--name', LAB, '--nodes', '2']);
  const policy =
    `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: only-client, namespace: ${NS} }\n` +
    'spec:\n  podSelector: { matchLabels: { app: target } }\n  policyTypes: [Ingress]\n' +
    '  ingress: [{ from: [{ podSelector: { matchLabels: { app: client } } }] }]\n';
  weft(
    ['apply', '--lab', LAB, '-f', '-'],
    [
      `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n`,
      pod('server', 'n1', 'server'),
      pod('client', 'n2', 'client'),
      policy,
    ].join('---\n'),
  );
  const client = LabClient.open(root, LAB, exec);
  try {
    let serverIP: string | undefined;
    for (let i = 0; i < 300 && !serverIP; i++) {
      serverIP = (await client.pods()).find((p) => p.stored.object.metadata.name === 'server')?.status?.podIP;
      if (!serverIP) await sleep(100);
    }
    if (!serverIP) throw new Error('the server pod has no IP');
    const serverNs = await client.podNetnsPath(NS, 'server');
    const clientNs = await client.podNetnsPath(NS, 'client');
    if (PARTS.has('traffic')) await traffic(client, serverIP, serverNs, clientNs);
    if (PARTS.has('start')) await podStart(client, clientNs);
  } finally {
    await client.close();
  }
  // A run of one part keeps the figures of the other from the last results file, saying so.
  const file = fileURLToPath(new URL('../../bench/results/guard.json', import.meta.url));
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const carried: Record<string, unknown> = {};
  for (const [part, key] of [
    ['traffic', 'traffic'],
    ['start', 'podStart'],
  ] as const) {
    if (PARTS.has(part) || previous[key] === undefined) continue;
    results[key] = previous[key];
    carried[key] = (previous.carried as Record<string, unknown> | undefined)?.[key] ?? previous.date;
  }
  if (Object.keys(carried).length > 0) results.carried = carried;
  report('guard', rows, results, [40, 28, 30, 8]);
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  })
  .finally(() => {
    teardown([LAB]);
  });
