/**
 * The kube-proxy rows of bench/peers (issue 18): weft's Services against the real kube-proxy
 * (v1.34, --proxy-mode=nftables), each on its own lab of the same shape, in one run:
 *
 * - Two labs of 3 nodes on a real API server (`--api kube --dns-replicas 0 --service-cidr
 *   10.96.0.0/16`, vxlan): one where weft's agents program Services, one with `--services kube-proxy`
 *   (kube-proxy on every node, the agents with --no-services). Both are up for the whole run, so
 *   the machine's load falls on both.
 * - ClusterIP traffic (first, with one Service in each lab): a client pod on n2, a server pod on n1,
 *   new TCP connections per second (bench/conn-rate.ts, 16 in flight, 1.5 s) and TCP throughput
 *   (iperf3, 2 s) to the ClusterIP, in pairs of back-to-back samples (weft lab, kube-proxy lab),
 *   alternating which goes first; the ratio is the median of the pairs' ratios weft / kube-proxy.
 *   The same to the server's pod IP in each lab says how far apart the two labs' paths are anyway.
 * - Program a node: SERVICES selector-less Services (one TCP port, explicit ClusterIPs
 *   10.96.1.0 and up, clear of the API server's own picks in this run) and one hand-written
 *   EndpointSlice each with 10 endpoints (bench/services-load.ts's addresses), written straight to the
 *   API server with server-side apply (what `kubectl apply --server-side` and weft's KubeObjectStore
 *   send), 8 requests in flight, one request an object. Every node's ruleset is polled (every
 *   200 ms, `nft get element` of 20 of the Services' keys in the proxy's `service-ips` map, both
 *   proxies have one, then a full count of the map) until it holds every Service: the time from the
 *   first request, and from the last answer. Same method, same objects, for both.
 * - One change → in effect on all nodes: at that scale, one Service's slice re-applied with one
 *   endpoint moved to a new address (one server-side apply), until an `nft monitor` in every node's
 *   namespace has printed a line naming the new address (the kernel's own notice of the proxy's
 *   commit: weft's endpoint map element; kube-proxy's endpoint chain and its DNAT rule). TRIALS per
 *   lab, alternating labs, 1.5 s apart (kube-proxy syncs at most once a second: a change after a
 *   quiet second is handled at once). p50 and p99.
 * - Rule count: `nft -j list ruleset` in n1 at that scale: rules and set/map elements of the
 *   proxy's own tables (weft-services; kube-proxy's ip and ip6 tables), and of the whole ruleset.
 *
 * Exported for bench/peers.ts (part `kube-proxy`); WEFT_BENCH_PEERS_SERVICES (default 10000),
 * WEFT_BENCH_PEERS_CHANGES (20), WEFT_BENCH_PEERS_PAIRS (6), WEFT_BENCH_LAB_PREFIX (labs' names).
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadEndpointIp, loadSlice, type ServiceLoad } from './services-load.js';
import { connRate, iperf } from './pod-traffic.js';
import { median, percentile, sizeFromEnv, type BenchRow } from './report.js';
import type { NodeExec } from '../src/adapters/exec.js';
import { KubeClient, loadKubeconfig, resourceOf, resourcePath } from '../src/adapters/kube-api.js';
import { LabClient } from '../src/lab/client.js';
import { findKubeBinaries, KUBE_VERSION } from '../src/lab/kube-control-plane.js';
import { kubeProxyMissing } from '../src/lab/peer-kube-proxy.js';
import { SERVICES_OBJECTS, SERVICES_TABLE } from '../src/core/names.js';
import type { K8sKind } from '../src/core/k8s/objects.js';

const SERVICES = sizeFromEnv('WEFT_BENCH_PEERS_SERVICES', 10_000);
const CHANGES = sizeFromEnv('WEFT_BENCH_PEERS_CHANGES', 20);
if (CHANGES > 65) throw new Error('WEFT_BENCH_PEERS_CHANGES: at most 65 (each change takes a new address)');
const PAIRS = sizeFromEnv('WEFT_BENCH_PEERS_PAIRS', 6);
const ENDPOINTS = 10;
const LAB_PREFIX = process.env.WEFT_BENCH_LAB_PREFIX ?? '';
const SERVICE_CIDR = '10.96.0.0/16';
const NS = 'bench';
const LOAD_NS = 'scale';
const WEB_IP = '10.96.0.20';
/** The API server requires an image; the lab's runner serves the declared ports whatever it is. */
const IMAGE = 'weft-lab-echo';
const CONNECT_UNTIL = fileURLToPath(new URL('./connect-until.js', import.meta.url));
const APPLY_PATCH = 'application/apply-patch+yaml';
const IN_FLIGHT = 8;
const POLL_MS = 200;

