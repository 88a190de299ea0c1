/**
 * Benchmark of weft against the real flanneld (issue 18), in the same run on the same machine:
 *
 * - pod↔pod TCP throughput (iperf3, 3 s) and TCP round trips/s (netperf's TCP_RR: one connection,
 *   one byte each way, bench/tcp-rr.ts) across two nodes, for vxlan and host-gw. One lab of four
 *   nodes per backend (etcd store, `--peer flannel=n3,n4`): a weft pair (client pod on n2, server
 *   pod on n1) and a flanneld pair (n4 → n3) over the same underlay, same pods, same kernel;
 *   rounds alternate which pair goes first, each figure is the median of its rounds.
 * - node join → a route to the new node's subnet on every node: a lab of NODES nodes that all run
 *   weft, and one whose nodes all run flanneld (same etcd store, same vxlan config); `weft lab
 *   add-node` adds a (weft) node and every old node's kernel is watched (`ip monitor route` in each
 *   namespace) until each has the route, which that node's daemon (weft's agent or flanneld) put
 *   there from the new lease. From the start of add-node, and from the moment the new node's agent
 *   held its lease (its log). JOINS rounds, each a new node (remove-node cannot reach the lab's
 *   etcd from the host), p50 and p99 (with few rounds, p99 is the worst).
 * - weft's Services against the real kube-proxy (nftables mode) on two 3-node `--api kube` labs:
 *   ClusterIP conn/s and throughput, 10,000 Services x 10 endpoints programmed on every node, one
 *   endpoint change → every node (p50, p99), and the rule count: bench/peers-kube-proxy.ts.
 * - CNI ADD/DEL: weft's plugins against the reference plugins v1.10.0, from
 *   bench/results/cni-add-del.json (bench/cni-add-del.ts measures it, just before this in
 *   `npm run bench`).
 * - cluster DNS against the real CoreDNS: queries/s and latency (dnsperf), Service create →
 *   resolvable, on one `--api kube --dns coredns` lab with a weft dns pod beside CoreDNS
 *   (bench/peers-dns.ts).
 *
 * Prints a table and writes bench/results/peers.json. Not a test: it asserts nothing about time.
 * Where flanneld or CoreDNS is not built (scripts/build-peers.sh) its rows say "not measured" with
 * the reason.
 *
 * A run of some parts keeps the other parts' figures (and their table rows) from the last
 * bench/results/peers.json, saying when they were measured (`carried`).
 *
 * Run (as root): node dist/bench/peers.js   (WEFT_BENCH_PEERS_NODES=20, _JOINS=5, _ROUNDS=5,
 *   WEFT_BENCH_PEERS_PARTS=traffic,join,dns,kube-proxy to choose; bench/peers-dns.ts for the DNS settings;
 *   _SERVICES=10000, _CHANGES=20, _PAIRS=6 for kube-proxy; WEFT_BENCH_LAB_PREFIX before the kube-proxy
 *   labs' names)
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NodeExec } from '../src/adapters/exec.js';
import { LabClient } from '../src/lab/client.js';
import { LabPaths } from '../src/lab/lab-state.js';
import { CNI_PLUGINS_VERSION, FLANNEL_VERSION, flanneldMissing } from '../src/lab/peer-flannel.js';
import { benchLabs } from './bench-labs.js';
import { iperf, tcpRoundTrips } from './pod-traffic.js';
import { measureDnsPeers } from './peers-dns.js';
import { kubeProxyRows } from './peers-kube-proxy.js';
import { carryParts, report, type BenchRow } from './report.js';

const NODES = Number(process.env.WEFT_BENCH_PEERS_NODES ?? 20);
const JOINS = Number(process.env.WEFT_BENCH_PEERS_JOINS ?? 5);
const ROUNDS = Number(process.env.WEFT_BENCH_PEERS_ROUNDS ?? 5);
const ALL_PARTS = ['traffic', 'join', 'dns', 'kube-proxy'];
const PARTS = (process.env.WEFT_BENCH_PEERS_PARTS ?? ALL_PARTS.join(',')).split(',');
for (const p of PARTS)
  if (!ALL_PARTS.includes(p))
    throw new Error(`WEFT_BENCH_PEERS_PARTS: unknown part "${p}" (want some of ${ALL_PARTS.join(',')})`);
/** The results keys each part writes (the others are carried from the last run). */
const PART_KEYS: Record<string, string[]> = {
  traffic: ['vxlan', 'host-gw', 'flanneld'],
  join: ['join', 'flanneld'],
  dns: ['dns'],
  'kube-proxy': ['kubeProxy'],
};
const NS = 'bench';
const { root, weft, weftAsync, teardown } = benchLabs('peers');
const exec = new NodeExec();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const gbit = (b: number) => `${(b / 1e9).toFixed(2)} Gbit/s`;

