/**
 * Benchmark of the flow log's overhead (issue 13): pod-to-pod TCP throughput (iperf3) and new
 * TCP connections per second with flow logging on against the same traffic with it off, each
 * figure beside its same-run baseline. Two 2-node labs (vxlan), identical but for
 * `--no-flow-log`, each with `server` on n1 and `client` on n2 and a policy that isolates
 * `server` and admits `client`, so every new connection goes through a group chain's allowing
 * rule: with flow logging it is logged (NFLOG → ulogd2 → the agent, which parses it into a
 * flow), without it it is not. Rounds alternate which lab goes first; each figure is the median
 * of its rounds. Targets: throughput ratio >= 0.95, conn/s ratio >= 0.90.
 * Prints a table and writes bench/results/flows.json. Not a test: it asserts nothing about time.
 *
 * Run (as root): npm run build && node dist/bench/flows.js
 */

import { benchLabs } from './bench-labs.js';
import { report, type BenchRow } from './report.js';
import { connRate, iperf } from './pod-traffic.js';
import { NodeExec } from '../src/adapters/exec.js';
import { LabClient } from '../src/lab/client.js';
import { LabPaths } from '../src/lab/lab-state.js';
import { statusSocketPath } from '../src/agent/node-status.js';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const LABS = { on: 'bflon', off: 'bfloff' } as const;
const NS = 'bench';
const ROUNDS = Number(process.env.WEFT_BENCH_FLOWS_ROUNDS ?? 5);
const { root, weft, teardown } = benchLabs('flows');
const exec = new NodeExec();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pod = (name: string, node: string, app: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS}, labels: { app: ${app} } }\n` +
  `spec: { nodeName: ${node}, containers: [{ name: s, ports: [{ containerPort: 80 }, { containerPort: 5201 }] }] }\n`;
const POLICY =
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: only-client, namespace: ${NS} }\n` +
  'spec:\n  podSelector: { matchLabels: { app: server } }\n  policyTypes: [Ingress]\n' +
  '  ingress: [{ from: [{ podSelector: { matchLabels: { app: client } } }] }]\n';

interface Target {
  serverIP: string;
  serverNs: string;
  clientNs: string;
}

async function upLab(name: string, args: string[]): Promise<Target> {
  weft(['lab', 'up', '--name', name, '--nodes', '2', '--dns-replicas', '0', ...args]);
  weft(
    ['apply', '--lab', name, '-f', '-'],
    [
      `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n`,
      pod('server', 'n1', 'server'),
      pod('client', 'n2', 'client'),
      POLICY,
    ].join('---\n'),
  );
  const client = LabClient.open(root, name, exec);
  try {
    let serverIP: string | undefined;
    for (let i = 0; i < 300 && !serverIP; i++) {
      serverIP = (await client.pods()).find((p) => p.stored.object.metadata.name === 'server')?.status?.podIP;
      if (!serverIP) await sleep(100);
    }
    if (!serverIP) throw new Error(`${name}: the server pod has no IP`);
    return {
      serverIP,
      serverNs: await client.podNetnsPath(NS, 'server'),
      clientNs: await client.podNetnsPath(NS, 'client'),
    };
  } finally {
    await client.close();
  }
}

