/**
 * Idle cost of a lab on the etcd store (issue 16 item 6): how many requests per second etcd
 * serves while a lab of 10 and 20 nodes sits idle (every node Ready, no pod, no change), against
 * the same-run baseline of an etcd with no client at all (0 nodes).
 *
 * "Requests" is etcd's own count of gRPC messages received (grpc_server_msg_received_total, every
 * service and method summed): each unary call (Range, Txn, LeaseGrant, LeaseTimeToLive, …) is
 * one, and each message on a stream (a watch create, a keepalive) is one. etcd 3.4's v3 JSON
 * gateway forwards every HTTP call to the same gRPC server, so the gateway's calls are counted
 * too. Completed RPCs (grpc_server_handled_total) and the busiest methods are reported beside.
 *
 * Each lab: `weft lab up --name <n> --nodes N --store etcd` (returns once every node is Ready),
 * 5 s to settle, the counters read twice 10 s apart from inside the lab's segment namespace
 * (where the lab's etcd serves plain-HTTP metrics on 127.0.0.1:2381), then `weft lab down`.
 *
 * Run (as root, through the kernel lock, after npm run build):
 *   flock /tmp/weft-kernel.lock node dist/bench/etcd-idle.js
 * Options (environment): WEFT_BENCH_ETCD_NODES=10,20 (node counts);
 *   WEFT_BENCH_BEFORE_CLI=/path/to/other/dist/src/cli/main.js also measures another build (e.g.
 *   the commit before the etcd store used watches) with the same method, in the same run.
 * Prints a table and writes bench/results/etcd-idle.json. Not a test: it asserts nothing.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { report, type BenchRow } from './report.js';
import { EtcdServer } from '../test/support/etcd.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const BEFORE_CLI = process.env.WEFT_BENCH_BEFORE_CLI;
const NODES = (process.env.WEFT_BENCH_ETCD_NODES ?? '10,20').split(',').map(Number);
const SETTLE_MS = 5_000;
const WINDOW_MS = 10_000;
/** issue 16: an idle 20-node lab costs etcd at most 40 requests/s in all. */
const TARGET_20 = 40;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Counters {
  received: number;
  handled: number;
  byMethod: Map<string, number>;
}

function parseCounters(text: string): Counters {
  const c: Counters = { received: 0, handled: 0, byMethod: new Map() };
  for (const m of text.matchAll(/^grpc_server_msg_received_total\{([^}]*)\} (\S+)$/gm)) {
    const v = Number(m[2]);
    c.received += v;
    const method = /grpc_method="([^"]+)"/.exec(m[1]!)?.[1] ?? '?';
    c.byMethod.set(method, (c.byMethod.get(method) ?? 0) + v);
  }
  for (const m of text.matchAll(/^grpc_server_handled_total\{[^}]*\} (\S+)$/gm)) c.handled += Number(m[1]);
  if (c.received === 0 && c.handled === 0)
    throw new Error(`etcd /metrics has no grpc_server counters: ${text.slice(0, 200)}`);
  return c;
}

interface Rate {
  requestsPerS: number;
  handledPerS: number;
  top: string;
  /** Labs: the fewest Ready nodes in any look (every 2 s from lab up to the window's end), of all. */
  readyMin?: number;
  looks?: number;
}