const pod = (name: string, node: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS} }\n` +
  `spec: { nodeName: ${node}, containers: [{ name: s, ports: [{ containerPort: 80 }] }] }\n`;

/** Throughput and round trips of a weft node pair and a flanneld node pair in one lab. */
async function traffic(backend: 'vxlan' | 'host-gw', labs: string[]): Promise<Record<string, unknown>> {
  const lab = `bpe${backend === 'vxlan' ? 'v' : 'h'}`;
  labs.push(lab);
  weft(
    ['lab', 'up', '--name', lab, '--nodes', '4', '--backend', backend, '--store', 'etcd'].concat([
      '--peer',
      'flannel=n3,n4',
      '--dns-replicas',
      '0',
    ]),
  );
  weft(
    ['apply', '--lab', lab, '-f', '-'],
    [
      `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n`,
      pod('weft-server', 'n1'),
      pod('weft-client', 'n2'),
      pod('flannel-server', 'n3'),
      pod('flannel-client', 'n4'),
    ].join('---\n'),
  );
  const client = LabClient.open(root, lab, exec);
  try {
    const pods = await client.pods();
    const ipOf = (name: string) => {
      const ip = pods.find((p) => p.stored.object.metadata.name === name)?.status?.podIP;
      if (!ip) throw new Error(`${lab}: pod ${name} has no IP`);
      return ip;
    };
    const pairs = {
      weft: {
        serverNs: await client.podNetnsPath(NS, 'weft-server'),
        clientNs: await client.podNetnsPath(NS, 'weft-client'),
        ip: ipOf('weft-server'),
      },
      flanneld: {
        serverNs: await client.podNetnsPath(NS, 'flannel-server'),
        clientNs: await client.podNetnsPath(NS, 'flannel-client'),
        ip: ipOf('flannel-server'),
      },
    };
    const got = {
      weft: { bps: [] as number[], rr: [] as number[] },
      flanneld: { bps: [] as number[], rr: [] as number[] },
    };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['weft', 'flanneld'] as const) : (['flanneld', 'weft'] as const);
      for (const which of order) {
        const p = pairs[which];
        got[which].bps.push(await iperf(exec, { ...p, seconds: 3, port: 5202 }));
        got[which].rr.push(await tcpRoundTrips(exec, { ...p, ms: 2000 }));
      }
      process.stderr.write(`peers: ${backend} round ${round + 1}: ${JSON.stringify(got)}\n`);
    }
    return {
      weft: { bps: median(got.weft.bps), rr: median(got.weft.rr) },
      flanneld: { bps: median(got.flanneld.bps), rr: median(got.flanneld.rr) },
      samples: got,
    };
  } finally {
    await client.close();
    weft(['lab', 'down', '--name', lab]);
    labs.splice(labs.indexOf(lab), 1);
  }
}

/** One `ip monitor route` per node namespace: when each first saw a route to each destination. */
class RouteWatch {
  private readonly children: ChildProcess[] = [];
  private readonly seen = new Map<string, number>();

  constructor(namespaces: readonly string[]) {
    for (const ns of namespaces) {
      const child = spawn('ip', ['-n', ns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
      this.children.push(child);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.startsWith('Deleted ')) return;
        const key = `${ns} ${line.split(' ')[0]}`;
        if (!this.seen.has(key)) this.seen.set(key, performance.now());
      });
    }
  }

  /** When the last of `namespaces` saw the route to `dst`, or undefined while some have not. */
  last(namespaces: readonly string[], dst: string): number | undefined {
    let latest = 0;
    for (const ns of namespaces) {
      const t = this.seen.get(`${ns} ${dst}`);
      if (t === undefined) return undefined;
      latest = Math.max(latest, t);
    }
    return latest;
  }

  stop(): void {
    for (const c of this.children) c.kill('SIGTERM');
  }
}

/** When the agent of `node` logged "subnet lease held" at or after `after` (epoch ms), if it did. */
function leaseHeldAt(lab: string, node: string, after: number): number | undefined {
  let at: number | undefined;
  const log = `${new LabPaths(root, lab).logDir}/agent-${node}.log`;
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    if (!line.includes('"subnet lease held"')) continue;
    const t = Date.parse((JSON.parse(line) as { ts: string }).ts);
    if (t >= after - 1) at = t;
  }
  return at;
}

/** Join rounds on a lab whose NODES nodes all run `daemon`: ms to the last old node's route. */
async function joins(daemon: 'weft' | 'flanneld', labs: string[]): Promise<{ fromAdd: number[]; fromLease: number[] }> {
  const lab = `bpj${daemon === 'weft' ? 'w' : 'f'}`;
  labs.push(lab);
  const all = Array.from({ length: NODES }, (_, i) => `n${i + 1}`);
  const t = performance.now();
  weft(
    ['lab', 'up', '--name', lab, '--nodes', String(NODES), '--store', 'etcd', '--dns-replicas', '0'].concat(
      daemon === 'flanneld' ? ['--peer', `flannel=${all.join(',')}`] : [],
    ),
  );
  process.stderr.write(
    `peers: ${daemon} lab of ${NODES} nodes up in ${((performance.now() - t) / 1000).toFixed(0)} s\n`,
  );
  const namespaces = all.map((n) => new LabPaths(root, lab).nodeNs(n));
  const watch = new RouteWatch(namespaces);
  const fromAdd: number[] = [];
  const fromLease: number[] = [];
  try {
    await sleep(500); // the monitors subscribe
    for (let r = 0; r < JOINS; r++) {
      const t0 = performance.now();
      const added = (await weftAsync(['lab', 'add-node', '--name', lab])).match(/node (n\d+) added/)?.[1];
      if (!added) throw new Error(`${lab}: add-node did not say which node it added`);
      const nodes = JSON.parse(await weftAsync(['get', 'nodes', '--lab', lab, '-o', 'json'])) as {
        items: Array<{ metadata: { name: string }; spec: { podCIDR?: string } }>;
      };
      const subnet = nodes.items.find((n) => n.metadata.name === added)?.spec.podCIDR;
      if (!subnet) throw new Error(`${lab}: ${added} has no subnet`);
      let tAdded: number | undefined;
      for (let i = 0; i < 600 && tAdded === undefined; i++) {
        tAdded = watch.last(namespaces, subnet);
        if (tAdded === undefined) await sleep(25);
      }
      if (tAdded === undefined) throw new Error(`${lab}: not every node saw the route to ${subnet} within 15 s`);
      fromAdd.push(tAdded - t0);
      const leaseAt = leaseHeldAt(lab, added, performance.timeOrigin + t0);
      if (leaseAt === undefined) throw new Error(`${lab}: no "subnet lease held" in ${added}'s agent log`);
      fromLease.push(performance.timeOrigin + tAdded - leaseAt);
      process.stderr.write(
        `peers: ${daemon} join ${r + 1}: ${(tAdded - t0).toFixed(0)} ms from add-node, ${(performance.timeOrigin + tAdded - leaseAt).toFixed(0)} ms from the lease\n`,
      );
    }
  } finally {
    watch.stop();
    weft(['lab', 'down', '--name', lab]);
    labs.splice(labs.indexOf(lab), 1);
  }
  return { fromAdd, fromLease };
}

