/**
 * Benchmark of route convergence when a node joins and leaves (issue 14): on a lab of 20 nodes,
 * `weft lab add-node` brings up node 21, and every other node's kernel is watched (`ip monitor
 * route` in each node's namespace, the kernel's own notifications) until each has a route to the
 * new node's pod subnet; then `weft lab remove-node` kills the node outright (kill -9 of its agent
 * and BIRD) and the same watch times the route's withdrawal everywhere. Measured for bgp (BIRD's
 * full iBGP mesh: the new node's sessions, then its announcement) against vxlan (the lease watch,
 * then the backend's sync) in the same run, each join from the start of `add-node`, each leave
 * from the start of `remove-node` (and from its return: the node killed, its lease revoked, its
 * namespace gone), to the last node's route change; a join also from the moment the new node's
 * agent held its lease (its own log line), when it is part of the network. JOINS rounds per backend;
 * p50 and p99 (with few rounds, p99 is the worst).
 * Prints a table and writes bench/results/convergence.json. Not a test: it asserts nothing about time.
 *
 * Run (as root): node dist/bench/convergence.js   (WEFT_BENCH_CONVERGENCE_NODES=20, _JOINS=5)
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { LabPaths } from '../src/lab/lab-state.js';
import { benchLabs } from './bench-labs.js';
import { report, type BenchRow } from './report.js';

const NODES = Number(process.env.WEFT_BENCH_CONVERGENCE_NODES ?? 20);
const JOINS = Number(process.env.WEFT_BENCH_CONVERGENCE_JOINS ?? 5);
const BACKENDS = ['bgp', 'vxlan'] as const;
const { weft, weftAsync, teardown, root } = benchLabs('convergence');

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One `ip monitor route` per node namespace: when each saw each route appear and go. */
class RouteWatch {
  private readonly children: ChildProcess[] = [];
  private readonly seen = new Map<string, { added?: number; deleted?: number }>();

