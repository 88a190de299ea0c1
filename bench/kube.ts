/**
 * Benchmark of the lab on a real Kubernetes API (issue 17, `weft lab up --api kube`), each figure
 * beside the embedded lab (`--api embedded`, SQLite) measured in the same run, as a ratio kube / embedded:
 * - bring-up: `weft lab up --dns-replicas 0` (until every node is Ready) at 3 and 20 nodes; with
 *   --api kube that includes starting etcd, kube-apiserver and kube-controller-manager and the
 *   lab's certificates;
 * - pod create → Running through the API: one manifest of 100 pods given to `weft apply --no-wait`
 *   (the API server's server-side apply with --api kube), the pods' status listed every 50 ms
 *   through the lab's object store (the API server, or SQLite): each pod's latency runs from the
 *   first list that shows it to the first that shows it Running (the API's creationTimestamp has
 *   only whole seconds); p50 and p99 over the pods, and apply → all Running; 3-node labs;
 * - policy apply → enforced: a client pod on n1 connects to a server pod on n2 over and over
 *   (bench/connect-until.js in its namespace); the time from starting `weft apply` of a
 *   NetworkPolicy that denies all ingress to the server until the first connect that fails (three
 *   in a row), and from `weft delete` of it until connects succeed again. Real traffic, not the
 *   agents' revisions: with --api kube an agent's cache revision for quiet kinds moves only with
 *   watch bookmarks. Each trial also applies the policy in this process (LabClient.apply, what
 *   `weft apply` runs) to take the CLI's own start out. Median and p99 over the trials; 3-node labs.
 * Prints a table and writes bench/results/kube.json. Not a test: it asserts nothing about time.
 *
 * Run: npm run bench   (as root, with the Kubernetes binaries built), or node dist/bench/kube.js with
 *      WEFT_BENCH_KUBE=bringup,pods,policy (default all), and to shrink a run
 *      WEFT_BENCH_KUBE_NODES=3,20 (bring-up sizes), WEFT_BENCH_KUBE_PODS=100, WEFT_BENCH_KUBE_TRIALS=7.
 *      Labs kbu<N>e/k, kbpe/k, kbne/k under a temp root.
 */

import { spawn, spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchLabs, podsManifest } from './bench-labs.js';
import { carryParts, median, percentile, report, sizeFromEnv, type BenchRow } from './report.js';
import { NodeExec } from '../src/adapters/exec.js';
import { LabClient } from '../src/lab/client.js';
import { findKubeBinaries } from '../src/lab/kube-control-plane.js';
import { parseManifestLocated } from '../src/core/k8s/parse.js';

const ALL_PARTS = ['bringup', 'pods', 'policy'] as const;
const PARTS = new Set((process.env.WEFT_BENCH_KUBE || ALL_PARTS.join(',')).split(','));
for (const p of PARTS)
  if (!(ALL_PARTS as readonly string[]).includes(p))
    throw new Error(`WEFT_BENCH_KUBE: unknown part "${p}" (want some of ${ALL_PARTS.join(',')})`);
const RESULT_KEY: Record<(typeof ALL_PARTS)[number], string> = {
  bringup: 'bringUp',
  pods: 'pods',
  policy: 'policy',
};

const BRINGUP_NODES = (process.env.WEFT_BENCH_KUBE_NODES ?? '3,20').split(',').map((t) => {
  const n = Number(t);
  if (!Number.isInteger(n) || n < 1) throw new Error(`WEFT_BENCH_KUBE_NODES: "${t}" is not a node count`);
  return n;
});
const PODS = sizeFromEnv('WEFT_BENCH_KUBE_PODS', 100);
const TRIALS = sizeFromEnv('WEFT_BENCH_KUBE_TRIALS', 7);
/** The image the API server requires of a container; the lab's runner serves the declared ports whatever it is. */
const IMAGE = 'weft-lab-echo';
const POLL_MS = 50;

const CONNECT_UNTIL = fileURLToPath(new URL('./connect-until.js', import.meta.url));
const { root, weft, weftAsync, teardown } = benchLabs('kube');
const exec = new NodeExec();

type Api = 'embedded' | 'kube';
const APIS: readonly Api[] = ['embedded', 'kube'];
const apiArgs = (api: Api) => (api === 'kube' ? ['--api', 'kube'] : []);
const labName = (part: string, api: Api) => `kb${part}${api === 'kube' ? 'k' : 'e'}`;
const LABS = [...BRINGUP_NODES.map((n) => `u${n}`), 'p', 'n'].flatMap((part) => APIS.map((a) => labName(part, a)));