/** The CNI rows from the last bench/cni-add-del.json, when it measured the current reference. */
function cniRows(rows: BenchRow[], results: Record<string, unknown>): void {
  const file = fileURLToPath(new URL('../../bench/results/cni-add-del.json', import.meta.url));
  type S = { add: { medianMs: number }; del: { medianMs: number } };
  const j = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as {
        date: string;
        weftViaAgentSocket: S;
        weft: S;
        referenceCurrent?: Partial<S> & { notMeasured?: string };
      })
    : undefined;
  const cur = j?.referenceCurrent;
  if (!j || !cur?.add || !cur.del) {
    const why =
      cur?.notMeasured ??
      'bench/results/cni-add-del.json has no current-reference figures (run node dist/bench/cni-add-del.js)';
    rows.push({ what: 'CNI ADD/DEL', weft: '-', baseline: 'not measured', ratio: '-', note: why });
    results.cni = { notMeasured: why };
    return;
  }
  for (const op of ['add', 'del'] as const) {
    const w = j.weftViaAgentSocket[op].medianMs;
    const e = j.weft[op].medianMs;
    const c = cur[op]!.medianMs;
    rows.push({
      what: `CNI ${op.toUpperCase()} median (bridge + host-local)`,
      weft: `${w.toFixed(1)} ms socket, ${e.toFixed(1)} exec`,
      baseline: `${c.toFixed(1)} ms ref ${CNI_PLUGINS_VERSION}`,
      ratio: (w / c).toFixed(2),
      note: `from cni-add-del.json of ${j.date}; exec/ref ${(e / c).toFixed(2)}`,
    });
  }
  results.cni = {
    from: 'bench/results/cni-add-del.json',
    date: j.date,
    weftSocket: j.weftViaAgentSocket,
    weftExec: j.weft,
    reference: cur,
  };
}