if (SERVICES > 256 * 255) throw new Error(`WEFT_BENCH_PEERS_SERVICES: at most ${256 * 255} (the ClusterIP range)`);
/** ClusterIP of load Service i: 10.96.1.0 and up (the API server's own picks in these labs are 10.96.0.x). */
const clusterIp = (i: number) => `10.96.${1 + (i >> 8)}.${i & 255}`;

type Proxy = 'weft' | 'kube-proxy';
const PROXIES: readonly Proxy[] = ['weft', 'kube-proxy'];

interface Lab {
  proxy: Proxy;
  name: string;
  client: LabClient;
  api: KubeClient;
  /** Node namespaces (names under /run/netns), n1 first. */
  nodes: string[];
  /** The table holding the proxy's `service-ips` map. */
  table: string;
  serverIp: string;
  serverNs: string;
  clientNs: string;
}

interface Tools {
  root: string;
  exec: NodeExec;
  weft: (args: string[], input?: string) => string;
}

const asError = (e: unknown) => (e instanceof Error ? e : new Error(String(e)));
const progress = (text: string) => process.stderr.write(`peers (kube-proxy): ${text}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

/** Why the rows cannot be measured here, or undefined. */
export function kubeProxyRowsMissing(): string | undefined {
  if (!findKubeBinaries()) return 'the Kubernetes binaries are not built (scripts/build-kube.sh)';
  return kubeProxyMissing();
}

/** The lab names this part uses (for the bench's teardown). */
export const KUBE_PROXY_LABS = PROXIES.map((p) => labName(p));
function labName(p: Proxy): string {
  return `${LAB_PREFIX}pk${p === 'weft' ? 'w' : 'p'}`;
}

function nftIn(ns: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
}

/** Server-side apply of one object (field manager weft-bench). */
async function ssa(
  api: KubeClient,
  obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
) {
  const path = resourcePath(resourceOf(obj.kind as K8sKind), {
    namespace: obj.metadata.namespace,
    name: obj.metadata.name,
  });
  await api.request('PATCH', `${path}?fieldManager=weft-bench&force=true`, obj, APPLY_PATCH);
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const load: ServiceLoad = { namespace: LOAD_NS, services: SERVICES, endpointsPerService: ENDPOINTS };
const loadService = (i: number) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: `s${i}`, namespace: LOAD_NS },
  spec: { clusterIP: clusterIp(i), ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }] },
});
const slice = (i: number, moved?: ReadonlyMap<number, number>) =>
  JSON.parse(loadSlice(load, i, moved)) as {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace: string };
  };

/** Waits until namespace `ns` has its default ServiceAccount (the API server refuses pods before). */
async function waitServiceAccount(tools: Tools, lab: string, ns: string): Promise<void> {
  const kubectl = findKubeBinaries()!.kubectl;
  const kubeconfig = join(tools.root, lab, 'kube', 'admin.kubeconfig');
  for (let i = 0; i < 900; i++) {
    const r = spawnSync(kubectl, ['--kubeconfig', kubeconfig, 'get', 'serviceaccount', 'default', '-n', ns]);
    if (r.status === 0) return;
    await sleep(100);
  }
  throw new Error(`lab ${lab}: namespace ${ns} has no default ServiceAccount after 90 s`);
}

// Port 5202 (iperf3's, started in the server pod by the bench) is not declared: the runner would serve it.
const pod = (name: string, node: string, app: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS}, labels: { app: ${app} } }\n` +
  `spec: { nodeName: ${node}, containers: [{ name: s, image: ${IMAGE}, ports: [{ containerPort: 80 }] }] }\n`;
const WEB =
  `apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: ${NS} }\n` +
  `spec: { clusterIP: ${WEB_IP}, selector: { app: server }, ports: [{ name: http, port: 80 }, { name: iperf, port: 5202 }] }\n`;

async function labUp(tools: Tools, proxy: Proxy): Promise<Lab> {
  const name = labName(proxy);
  const t = performance.now();
  tools.weft([
    'lab',
    'up',
    '--name',
    name,
    '--nodes',
    '3',
    '--api',
    'kube',
    '--dns-replicas',
    '0',
    '--service-cidr',
    SERVICE_CIDR,
    ...(proxy === 'kube-proxy' ? ['--services', 'kube-proxy'] : []),
  ]);
  tools.weft(['apply', '--lab', name, '-f', '-'], `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n`);
  await waitServiceAccount(tools, name, NS);
  tools.weft(
    ['apply', '--lab', name, '-f', '-'],
    [pod('server', 'n1', 'server'), pod('client', 'n2', 'client'), WEB].join('---\n'),
  );
  const client = LabClient.open(tools.root, name, tools.exec);
  const serverIp = (await client.pods()).find((p) => p.stored.object.metadata.name === 'server')?.status?.podIP;
  if (!serverIp) throw new Error(`lab ${name}: the server pod has no IP`);
  const api = new KubeClient(await loadKubeconfig(client.record.api!.adminKubeconfig));
  const lab: Lab = {
    proxy,
    name,
    client,
    api,
    nodes: client.record.nodes.map((n) => n.ns),
    table: proxy === 'weft' ? SERVICES_TABLE : 'kube-proxy',
    serverIp,
    serverNs: await client.podNetnsPath(NS, 'server'),
    clientNs: await client.podNetnsPath(NS, 'client'),
  };
  await tools.exec.run({
    argv: [process.execPath, CONNECT_UNTIL],
    input: `${WEB_IP} 80\n`,
    netns: lab.clientNs,
    timeoutMs: 60_000,
    context: `lab ${name}: connect to ${WEB_IP}:80`,
  });
  progress(
    `lab ${name} (${proxy}) up, ${WEB_IP} → ${serverIp} connects, ${((performance.now() - t) / 1000).toFixed(0)} s`,
  );
  return lab;
}

/** Elements of the proxy's service-ips map in namespace `ns`. */
function serviceIpsCount(lab: Lab, ns: string): number {
  const r = nftIn(ns, ['-j', 'list', 'map', 'ip', lab.table, SERVICES_OBJECTS.serviceIps]);
  if (r.status !== 0) throw new Error(`${ns}: nft list map ip ${lab.table} service-ips: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { nftables: Array<{ map?: { elem?: unknown[] } }> };
  return j.nftables.find((o) => o.map)?.map?.elem?.length ?? 0;
}

/**
 * Whether every one of `keys` (indexes of load Services) is in the proxy's service-ips map of `ns`.
 * Not spawnSync: the same process is writing the load, and must not stall while nft runs.
 */
function hasKeys(lab: Lab, ns: string, keys: readonly number[]): Promise<boolean> {
  const elems = keys.map((i) => `${clusterIp(i)} . tcp . 80`).join(', ');
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, 'nft', 'get', 'element', 'ip', lab.table, SERVICES_OBJECTS.serviceIps, `{ ${elems} }`],
    { stdio: 'ignore' },
  );
  return new Promise((resolve) => {
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

interface ProgramTimes {
  applyMs: number;
  /** Per node (n1..n3): first request → the node's map held every Service (ms). */
  fromStartMs: number[];
  /** Per node: last answer → the same moment (ms). */
  fromApplyEndMs: number[];
  elementsBefore: number;
}

/** Writes the load to the API server and times each node's ruleset until it holds every Service. */
async function program(lab: Lab): Promise<ProgramTimes> {
  const before = serviceIpsCount(lab, lab.nodes[0]!);
  const want = before + SERVICES;
  const sample = Array.from({ length: 20 }, (_, k) => Math.floor((k * (SERVICES - 1)) / 19));
  await ssa(lab.api, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LOAD_NS } });
  const objects = Array.from({ length: SERVICES }, (_, i) => [loadService(i), slice(i)]).flat();
  const done = new Map<string, number>();
  const t0 = performance.now();
  let applyEnd: number | undefined;
  let applyError: unknown;
  const applying = inParallel(objects, IN_FLIGHT, (o) => ssa(lab.api, o)).then(
    () => (applyEnd = performance.now()),
    (err: unknown) => (applyError = err),
  );
  while (done.size < lab.nodes.length) {
    if (applyError) throw asError(applyError);
    await Promise.all(
      lab.nodes.map(async (ns) => {
        if (done.has(ns) || !(await hasKeys(lab, ns, sample))) return;
        const at = performance.now();
        if (serviceIpsCount(lab, ns) >= want) done.set(ns, at);
      }),
    );
    if (performance.now() - t0 > 1_800_000)
      throw new Error(`lab ${lab.name}: ${done.size}/${lab.nodes.length} nodes programmed after 30 min`);
    await sleep(POLL_MS);
  }
  await applying;
  if (applyError) throw asError(applyError);
  const times = {
    applyMs: applyEnd! - t0,
    fromStartMs: lab.nodes.map((ns) => done.get(ns)! - t0),
    fromApplyEndMs: lab.nodes.map((ns) => done.get(ns)! - applyEnd!),
    elementsBefore: before,
  };
  progress(
    `${lab.proxy}: ${SERVICES} Services written in ${(times.applyMs / 1000).toFixed(1)} s; nodes programmed ${times.fromApplyEndMs.map((m) => fmtMs(m)).join(', ')} ms after the last answer`,
  );
  return times;
}

/**
 * `nft monitor` in one node namespace: resolves when a line names an awaited address. A monitor
 * that exits is started again (nft monitor gives up when a burst overflows its socket, e.g. a
 * full resync of a large table); `restarts` counts that, and a change it missed is redone.
 */
class Monitor {
  private child: ChildProcess | undefined;
  private waiting: { re: RegExp; resolve: (at: number) => void } | undefined;
  private closed = false;
  restarts = 0;
  lastError = '';

  constructor(private readonly ns: string) {
    this.start();
  }

  private start(): void {
    const child = spawn('ip', ['netns', 'exec', this.ns, 'nft', 'monitor'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.lastError = d.trim()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (this.waiting?.re.test(line)) {
        const w = this.waiting;
        this.waiting = undefined;
        w.resolve(performance.now());
      }
    });
    child.on('close', () => {
      if (this.closed) return;
      this.restarts++;
      this.start();
    });
  }

  /** Resolves with the time of the first line (from now on) naming `ip`. */
  expect(ip: string): Promise<number> {
    const re = new RegExp(`(^|[^0-9.])${ip.replace(/\./g, '\\.')}([^0-9]|$)`);
    return new Promise((resolve) => (this.waiting = { re, resolve }));
  }

  close(): void {
    this.closed = true;
    this.child?.kill('SIGTERM');
  }
}

/** `p`, or a rejection with `message` after `ms`. */
async function within<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** CHANGES endpoint changes per lab, alternating labs: ms until every node printed the new address. */
async function changes(
  labs: readonly Lab[],
): Promise<Record<Proxy, { lastNodeMs: number[]; requestMs: number[]; redone: number; monitorRestarts: number }>> {
  const monitors = new Map(labs.map((l) => [l.proxy, l.nodes.map((ns) => new Monitor(ns))]));
  const fresh = () => ({ lastNodeMs: [] as number[], requestMs: [] as number[], redone: 0, monitorRestarts: 0 });
  const out = { weft: fresh(), 'kube-proxy': fresh() };
  try {
    // A first change per lab, not counted: every monitor has subscribed once it has seen it (on a
    // loaded machine `nft monitor` can take over a second to start, and weft's change is faster).
    for (const lab of labs)
      for (let attempt = 1; ; attempt++) {
        const ip = loadEndpointIp(SERVICES - 1, 0, 151 - attempt);
        const seen = Promise.all(monitors.get(lab.proxy)!.map((m) => m.expect(ip)));
        await sleep(1000);
        await ssa(lab.api, slice(SERVICES - 1, new Map([[0, 151 - attempt]])));
        try {
          await within(seen, 30_000, `${lab.proxy}: the warm-up change (${ip}) not on every node after 30 s`);
          break;
        } catch (err) {
          if (attempt === 3) throw err;
        }
      }
    await sleep(1500);
    let variant = 0; // a new address for endpoint 0 each change (1..149)
    for (let t = 0; t < CHANGES; t++) {
      const order = t % 2 === 0 ? labs : [...labs].reverse();
      for (const lab of order) {
        const i = (t * 7919) % SERVICES;
        for (;;) {
          variant++;
          const ip = loadEndpointIp(i, 0, variant);
          const waits = monitors.get(lab.proxy)!.map((m) => m.expect(ip));
          const t0 = performance.now();
          await ssa(lab.api, slice(i, new Map([[0, variant]])));
          const requestMs = performance.now() - t0;
          try {
            const at = await within(Promise.all(waits), 20_000, `${ip} not seen on every node after 20 s`);
            out[lab.proxy].lastNodeMs.push(Math.max(...at) - t0);
            out[lab.proxy].requestMs.push(requestMs);
            break;
          } catch (err) {
            // A monitor restarted meanwhile may have missed it: the change is redone (and counted).
            out[lab.proxy].redone++;
            progress(`${lab.proxy}: change ${t + 1}: ${(err as Error).message}; redone`);
            if (out[lab.proxy].redone > 5) throw err;
          } finally {
            await sleep(1500);
          }
        }
      }
      progress(
        `change ${t + 1}: weft ${fmtMs(out.weft.lastNodeMs.at(-1)!)} ms, kube-proxy ${fmtMs(out['kube-proxy'].lastNodeMs.at(-1)!)} ms`,
      );
    }
    for (const [proxy, ms] of monitors) out[proxy].monitorRestarts = ms.reduce((a, m) => a + m.restarts, 0);
  } finally {
    for (const ms of monitors.values()) for (const m of ms) m.close();
  }
  return out;
}

interface RuleCount {
  tables: Record<string, { rules: number; elements: number; chains: number }>;
  proxy: { rules: number; elements: number; chains: number };
  total: { rules: number; elements: number; chains: number };
}

/** Rules, chains and set/map elements in `ns`, per table, the proxy's tables, and all. */
function ruleCount(lab: Lab, ns: string): RuleCount {
  const r = nftIn(ns, ['-j', 'list', 'ruleset']);
  if (r.status !== 0) throw new Error(`${ns}: nft list ruleset: ${r.stderr}`);
  type Obj = Record<string, { family: string; table?: string; name: string; elem?: unknown[] }>;
  const objs = (JSON.parse(r.stdout) as { nftables: Obj[] }).nftables;
  const tables: RuleCount['tables'] = {};
  const of = (family: string, table: string) => (tables[`${family} ${table}`] ??= { rules: 0, elements: 0, chains: 0 });
  for (const o of objs) {
    if (o.rule) of(o.rule.family, o.rule.table!).rules++;
    else if (o.chain) of(o.chain.family, o.chain.table!).chains++;
    else if (o.set) of(o.set.family, o.set.table!).elements += o.set.elem?.length ?? 0;
    else if (o.map) of(o.map.family, o.map.table!).elements += o.map.elem?.length ?? 0;
  }
  const sum = (keys: string[]) =>
    keys.reduce(
      (a, k) => ({
        rules: a.rules + tables[k]!.rules,
        elements: a.elements + tables[k]!.elements,
        chains: a.chains + tables[k]!.chains,
      }),
      { rules: 0, elements: 0, chains: 0 },
    );
  const mine = Object.keys(tables).filter((k) => k.endsWith(` ${lab.table}`));
  return { tables, proxy: sum(mine), total: sum(Object.keys(tables)) };
}

/** ClusterIP traffic in pairs, alternating which lab goes first (see the top of this file). */
async function traffic(exec: NodeExec, labs: readonly Lab[]) {
  const got = new Map(
    labs.map((l) => [
      l.proxy,
      { vipCps: [] as number[], vipBps: [] as number[], podCps: [] as number[], podBps: [] as number[] },
    ]),
  );
  for (let pair = 0; pair < PAIRS; pair++) {
    const order = pair % 2 === 0 ? labs : [...labs].reverse();
    for (const lab of order) {
      const g = got.get(lab.proxy)!;
      g.vipCps.push(await connRate(exec, lab.clientNs, WEB_IP, 1500));
      g.vipBps.push(
        await iperf(exec, { serverNs: lab.serverNs, clientNs: lab.clientNs, ip: WEB_IP, seconds: 2, port: 5202 }),
      );
    }
    for (const lab of order) {
      const g = got.get(lab.proxy)!;
      g.podCps.push(await connRate(exec, lab.clientNs, lab.serverIp, 1500));
      g.podBps.push(
        await iperf(exec, { serverNs: lab.serverNs, clientNs: lab.clientNs, ip: lab.serverIp, seconds: 2, port: 5202 }),
      );
    }
    const w = got.get('weft')!;
    const k = got.get('kube-proxy')!;
    progress(
      `traffic pair ${pair + 1}: conn/s ${w.vipCps.at(-1)!.toFixed(0)} vs ${k.vipCps.at(-1)!.toFixed(0)}, ${(w.vipBps.at(-1)! / 1e9).toFixed(2)} vs ${(k.vipBps.at(-1)! / 1e9).toFixed(2)} Gbit/s`,
    );
  }
  // The ClusterIP connections went through each proxy's DNAT: they are in n2's conntrack.
  for (const lab of labs) {
    const ct = spawnSync('ip', ['netns', 'exec', lab.nodes[1]!, 'conntrack', '-L', '-p', 'tcp', '--orig-dst', WEB_IP], {
      encoding: 'utf8',
    });
    if (!ct.stdout.includes(`src=${lab.serverIp}`))
      throw new Error(`${lab.name}: no DNAT of ${WEB_IP} to ${lab.serverIp} in n2's conntrack`);
  }
  const w = got.get('weft')!;
  const k = got.get('kube-proxy')!;
  const pairRatio = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]!));
  return {
    weft: w,
    kubeProxy: k,
    connRatio: pairRatio(w.vipCps, k.vipCps),
    throughputRatio: pairRatio(w.vipBps, k.vipBps),
    podConnRatio: pairRatio(w.podCps, k.podCps),
    podThroughputRatio: pairRatio(w.podBps, k.podBps),
  };
}