const rows: BenchRow[] = [];
const results: Record<string, unknown> = { date: new Date().toISOString() };

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function labUp(name: string, api: Api, nodes: number): void {
  weft(['lab', 'up', '--name', name, '--nodes', String(nodes), '--dns-replicas', '0', ...apiArgs(api)]);
}

/**
 * Applies a Namespace, and with --api kube waits for its default ServiceAccount (the API server's
 * admission refuses pods in a namespace until the controller manager has made it).
 */
async function makeNamespace(name: string, api: Api, ns: string): Promise<void> {
  weft(['apply', '--lab', name, '-f', '-'], `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${ns} }\n`);
  if (api !== 'kube') return;
  const kubectl = findKubeBinaries()!.kubectl;
  const kubeconfig = join(root, name, 'kube', 'admin.kubeconfig');
  for (let i = 0; i < 600; i++) {
    const r = spawnSync(kubectl, ['--kubeconfig', kubeconfig, 'get', 'serviceaccount', 'default', '-n', ns], {
      encoding: 'utf8',
    });
    if (r.status === 0) return;
    await sleep(100);
  }
  throw new Error(`lab ${name}: namespace ${ns} has no default ServiceAccount after 60 s`);
}

async function bringUp(): Promise<void> {
  const out: Record<string, unknown> = {};
  for (const n of BRINGUP_NODES) {
    const ms: Partial<Record<Api, number>> = {};
    for (const api of APIS) {
      const name = labName(`u${n}`, api);
      const t = performance.now();
      labUp(name, api, n);
      ms[api] = performance.now() - t;
      weft(['lab', 'down', '--name', name]);
      console.error(`lab up ${n} nodes, --api ${api}: ${secs(ms[api])}`);
    }
    out[`${n}`] = { nodes: n, kubeMs: ms.kube, embeddedMs: ms.embedded, ratio: ms.kube! / ms.embedded! };
    rows.push({
      what: `lab up, ${n} nodes`,
      weft: `${secs(ms.kube!)} --api kube`,
      baseline: `${secs(ms.embedded!)} embedded`,
      ratio: `${(ms.kube! / ms.embedded!).toFixed(1)}x`,
      note: '--dns-replicas 0, until every node Ready',
    });
  }
  results.bringUp = out;
}

interface PodTimes {
  /** Per pod: first list showing it → first list showing it Running (ms). */
  latencies: number[];
  /** `weft apply` started → every pod Running (ms). */
  totalMs: number;
  /** Per pod: `weft apply` started → first list showing it Running (ms): what the user waits. */
  fromApply: number[];
  /** `weft apply` started → it returned (ms). */
  applyMs: number;
  /** Median time one list of the pods took (ms): with the 50 ms pause, the resolution of the times. */
  listMs: number;
}

/** Creates PODS pods in one `weft apply --no-wait` and times each to Running by listing the lab's store. */
async function podsOn(name: string, api: Api): Promise<PodTimes> {
  labUp(name, api, 3);
  await makeNamespace(name, api, 'bench');
  const client = LabClient.open(root, name, exec);
  try {
    const seen = new Map<string, number>();
    const running = new Map<string, number>();
    const t0 = performance.now();
    let applyMs = 0;
    let applyError: unknown;
    const applying = weftAsync(['apply', '--lab', name, '--no-wait', '-f', '-'], podsManifest('bench', PODS, IMAGE))
      .then(() => (applyMs = performance.now() - t0))
      .catch((err: unknown) => (applyError = err));
    const lists: number[] = [];
    while (running.size < PODS) {
      if (applyError) throw applyError;
      const listed = performance.now();
      const pods = (await client.store.list('Pod')).filter((p) => p.object.metadata.namespace === 'bench');
      const now = performance.now();
      lists.push(now - listed);
      for (const p of pods) {
        const key = p.object.metadata.name;
        if (!seen.has(key)) seen.set(key, now);
        if (p.object.status?.phase === 'Failed')
          throw new Error(`lab ${name}: pod bench/${key} failed: ${p.object.status.message ?? ''}`);
        if (p.object.status?.phase === 'Running' && !running.has(key)) running.set(key, now);
      }
      if (now - t0 > 600_000) throw new Error(`lab ${name}: ${running.size}/${PODS} pods Running after 10 min`);
      await sleep(POLL_MS);
    }
    const totalMs = performance.now() - t0;
    await applying;
    return {
      latencies: [...running].map(([k, at]) => at - seen.get(k)!),
      fromApply: [...running.values()].map((at) => at - t0),
      totalMs,
      applyMs,
      listMs: median(lists),
    };
  } finally {
    await client.close();
    weft(['lab', 'down', '--name', name]);
  }
}