/** weft_flows_total{verdict="allowed"} on the server's node (n1), read through its agent's status socket. */
function allowedFlows(lab: string): number {
  const socket = statusSocketPath(new LabPaths(root, lab).runDir('n1'));
  const r = spawnSync('curl', ['-sf', '--unix-socket', socket, 'http://agent/metrics'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`read the metrics of ${lab} n1: curl exit ${r.status}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith('weft_flows_total{verdict="allowed"'));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** CPU time (ms) a process has used: utime + stime from /proc/PID/stat, in 10 ms ticks (CLK_TCK 100). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The agent of the lab's n1 and the ulogd2 it runs (its child). */
function flowLogPids(lab: string): number[] {
  const record = JSON.parse(readFileSync(new LabPaths(root, lab).record, 'utf8')) as {
    nodes: Array<{ name: string; agentPid: number }>;
  };
  const agent = record.nodes.find((n) => n.name === 'n1')!.agentPid;
  const ulogd = readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .find((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        return stat.includes('(ulogd)') && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === agent;
      } catch {
        return false; // gone while we looked
      }
    });
  if (!ulogd) throw new Error(`${lab}: no ulogd under the agent of n1 (${agent})`);
  return [agent, Number(ulogd)];
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/flows: run as root');
  const on = await upLab(LABS.on, []);
  const off = await upLab(LABS.off, ['--no-flow-log']);
  const figures = {
    on: { bps: [] as number[], cps: [] as number[] },
    off: { bps: [] as number[], cps: [] as number[] },
  };
  const pids = flowLogPids(LABS.on);
  const cpuPerFlowUs: number[] = [];
  const measure = async (which: 'on' | 'off') => {
    const t = which === 'on' ? on : off;
    figures[which].bps.push(
      await iperf(exec, { serverNs: t.serverNs, clientNs: t.clientNs, ip: t.serverIP, seconds: 3, port: 5202 }),
    );
    const cpu0 = which === 'on' ? pids.map(cpuMs) : [];
    const flows0 = which === 'on' ? allowedFlows(LABS.on) : 0;
    figures[which].cps.push(await connRate(exec, t.clientNs, t.serverIP, 3000));
    if (which === 'on') {
      const used = pids.map(cpuMs).reduce((n, ms, i) => n + ms - cpu0[i]!, 0);
      cpuPerFlowUs.push((used * 1000) / Math.max(1, allowedFlows(LABS.on) - flows0));
    }
  };
  // The order alternates between rounds, so neither side always runs on a warmer machine.
  for (let round = 0; round < ROUNDS; round++) {
    for (const which of round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) await measure(which);
  }
  // The flows the "on" lab counted: proof that the measured connections went through the log.
  const logged = allowedFlows(LABS.on);
  if (logged === 0) throw new Error('the flow-logging lab logged no flow: the comparison would be void');
  if (allowedFlows(LABS.off) !== 0) throw new Error('the lab without flow logging logged flows');
  const bps = median(figures.on.bps) / median(figures.off.bps);
  const cps = median(figures.on.cps) / median(figures.off.cps);
  const rows: BenchRow[] = [
    {
      what: 'TCP throughput, flow logging on',
      weft: `${(median(figures.on.bps) / 1e9).toFixed(2)} Gbit/s`,
      baseline: `${(median(figures.off.bps) / 1e9).toFixed(2)} Gbit/s logging off`,
      ratio: bps.toFixed(3),
      note: `target >= 0.95: ${bps >= 0.95 ? 'met' : 'NOT met'}`,
    },
    {
      what: 'new TCP conn/s, flow logging on',
      weft: `${median(figures.on.cps).toFixed(0)} /s`,
      baseline: `${median(figures.off.cps).toFixed(0)} /s logging off`,
      ratio: cps.toFixed(3),
      note: `target >= 0.90: ${cps >= 0.9 ? 'met' : 'NOT met'}`,
    },
    {
      what: 'CPU per logged connection',
      weft: `${median(cpuPerFlowUs).toFixed(1)} us`,
      baseline: 'ulogd2 + the agent, n1',
      ratio: '',
      note: 'what logging costs, whatever the load',
    },
  ];
  report(
    'flows',
    rows,
    {
      date: new Date().toISOString(),
      rounds: ROUNDS,
      onBitsPerSec: figures.on.bps,
      offBitsPerSec: figures.off.bps,
      onConnPerSec: figures.on.cps,
      offConnPerSec: figures.off.cps,
      flowsLogged: logged,
      cpuPerFlowUs,
      throughputRatio: bps,
      connRatio: cps,
      targets: { throughput: 0.95, conn: 0.9 },
    },
    [34, 16, 26, 8],
  );
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  })
  .finally(() => {
    teardown([LABS.on, LABS.off]);
  });