/** Measures the kube-proxy rows into `rows` and `results.kubeProxy`; takes its labs down. */
export async function kubeProxyRows(tools: Tools, rows: BenchRow[], results: Record<string, unknown>): Promise<void> {
  const missing = kubeProxyRowsMissing();
  if (missing) {
    rows.push({
      what: 'weft vs kube-proxy (all figures)',
      weft: '-',
      baseline: 'not measured',
      ratio: '-',
      note: missing,
    });
    results.kubeProxy = { notMeasured: missing };
    return;
  }
  const labs: Lab[] = [];
  try {
    for (const p of PROXIES) labs.push(await labUp(tools, p));
    const tr = await traffic(tools.exec, labs);
    const prog: Partial<Record<Proxy, ProgramTimes>> = {};
    for (const lab of labs) prog[lab.proxy] = await program(lab);
    const ch = await changes(labs);
    const counts = Object.fromEntries(labs.map((l) => [l.proxy, ruleCount(l, l.nodes[0]!)])) as Record<
      Proxy,
      RuleCount
    >;

    const w = prog.weft!;
    const k = prog['kube-proxy']!;
    const slowest = (xs: number[]) => Math.max(...xs);
    results.kubeProxy = {
      kubeProxy: `v${KUBE_VERSION}, --proxy-mode=nftables`,
      labs: `2 labs of 3 nodes, vxlan, --api kube, --service-cidr ${SERVICE_CIDR}, both up for the whole run`,
      services: SERVICES,
      endpointsPerService: ENDPOINTS,
      traffic: { pairs: PAIRS, ...tr },
      program: {
        how: 'server-side apply of every Service and slice, 8 in flight; each node polled every 200 ms (nft get element of 20 sample keys, then a full count of service-ips)',
        weft: w,
        kubeProxy: k,
        slowestNodeFromApplyEndRatio: slowest(w.fromApplyEndMs) / slowest(k.fromApplyEndMs),
        slowestNodeFromStartRatio: slowest(w.fromStartMs) / slowest(k.fromStartMs),
      },
      change: {
        how: 'one slice re-applied (server-side apply) with endpoint 0 moved; until an nft monitor in every node printed the new address; labs alternate, 1.5 s between changes',
        weft: { ...ch.weft, p50Ms: median(ch.weft.lastNodeMs), p99Ms: percentile(ch.weft.lastNodeMs, 99) },
        kubeProxy: {
          ...ch['kube-proxy'],
          p50Ms: median(ch['kube-proxy'].lastNodeMs),
          p99Ms: percentile(ch['kube-proxy'].lastNodeMs, 99),
        },
        p99Ratio: percentile(ch.weft.lastNodeMs, 99) / percentile(ch['kube-proxy'].lastNodeMs, 99),
      },
      ruleCount: { node: 'n1', weft: counts.weft, kubeProxy: counts['kube-proxy'] },
    };

    const scale = `${SERVICES.toLocaleString('en-US')} Services x${ENDPOINTS}`;
    rows.push({
      what: 'new TCP conn/s via ClusterIP (n2 → n1)',
      weft: `${median(tr.weft.vipCps).toFixed(0)} /s`,
      baseline: `${median(tr.kubeProxy.vipCps).toFixed(0)} /s kube-proxy`,
      ratio: tr.connRatio.toFixed(3),
      note: `median of ${PAIRS} pair ratios; to the pod IP: ${tr.podConnRatio.toFixed(3)}`,
    });
    rows.push({
      what: 'TCP throughput via ClusterIP (n2 → n1)',
      weft: `${(median(tr.weft.vipBps) / 1e9).toFixed(2)} Gbit/s`,
      baseline: `${(median(tr.kubeProxy.vipBps) / 1e9).toFixed(2)} Gbit/s kube-proxy`,
      ratio: tr.throughputRatio.toFixed(3),
      note: `iperf3 2 s; to the pod IP: ${tr.podThroughputRatio.toFixed(3)}`,
    });
    rows.push({
      what: `${scale}: program every node`,
      weft: `${fmtMs(slowest(w.fromApplyEndMs))} ms after apply`,
      baseline: `${fmtMs(slowest(k.fromApplyEndMs))} ms kube-proxy`,
      ratio: (slowest(w.fromApplyEndMs) / slowest(k.fromApplyEndMs)).toFixed(2),
      note: `slowest node; from the first request ${(slowest(w.fromStartMs) / 1000).toFixed(1)} s vs ${(slowest(k.fromStartMs) / 1000).toFixed(1)} s (apply ${(w.applyMs / 1000).toFixed(1)} / ${(k.applyMs / 1000).toFixed(1)} s)`,
    });
    rows.push({
      what: `${scale}: one change → all 3 nodes`,
      weft: `p50 ${fmtMs(median(ch.weft.lastNodeMs))}, p99 ${fmtMs(percentile(ch.weft.lastNodeMs, 99))} ms`,
      baseline: `p50 ${fmtMs(median(ch['kube-proxy'].lastNodeMs))}, p99 ${fmtMs(percentile(ch['kube-proxy'].lastNodeMs, 99))} ms kube-proxy`,
      ratio: (percentile(ch.weft.lastNodeMs, 99) / percentile(ch['kube-proxy'].lastNodeMs, 99)).toFixed(2),
      note: `${CHANGES} changes each, p99 ratio; nft monitor in every node`,
    });
    rows.push({
      what: `${scale}: nftables rules in a node`,
      weft: `${counts.weft.proxy.rules} rules, ${counts.weft.proxy.elements} elements`,
      baseline: `${counts['kube-proxy'].proxy.rules} rules, ${counts['kube-proxy'].proxy.elements} elements kube-proxy`,
      ratio: (counts.weft.proxy.rules / counts['kube-proxy'].proxy.rules).toFixed(4),
      note: `the proxy's tables in n1 (rules ratio); chains ${counts.weft.proxy.chains} vs ${counts['kube-proxy'].proxy.chains}`,
    });
  } finally {
    for (const lab of labs) {
      lab.api.close();
      await lab.client.close();
    }
    for (const p of PROXIES)
      try {
        tools.weft(['lab', 'down', '--name', labName(p)]);
      } catch (err) {
        progress(`lab down ${labName(p)}: ${(err as Error).message}`);
      }
  }
}
