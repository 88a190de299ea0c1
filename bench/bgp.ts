/**
 * Benchmark of the bgp backend (issue 14), each figure beside a baseline measured in the same run
 * on the same lab, pod `server` on n1 and pod `client` on n2:
 * - same segment (bgp, full mesh, one segment): pod-to-pod TCP throughput (iperf3) against the raw
 *   underlay between the two nodes (iperf3 from n2's namespace to n1's eth0 address);
 * - across the router (bgp, `--segments 2 --bgp-peer router`, n1 on 10.99.0.0/24 and n2 on
 *   10.99.1.0/24): pod-to-pod throughput against raw routed forwarding between the segments: the
 *   same nodes talking over the same path (a host route via the router's leg on each side, added
 *   for the baseline and removed after), so both cross n1's veth, the router and n2's veth;
 * - vxlan with DirectRouting on the same two segments (the peer behind the router is reached
 *   through VXLAN: direct routes serve a node's own segment only), against the same baseline;
 * - new TCP connections per second between the pods (the lab's own servers answer them), per lab.
 * Rounds alternate which side goes first; each figure is the median of its rounds.
 * Prints a table and writes bench/results/bgp.json. Not a test: it asserts nothing about time.
 *
 * Run (as root): node dist/bench/bgp.js   (labs bgbm and bgbr under a temp root)
 */

import { spawnSync } from 'node:child_process';
import { benchLabs } from './bench-labs.js';
import { report, type BenchRow } from './report.js';
import { connRate, iperf, tcpRoundTrips } from './pod-traffic.js';
import { NodeExec } from '../src/adapters/exec.js';
import { LabClient } from '../src/lab/client.js';
import { NETNS_RUN_DIR } from '../src/adapters/netns.js';

const NS = 'bench';
const ROUNDS = Number(process.env.WEFT_BENCH_BGP_ROUNDS ?? 5);
const { root, weft, teardown } = benchLabs('bgp');
const exec = new NodeExec();
const rows: BenchRow[] = [];
const results: Record<string, unknown> = { date: new Date().toISOString() };
const labs: string[] = [];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const gbit = (bps: number) => `${(bps / 1e9).toFixed(2)} Gbit/s`;

const pod = (name: string, node: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS} }\n` +
  `spec: { nodeName: ${node}, containers: [{ name: s, ports: [{ containerPort: 80 }] }] }\n`;

function ip(ns: string, args: string[]): void {
  const r = spawnSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip -n ${ns} ${args.join(' ')}: ${r.stderr}`);
}

interface Setup {
  lab: string;
  /** The backend (default bgp). */
  backend?: 'bgp' | 'vxlan';
  args: string[];
  what: string;
  baseline: string;
  /** Routes the baseline needs on [n1, n2] (added for it, removed after), e.g. via the router. */
  baselineRoutes?: [string[], string[]];
  target?: number;
}