async function pods(): Promise<void> {
  const times: Partial<Record<Api, PodTimes>> = {};
  for (const api of APIS) {
    times[api] = await podsOn(labName('p', api), api);
    const t = times[api];
    console.error(
      `${PODS} pods --api ${api}: p50 ${median(t.latencies).toFixed(0)} ms, p99 ${percentile(t.latencies, 99).toFixed(0)} ms, all Running ${secs(t.totalMs)}`,
    );
  }
  const k = times.kube!;
  const e = times.embedded!;
  const summary = (t: PodTimes) => ({
    p50Ms: median(t.latencies),
    p99Ms: percentile(t.latencies, 99),
    fromApplyP50Ms: median(t.fromApply),
    fromApplyP99Ms: percentile(t.fromApply, 99),
    allRunningMs: t.totalMs,
    applyMs: t.applyMs,
    listMs: t.listMs,
    latenciesMs: t.latencies.map((x) => Math.round(x)),
  });
  results.pods = {
    count: PODS,
    nodes: 3,
    client: 'weft apply --no-wait (one manifest), then the store listed every 50 ms',
    pollMs: POLL_MS,
    kube: summary(k),
    embedded: summary(e),
  };
  for (const [what, f] of [
    ['p50', (t: PodTimes) => median(t.latencies)],
    ['p99', (t: PodTimes) => percentile(t.latencies, 99)],
  ] as const)
    rows.push({
      what: `pod create → Running, ${what} of ${PODS}`,
      weft: `${f(k).toFixed(0)} ms --api kube`,
      baseline: `${f(e).toFixed(0)} ms embedded`,
      ratio: `${(f(k) / f(e)).toFixed(1)}x`,
      note: `3 nodes; first seen → Running seen; a list took ${k.listMs.toFixed(0)} / ${e.listMs.toFixed(0)} ms`,
    });
  rows.push({
    what: `weft apply started → pod Running, p50`,
    weft: `${median(k.fromApply).toFixed(0)} ms --api kube`,
    baseline: `${median(e.fromApply).toFixed(0)} ms embedded`,
    ratio: `${(median(k.fromApply) / median(e.fromApply)).toFixed(1)}x`,
    note: `p99 ${percentile(k.fromApply, 99).toFixed(0)} / ${percentile(e.fromApply, 99).toFixed(0)} ms`,
  });
  rows.push({
    what: `${PODS} pods apply → all Running`,
    weft: `${secs(k.totalMs)} --api kube`,
    baseline: `${secs(e.totalMs)} embedded`,
    ratio: `${(k.totalMs / e.totalMs).toFixed(1)}x`,
    note: `weft apply returned after ${secs(k.applyMs)} / ${secs(e.applyMs)}`,
  });
}

const SERVER_AND_CLIENT = ['server', 'client']
  .map(
    (pod, i) =>
      `apiVersion: v1\nkind: Pod\nmetadata: { name: ${pod}, namespace: pol, labels: { app: ${pod} } }\nspec: { nodeName: n${2 - i}, containers: [{ name: s, image: ${IMAGE}, ports: [{ containerPort: 80 }] }] }\n`,
  )
  .join('---\n');
const DENY =
  'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: deny-server, namespace: pol }\nspec: { podSelector: { matchLabels: { app: server } }, policyTypes: [Ingress] }\n';

interface PolicyTimes {
  enforceMs: number[];
  liftMs: number[];
  /** `weft apply` of the policy started → it returned: the CLI and the store (or API server) alone. */
  applyReturnMs: number[];
  /** The same apply → dropped, written by LabClient in this process (what `weft apply` runs, without its start). */
  inProcessEnforceMs: number[];
}