/**
 * The figures of the parts not run this time, and their table rows, from the last peers.json
 * (a row is kube-proxy's when it names kube-proxy, else the join's or the traffic's; the CNI rows are made every run).
 */
function carryRows(rows: BenchRow[], results: Record<string, unknown>): void {
  const measured = new Set(PARTS.flatMap((p) => PART_KEYS[p] ?? []));
  carryParts('peers', [...new Set(Object.values(PART_KEYS).flat())], (k) => measured.has(k), results);
  if (!results.carried) return;
  const file = fileURLToPath(new URL('../../bench/results/peers.json', import.meta.url));
  const previous = (JSON.parse(readFileSync(file, 'utf8')) as { rows?: BenchRow[] }).rows ?? [];
  const ran = (r: BenchRow) =>
    /kube-proxy/.test(r.what + r.baseline)
      ? PARTS.includes('kube-proxy')
      : /CoreDNS/.test(r.what + r.baseline)
        ? PARTS.includes('dns')
        : r.what.startsWith('CNI ') || PARTS.includes(/^(node join|…)/.test(r.what) ? 'join' : 'traffic');
  rows.unshift(...previous.filter((r) => !ran(r)));
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/peers: run as root');
  const rows: BenchRow[] = [];
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    flannel: FLANNEL_VERSION,
    cniPlugins: CNI_PLUGINS_VERSION,
    rounds: ROUNDS,
    nodes: NODES,
    joins: JOINS,
    machine: 'shared 2-core VM (other helpers ran labs, builds and tests at the same time)',
  };
  const missing = flanneldMissing();
  const labs: string[] = [];
  try {
    if (!PARTS.includes('traffic') && !PARTS.includes('join')) {
      // flanneld's rows are carried below.
    } else if (missing) {
      rows.push({
        what: 'weft vs flanneld (all figures)',
        weft: '-',
        baseline: 'not measured',
        ratio: '-',
        note: missing,
      });
      results.flanneld = { notMeasured: missing };
    } else {
      if (PARTS.includes('traffic'))
        for (const backend of ['vxlan', 'host-gw'] as const) {
          const m = (await traffic(backend, labs)) as {
            weft: { bps: number; rr: number };
            flanneld: { bps: number; rr: number };
          };
          results[backend] = m;
          rows.push({
            what: `${backend}: pod-to-pod TCP throughput`,
            weft: gbit(m.weft.bps),
            baseline: `${gbit(m.flanneld.bps)} flanneld`,
            ratio: (m.weft.bps / m.flanneld.bps).toFixed(3),
            note: `iperf3 3 s, median of ${ROUNDS}; n2→n1 vs n4→n3, one lab`,
          });
          rows.push({
            what: `${backend}: TCP round trips/s`,
            weft: m.weft.rr.toFixed(0),
            baseline: `${m.flanneld.rr.toFixed(0)} flanneld`,
            ratio: (m.weft.rr / m.flanneld.rr).toFixed(3),
            note: '1 byte each way, 1 connection, 2 s',
          });
        }
      if (PARTS.includes('join')) {
        const w = await joins('weft', labs);
        const f = await joins('flanneld', labs);
        results.join = { weft: w, flanneld: f };
        const ms = (xs: number[]) => `p50 ${quantile(xs, 0.5).toFixed(0)} ms, p99 ${quantile(xs, 0.99).toFixed(0)} ms`;
        rows.push({
          what: `node join → route on every node, ${NODES} nodes (vxlan)`,
          weft: ms(w.fromAdd),
          baseline: `${ms(f.fromAdd)} flanneld`,
          ratio: (quantile(w.fromAdd, 0.99) / quantile(f.fromAdd, 0.99)).toFixed(2),
          note: `${JOINS} joins (a weft node each time); p99 ratio; ip monitor in every old node`,
        });
        // The joiner logs "subnet lease held" after its etcd write returned; a watcher may act first
        // (a negative figure), so no ratio: the row says how long after that line the last route came.
        rows.push({
          what: "… from the new node's lease (its agent's log line)",
          weft: ms(w.fromLease),
          baseline: `${ms(f.fromLease)} flanneld`,
          ratio: '-',
          note: 'negative: the route came before the joiner logged its lease',
        });
      }
    }
    if (PARTS.includes('dns')) {
      const dns = await measureDnsPeers({ root, lab: 'bpdns', labs, exec, weft });
      rows.push(...dns.rows);
      results.dns = dns.results;
    }
    if (PARTS.includes('kube-proxy')) await kubeProxyRows({ root, exec, weft }, rows, results);
    cniRows(rows, results);
  } finally {
    teardown(labs);
  }
  carryRows(rows, results);
  report('peers', rows, results, [52, 30, 30, 8]);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