  constructor(namespaces: readonly string[]) {
    for (const ns of namespaces) {
      const child = spawn('ip', ['-n', ns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
      this.children.push(child);
      createInterface({ input: child.stdout! }).on('line', (line) => this.take(ns, line));
    }
  }

  /** Forgets what was seen (a new round). */
  reset(): void {
    this.seen.clear();
  }

  private take(ns: string, line: string): void {
    const deleted = line.startsWith('Deleted ');
    const dst = (deleted ? line.slice('Deleted '.length) : line).split(' ')[0]!;
    const key = `${ns} ${dst}`;
    const s = this.seen.get(key) ?? {};
    if (deleted) s.deleted ??= performance.now();
    else s.added ??= performance.now();
    this.seen.set(key, s);
  }

  /** When the last of `namespaces` saw the route to `dst` `kind`, or undefined while some have not. */
  last(namespaces: readonly string[], dst: string, kind: 'added' | 'deleted'): number | undefined {
    let latest = 0;
    for (const ns of namespaces) {
      const t = this.seen.get(`${ns} ${dst}`)?.[kind];
      if (t === undefined) return undefined;
      latest = Math.max(latest, t);
    }
    return latest;
  }

  stop(): void {
    for (const c of this.children) c.kill('SIGTERM');
  }
}

interface NodeDoc {
  metadata: { name: string };
  spec: { podCIDR?: string };
}

/** `weft ARGS` without blocking the event loop (the watch's lines are timed as they come). */

/** The agent log of `node` in lab `lab` under the bench's root. */
function agentLog(root: string, lab: string, node: string): string {
  return `${new LabPaths(root, lab).logDir}/agent-${node}.log`;
}

/** When the agent last logged "subnet lease held" at or after `after` (epoch ms), if it did. */
function leaseHeldAt(logFile: string, after: number): number | undefined {
  let at: number | undefined;
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"subnet lease held"')) continue;
    const t = Date.parse((JSON.parse(line) as { ts: string }).ts);
    if (t >= after - 1) at = t;
  }
  return at;
}

async function waitLast(
  watch: RouteWatch,
  namespaces: string[],
  dst: string,
  kind: 'added' | 'deleted',
): Promise<number> {
  for (let i = 0; i < 600; i++) {
    const t = watch.last(namespaces, dst, kind);
    if (t !== undefined) return t;
    await sleep(25);
  }
  throw new Error(`not every node saw the route to ${dst} ${kind} within 15 s`);
}

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  const results: Record<string, unknown> = { date: new Date().toISOString(), nodes: NODES, joins: JOINS };
  const labs: string[] = [];
  const join: Record<string, number[]> = {};
  const leave: Record<string, number[]> = {};
  /** From the new node's agent holding its lease (its log) to the last node's route. */
  const fromLease: Record<string, number[]> = {};
  /** From remove-node's return (the node killed, its lease revoked, its namespace gone). */
  const leaveAfter: Record<string, number[]> = {};
  try {
    for (const backend of BACKENDS) {
      const lab = `bcv${backend === 'bgp' ? 'b' : 'v'}`;
      labs.push(lab);
      const t = performance.now();
      weft(['lab', 'up', '--name', lab, '--nodes', String(NODES), '--backend', backend, '--dns-replicas', '0']);
      process.stderr.write(
        `convergence: ${backend} lab of ${NODES} nodes up in ${((performance.now() - t) / 1000).toFixed(0)} s\n`,
      );
      const prefix = `weft-lab-${lab}-`;
      const peers = Array.from({ length: NODES }, (_, i) => `${prefix}n${i + 1}`);
      const watch = new RouteWatch(peers);
      join[backend] = [];
      leave[backend] = [];
      leaveAfter[backend] = [];
      fromLease[backend] = [];
      try {
        await sleep(500); // the monitors subscribe
        for (let r = 0; r < JOINS; r++) {
          const added = `n${NODES + 1}`;
          watch.reset();
          const t0 = performance.now();
          await weftAsync(['lab', 'add-node', '--name', lab]);
          const nodes = JSON.parse(await weftAsync(['get', 'nodes', '--lab', lab, '-o', 'json'])) as {
            items: NodeDoc[];
          };
          const subnet = nodes.items.find((n) => n.metadata.name === added)?.spec.podCIDR;
          if (!subnet) throw new Error(`${lab}: ${added} has no subnet`);
          const tAdded = await waitLast(watch, peers, subnet, 'added');
          join[backend]!.push(tAdded - t0);
          // The node joins the network when its agent holds a lease: its log says when (same clock).
          const leaseAt = leaseHeldAt(agentLog(root, lab, added), performance.timeOrigin + t0);
          if (leaseAt === undefined) throw new Error(`${lab}: no "subnet lease held" in ${added}'s agent log`);
          fromLease[backend]!.push(performance.timeOrigin + tAdded - leaseAt);
          const t1 = performance.now();
          await weftAsync(['lab', 'remove-node', '--name', lab, '--node', added]);
          const returned = performance.now();
          const tGone = await waitLast(watch, peers, subnet, 'deleted');
          leave[backend]!.push(tGone - t1);
          leaveAfter[backend]!.push(Math.max(0, tGone - returned));
          process.stderr.write(
            `convergence: ${backend} round ${r + 1}: join ${(tAdded - t0).toFixed(0)} ms, leave ${(tGone - t1).toFixed(0)} ms\n`,
          );
        }
      } finally {
        watch.stop();
      }
      weft(['lab', 'down', '--name', lab]);
      labs.pop();
    }
  } finally {
    teardown(labs);
  }
  for (const backend of BACKENDS) {
    results[backend] = {
      joinMs: join[backend],
      joinFromLeaseMs: fromLease[backend],
      leaveMs: leave[backend],
      leaveAfterReturnMs: leaveAfter[backend],
    };
  }
  const row = (what: string, data: Record<string, number[]>) => {
    const [b, v] = [data.bgp!, data.vxlan!];
    rows.push({
      what: `${what}, ${NODES} nodes`,
      weft: `bgp p50 ${quantile(b, 0.5).toFixed(0)} ms, p99 ${quantile(b, 0.99).toFixed(0)} ms`,
      baseline: `vxlan p50 ${quantile(v, 0.5).toFixed(0)} ms, p99 ${quantile(v, 0.99).toFixed(0)} ms`,
      ratio: (quantile(b, 0.99) / quantile(v, 0.99)).toFixed(2),
      note: `${JOINS} rounds each; to the last node's kernel route (ip monitor)`,
    });
  };
  row('node join → route on every node', join);
  row("… from the new node's lease", fromLease);
  row('node killed → route gone everywhere', leave);
  row('… after remove-node returned', leaveAfter);
  report('convergence', rows, results, [40, 34, 34, 8]);
}

await main();