async function measure(s: Setup): Promise<void> {
  labs.push(s.lab);
  weft([
    'lab',
    'up',
    '--name',
    s.lab,
    '--backend',
    s.backend ?? 'bgp',
    '--nodes',
    '2',
    '--dns-replicas',
    '0',
    ...s.args,
  ]);
  weft(
    ['apply', '--lab', s.lab, '-f', '-'],
    [`apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n`, pod('server', 'n1'), pod('client', 'n2')].join(
      '---\n',
    ),
  );
  const client = LabClient.open(root, s.lab, exec);
  try {
    let serverIP: string | undefined;
    for (let i = 0; i < 300 && !serverIP; i++) {
      serverIP = (await client.pods()).find((p) => p.stored.object.metadata.name === 'server')?.status?.podIP;
      if (!serverIP) await sleep(100);
    }
    if (!serverIP) throw new Error(`${s.lab}: the server pod has no IP`);
    const serverNs = await client.podNetnsPath(NS, 'server');
    const clientNs = await client.podNetnsPath(NS, 'client');
    const [n1, n2] = ['n1', 'n2'].map((n) => client.record.nodes.find((x) => x.name === n)!);
    const nsPath = (ns: string) => `${NETNS_RUN_DIR}/${ns}`;
    // Until the sessions are up, the pods cannot reach each other.
    for (let i = 0; i < 100; i++) {
      try {
        await connRate(exec, clientNs, serverIP, 200);
        break;
      } catch {
        await sleep(100);
      }
    }
    const pods = { bps: [] as number[], cps: [] as number[], rr: [] as number[] };
    const raw: number[] = [];
    const rawRr: number[] = [];
    const podRound = async () => {
      pods.bps.push(await iperf(exec, { serverNs, clientNs, ip: serverIP, seconds: 3, port: 5202 }));
      pods.cps.push(await connRate(exec, clientNs, serverIP, 2000));
      pods.rr.push(await tcpRoundTrips(exec, { serverNs, clientNs, ip: serverIP, ms: 2000 }));
    };
    const rawRound = async () => {
      const [r1, r2] = s.baselineRoutes ?? [[], []];
      if (r1.length) ip(n1!.ns, ['route', 'add', ...r1]);
      if (r2.length) ip(n2!.ns, ['route', 'add', ...r2]);
      try {
        raw.push(
          await iperf(exec, { serverNs: nsPath(n1!.ns), clientNs: nsPath(n2!.ns), ip: n1!.ip, seconds: 3, port: 5203 }),
        );
        rawRr.push(
          await tcpRoundTrips(exec, { serverNs: nsPath(n1!.ns), clientNs: nsPath(n2!.ns), ip: n1!.ip, ms: 2000 }),
        );
      } finally {
        if (r1.length) ip(n1!.ns, ['route', 'del', ...r1]);
        if (r2.length) ip(n2!.ns, ['route', 'del', ...r2]);
      }
    };
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        await podRound();
        await rawRound();
      } else {
        await rawRound();
        await podRound();
      }
    }
    const ratio = median(pods.bps) / median(raw);
    results[s.lab] = {
      lab: `${s.what}: ${s.args.join(' ') || 'one segment, full mesh'}`,
      rounds: ROUNDS,
      podBitsPerSec: pods.bps,
      rawBitsPerSec: raw,
      podConnPerSec: pods.cps,
      podRoundTripsPerSec: pods.rr,
      rawRoundTripsPerSec: rawRr,
      throughputRatio: ratio,
      ...(s.target ? { target: s.target } : {}),
    };
    rows.push({
      what: `TCP throughput, pod to pod, ${s.what}`,
      weft: gbit(median(pods.bps)),
      baseline: `${gbit(median(raw))} ${s.baseline}`,
      ratio: ratio.toFixed(3),
      note: s.target ? `target >= ${s.target}: ${ratio >= s.target ? 'met' : 'NOT met'}` : '',
    });
    rows.push({
      what: `TCP round trips/s, pod to pod, ${s.what}`,
      weft: `${median(pods.rr).toFixed(0)} /s`,
      baseline: `${median(rawRr).toFixed(0)} /s ${s.baseline}`,
      ratio: (median(pods.rr) / median(rawRr)).toFixed(3),
      note: 'one connection, one byte each way (bench/tcp-rr.ts)',
    });
    rows.push({
      what: `new TCP conn/s, pod to pod, ${s.what}`,
      weft: `${median(pods.cps).toFixed(0)} /s`,
      baseline: '-',
      ratio: '-',
      note: "the lab's pod servers answer (16 in flight)",
    });
  } finally {
    await client.close();
  }
  weft(['lab', 'down', '--name', s.lab]);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/bgp: run as root');
  await measure({ lab: 'bgbm', args: [], what: 'bgp same segment', baseline: 'raw underlay node to node' });
  await measure({
    lab: 'bgbr',
    args: ['--segments', '2', '--bgp-peer', 'router'],
    what: 'bgp across the router',
    baseline: 'raw routed, node to node via the router',
    // The nodes' default route goes through their segment's gateway; the baseline takes the
    // pods' path instead: straight to the router's leg on each side.
    baselineRoutes: [
      ['10.99.1.2/32', 'via', '10.99.0.253'],
      ['10.99.0.1/32', 'via', '10.99.1.253'],
    ],
    target: 0.95,
  });
  // The same path with vxlan's DirectRouting: a peer behind the router is not on the node's
  // segment, so it is reached through the VXLAN device (direct routes serve the segment only).
  await measure({
    lab: 'bgdr',
    backend: 'vxlan',
    args: ['--segments', '2', '--direct-routing'],
    what: 'vxlan DirectRouting across the router',
    baseline: 'raw routed, node to node via the router',
    baselineRoutes: [
      ['10.99.1.2/32', 'via', '10.99.0.253'],
      ['10.99.0.1/32', 'via', '10.99.1.253'],
    ],
  });
  report('bgp', rows, results, [50, 14, 52, 8]);
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  })
  .finally(() => {
    teardown(labs);
  });