async function policyOn(name: string, api: Api): Promise<PolicyTimes> {
  labUp(name, api, 3);
  const client = LabClient.open(root, name, exec);
  let helper: ReturnType<typeof spawn> | undefined;
  try {
    await makeNamespace(name, api, 'pol');
    weft(['apply', '--lab', name, '-f', '-'], SERVER_AND_CLIENT);
    const ip = (await client.pods()).find((p) => p.stored.object.metadata.name === 'server' && p.status?.podIP)?.status
      ?.podIP;
    if (!ip) throw new Error(`lab ${name}: pol/server has no address`);
    const clientNs = await client.podNetnsPath('pol', 'client');
    const child = spawn('nsenter', [`--net=${clientNs}`, '--', process.execPath, CONNECT_UNTIL], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    helper = child;
    const answers = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async (what: string): Promise<number> => {
      const line = await answers.next();
      if (line.done) throw new Error(`lab ${name}: connect-until ended while waiting for ${what}`);
      return (JSON.parse(String(line.value)) as { at: number }).at;
    };
    child.stdin.write(`${ip} 80\n`);
    await next('the first connection');
    const times: PolicyTimes = { enforceMs: [], liftMs: [], applyReturnMs: [], inProcessEnforceMs: [] };
    const deny = parseManifestLocated(DENY).map((l) => ({ object: l.object, where: `deny: ${l.where}` }));
    for (let i = 0; i < TRIALS; i++) {
      child.stdin.write(`${ip} 80 fail\n`);
      const t0 = Date.now();
      await weftAsync(['apply', '--lab', name, '-f', '-'], DENY);
      times.applyReturnMs.push(Date.now() - t0);
      times.enforceMs.push((await next('the policy to drop connections')) - t0);
      child.stdin.write(`${ip} 80\n`);
      const t1 = Date.now();
      await weftAsync(['delete', '--lab', name, '-f', '-'], DENY);
      times.liftMs.push((await next('connections after the policy is deleted')) - t1);
      // Again without the CLI's process: the store (or API server) and the agents alone.
      child.stdin.write(`${ip} 80 fail\n`);
      const t2 = Date.now();
      await client.apply(deny);
      times.inProcessEnforceMs.push((await next('the policy to drop connections')) - t2);
      child.stdin.write(`${ip} 80\n`);
      await client.delete(deny, false);
      await next('connections after the policy is deleted');
    }
    return times;
  } finally {
    helper?.kill('SIGKILL');
    await client.close();
    weft(['lab', 'down', '--name', name]);
  }
}

async function policy(): Promise<void> {
  const times: Partial<Record<Api, PolicyTimes>> = {};
  for (const api of APIS) {
    times[api] = await policyOn(labName('n', api), api);
    console.error(
      `policy --api ${api}: enforced ${times[api].enforceMs.join(', ')} ms; lifted ${times[api].liftMs.join(', ')} ms; in-process ${times[api].inProcessEnforceMs.join(', ')} ms`,
    );
  }
  const k = times.kube!;
  const e = times.embedded!;
  const summary = (xs: number[]) => ({ p50Ms: median(xs), p99Ms: percentile(xs, 99), trialsMs: xs });
  results.policy = {
    trials: TRIALS,
    nodes: 3,
    how: 'client on n1 connects to server on n2 (100 ms per try) until three fail in a row; from weft apply started',
    kube: {
      enforce: summary(k.enforceMs),
      lift: summary(k.liftMs),
      applyReturn: summary(k.applyReturnMs),
      inProcessEnforce: summary(k.inProcessEnforceMs),
    },
    embedded: {
      enforce: summary(e.enforceMs),
      lift: summary(e.liftMs),
      applyReturn: summary(e.applyReturnMs),
      inProcessEnforce: summary(e.inProcessEnforceMs),
    },
  };
  for (const [what, pick] of [
    ['deny policy apply → traffic dropped', (t: PolicyTimes) => t.enforceMs],
    ['policy delete → traffic again', (t: PolicyTimes) => t.liftMs],
    ['deny policy: weft apply returned', (t: PolicyTimes) => t.applyReturnMs],
    ['deny policy stored in-process → dropped', (t: PolicyTimes) => t.inProcessEnforceMs],
  ] as const)
    rows.push({
      what: `${what}, p50`,
      weft: `${median(pick(k))} ms --api kube`,
      baseline: `${median(pick(e))} ms embedded`,
      ratio: `${(median(pick(k)) / median(pick(e))).toFixed(1)}x`,
      note: `${TRIALS} trials; p99 ${percentile(pick(k), 99)} / ${percentile(pick(e), 99)} ms`,
    });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/kube: run as root');
  if (!findKubeBinaries())
    throw new Error('bench/kube: the Kubernetes binaries are not built (scripts/setup.sh builds them)');
  const load = () => loadavg().map((x) => Number(x.toFixed(2)));
  const loadBefore = load();
  if (PARTS.has('bringup')) await bringUp();
  if (PARTS.has('pods')) await pods();
  if (PARTS.has('policy')) await policy();
  // The machine's load (1, 5, 15 min) around the run: the figures of a busy machine say so.
  results.loadAverage = { before: loadBefore, after: load(), cores: cpus().length };
  console.error(`load average before ${loadBefore.join(' ')}, after ${load().join(' ')} (${cpus().length} cores)`);
  carryParts(
    'kube',
    ALL_PARTS.map((p) => RESULT_KEY[p]),
    (key) => ALL_PARTS.some((p) => RESULT_KEY[p] === key && PARTS.has(p)),
    results,
  );
  report('kube', rows, results, [44, 22, 20, 7]);
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  })
  .finally(() => {
    teardown(LABS);
  });