async function rateOf(read: () => Counters): Promise<Rate> {
  const a = read();
  await sleep(WINDOW_MS);
  const b = read();
  const s = WINDOW_MS / 1000;
  const top = [...b.byMethod]
    .map(([m, v]) => [m, (v - (a.byMethod.get(m) ?? 0)) / s] as const)
    .filter(([, v]) => v > 0)
    .sort((x, y) => y[1] - x[1])
    .slice(0, 3)
    .map(([m, v]) => `${m} ${v.toFixed(1)}/s`)
    .join(', ');
  return { requestsPerS: (b.received - a.received) / s, handledPerS: (b.handled - a.handled) / s, top };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** An idle lab of `nodes` on etcd, built by the weft CLI at `cli`. */
async function measureLab(cli: string, name: string, nodes: number): Promise<Rate> {
  const root = mkdtempSync(join(tmpdir(), 'weft-bench-etcd-'));
  const env = { ...process.env, WEFT_LAB_ROOT: root };
  const weft = (args: string[]) => run(process.execPath, [cli, ...args], env);
  try {
    weft(['lab', 'up', '--name', name, '--nodes', String(nodes), '--store', 'etcd']);
    const rec = JSON.parse(readFileSync(join(root, name, 'lab.json'), 'utf8')) as { segmentNs: string };
    const read = () =>
      parseCounters(
        run(
          'ip',
          ['netns', 'exec', rec.segmentNs, 'curl', '-sf', '--max-time', '5', 'http://127.0.0.1:2381/metrics'],
          process.env,
        ),
      );
    // Ready must hold throughout, not only at lab up: the nodes are looked at every 2 s (from the
    // lab's SQLite objects, so the looks cost etcd nothing).
    let readyMin = nodes;
    let looks = 0;
    let looking = true;
    const look = (async () => {
      while (looking) {
        const items = (
          JSON.parse(weft(['get', 'nodes', '--lab', name, '-o', 'json'])) as {
            items: Array<{ status: { conditions: Array<{ type: string; status: string }> } }>;
          }
        ).items;
        const ready = items.filter((i) => i.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'));
        readyMin = Math.min(readyMin, ready.length);
        looks++;
        await sleep(2_000);
      }
    })();
    await sleep(SETTLE_MS);
    const rate = await rateOf(read);
    looking = false;
    await look;
    return { ...rate, readyMin, looks };
  } finally {
    spawnSync(process.execPath, [cli, 'lab', 'down', '--name', name], { env, stdio: 'ignore', timeout: 120_000 });
    rmSync(root, { recursive: true, force: true });
  }
}

/** The same counters on an etcd nobody uses (the same flags as the lab's). */
async function measureIdleEtcd(): Promise<Rate> {
  const etcd = new EtcdServer();
  await etcd.start();
  try {
    const read = () => parseCounters(run('curl', ['-sf', '--max-time', '5', `${etcd.clientUrl}/metrics`], process.env));
    await sleep(SETTLE_MS);
    return await rateOf(read);
  } finally {
    await etcd.destroy();
  }
}

const fmt = (r: Rate) => `${r.requestsPerS.toFixed(1)} req/s`;

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    windowMs: WINDOW_MS,
    settleMs: SETTLE_MS,
    cli: CLI,
    beforeCli: BEFORE_CLI ?? null,
  };
  const base = await measureIdleEtcd();
  console.error(`etcd alone: ${fmt(base)}`);
  results.baseline = base;
  rows.push({ what: 'idle etcd, 0 nodes', weft: fmt(base), baseline: '', ratio: '', note: base.top || 'no request' });
  const labs: Record<string, unknown> = {};
  for (const n of NODES) {
    const after = await measureLab(CLI, `ei${n}`, n);
    console.error(`${n} nodes (this build): ${fmt(after)} (${after.top})`);
    const entry: Record<string, unknown> = { after };
    let note = after.top;
    if (BEFORE_CLI) {
      const before = await measureLab(BEFORE_CLI, `eb${n}`, n);
      console.error(`${n} nodes (before): ${fmt(before)} (${before.top})`);
      entry.before = before;
      note = `before: ${fmt(before)} (${before.top}); now: ${after.top || 'no request'}`;
    }
    labs[n] = entry;
    rows.push({
      what: `idle lab on etcd, ${n} nodes`,
      weft: fmt(after),
      baseline: `${fmt(base)} etcd alone`,
      ratio:
        base.requestsPerS > 0
          ? `${(after.requestsPerS / base.requestsPerS).toFixed(1)}x`
          : `+${(after.requestsPerS - base.requestsPerS).toFixed(1)}/s`,
      note: `${n === 20 ? `target ≤ ${TARGET_20} req/s: ${after.requestsPerS <= TARGET_20 ? 'met' : 'NOT met'}; ` : ''}Ready ${after.readyMin}/${n} at the lowest of ${after.looks} looks; ${note}`,
    });
  }
  results.labs = labs;
  report('etcd-idle', rows, results, [30, 14, 22, 8]);
}

await main();
