/**
 * Benchmark of the backends (issue 14): pod-to-pod traffic across two nodes for each backend, each
 * beside the raw underlay between the same two nodes measured in the same lab, in the same run:
 * - TCP throughput: iperf3, 3 s, from the client pod on n2 to the server pod on n1; baseline:
 *   iperf3 from n2's own namespace to n1's address on the underlay (no pod, no overlay);
 * - TCP round trips per second (netperf's TCP_RR): one connection, one byte each way
 *   (bench/tcp-rr.ts on both ends), pod to pod against node to node;
 * - the agents' CPU time while the pods' iperf3 ran (the udp backend's forwarder lives there; the
 *   kernel backends should cost the agents nothing per packet).
 * Rounds alternate which path goes first; each figure is the median of its rounds. One lab at a
 * time (2 nodes, one segment), taken down before the next.
 * Prints a table and writes bench/results/backends.json. Not a test: it asserts nothing about time.
 *
 * Run: node dist/bench/backends.js (as root, after npm run build);
 *      WEFT_BENCH_BACKENDS=udp,vxlan to choose (default vxlan,host-gw,udp).
 */

import { readFileSync } from 'node:fs';
import { benchLabs } from './bench-labs.js';
import { report, type BenchRow } from './report.js';
import { iperf, tcpRoundTrips } from './pod-traffic.js';
import { NodeExec } from '../src/adapters/exec.js';
import { LabClient } from '../src/lab/client.js';

const BACKENDS = (process.env.WEFT_BENCH_BACKENDS ?? 'vxlan,host-gw,udp').split(',');
const ROUNDS = Number(process.env.WEFT_BENCH_BACKENDS_ROUNDS ?? 3);
const NS = 'bench';
const { root, weft, teardown } = benchLabs('backends');
const exec = new NodeExec();
const rows: BenchRow[] = [];
const results: Record<string, unknown> = { date: new Date().toISOString(), rounds: ROUNDS, backends: {} };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const labName = (backend: string) => `bbk${backend.replace(/[^a-z]/g, '')}`;

const pod = (name: string, node: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS} }\n` +
  `spec: { nodeName: ${node}, containers: [{ name: s, ports: [{ containerPort: 80 }] }] }\n`;

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Path {
  serverNs: string;
  clientNs: string;
  ip: string;
}

async function measure(backend: string): Promise<void> {
  const lab = labName(backend);
  weft(['lab', 'up', '--name', lab, '--nodes', '2', '--backend', backend, '--dns-replicas', '0']);
  weft(
    ['apply', '--lab', lab, '-f', '-'],
    [`apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n`, pod('server', 'n1'), pod('client', 'n2')].join(
      '---\n',
    ),
  );
  const client = LabClient.open(root, lab, exec);
  try {
    let serverIP: string | undefined;
    for (let i = 0; i < 300 && !serverIP; i++) {
      serverIP = (await client.pods()).find((p) => p.stored.object.metadata.name === 'server')?.status?.podIP;
      if (!serverIP) await new Promise((r) => setTimeout(r, 100));
    }
    if (!serverIP) throw new Error(`${backend}: the server pod has no IP`);
    const nodes = client.record.nodes;
    const nodePath = (name: string) => `/var/run/netns/${nodes.find((n) => n.name === name)!.ns}`;
    const pods: Path = {
      serverNs: await client.podNetnsPath(NS, 'server'),
      clientNs: await client.podNetnsPath(NS, 'client'),
      ip: serverIP,
    };
    const underlay: Path = { serverNs: nodePath('n1'), clientNs: nodePath('n2'), ip: '10.99.0.1' };
    const agents = nodes.map((n) => n.agentPid).filter((p): p is number => p !== undefined);
    const got = {
      bps: [] as number[],
      baseBps: [] as number[],
      rr: [] as number[],
      baseRr: [] as number[],
      cpu: [] as number[],
    };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['pods', 'underlay'] as const) : (['underlay', 'pods'] as const);
      for (const which of order) {
        const p = which === 'pods' ? pods : underlay;
        const cpu0 = which === 'pods' ? agents.reduce((s, pid) => s + cpuSeconds(pid), 0) : 0;
        const bps = await iperf(exec, { ...p, seconds: 3, port: 5202 });
        if (which === 'pods') {
          got.bps.push(bps);
          got.cpu.push(agents.reduce((s, pid) => s + cpuSeconds(pid), 0) - cpu0);
        } else got.baseBps.push(bps);
        (which === 'pods' ? got.rr : got.baseRr).push(
          await tcpRoundTrips(exec, { serverNs: p.serverNs, clientNs: p.clientNs, ip: p.ip, ms: 2000 }),
        );
      }
    }
    const m = {
      bps: median(got.bps),
      baseBps: median(got.baseBps),
      rr: median(got.rr),
      baseRr: median(got.baseRr),
      agentCpuSeconds: median(got.cpu),
    };
    (results.backends as Record<string, unknown>)[backend] = { ...m, samples: got };
    const gbit = (b: number) => `${(b / 1e9).toFixed(2)} Gbit/s`;
    rows.push({
      what: `${backend}: pod-to-pod TCP throughput`,
      weft: gbit(m.bps),
      baseline: `${gbit(m.baseBps)} underlay`,
      ratio: (m.bps / m.baseBps).toFixed(3),
      note: `agents' CPU ${m.agentCpuSeconds.toFixed(2)} s in 3 s`,
    });
    rows.push({
      what: `${backend}: TCP round trips/s`,
      weft: m.rr.toFixed(0),
      baseline: `${m.baseRr.toFixed(0)} underlay`,
      ratio: (m.rr / m.baseRr).toFixed(3),
      note: '1 byte each way, 1 connection',
    });
    console.error(`${backend}: ${JSON.stringify(m)}`);
  } finally {
    await client.close();
    weft(['lab', 'down', '--name', lab]);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/backends: run as root');
  for (const b of BACKENDS) await measure(b);
  results.machine = 'shared 2-core VM (other helpers ran labs and tests at the same time)';
  report('backends', rows, results, [36, 16, 24, 8]);
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  })
  .finally(() => teardown(BACKENDS.map(labName)));
