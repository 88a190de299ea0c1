/**
 * Benchmark of the Ingress path (issue 19), each figure beside a baseline of the same run:
 * - throughput and latency: wrk (Debian's) from a client pod, HTTP/1.1 keep-alive, through the
 *   ingress (the LoadBalancer address, Host header → nginx in an ingress pod → a backend pod's
 *   `weft echo-http`) against straight to a backend pod's IP; requests/s and p99, with 1 and with
 *   4 ingress pods (a lab each). Runs alternate which goes first; the figures are the medians.
 * - reconfiguration with 1,000 Ingresses (one host each), two changes while wrk runs through the
 *   ingress and a curl loop runs from outside (a connection per request):
 *   1. an endpoint change (a backend pod deleted gracefully): nginx.conf does not change, the
 *      controller posts the endpoint lists to nginx's Lua balancer, no reload. Measured: the
 *      controller's sync (render + post), the time from the delete until the lists nginx holds
 *      (--work-dir/endpoints) no longer name the endpoint, the reloads during it (0 expected);
 *   2. a rule change (one more Ingress): a new nginx.conf, `nginx -t`, `nginx -s reload`.
 *      Measured: the controller's sync (render, `nginx -t`, reload), the time from the apply
 *      until the running nginx.conf has the host.
 *   For both, the requests that failed: wrk's non-2xx, connect errors and timeouts, and apart
 *   from them its read/write errors (a request sent on a keep-alive connection that an old nginx
 *   worker closed at a reload: HTTP/1.1 lets a client retry those, wrk does not; nginx 1.22 has
 *   no keepalive_min_timeout to hold them open), and the curl loop's.
 * The lab's namespaces, nginx, the backends and wrk share the machine's 2 cores (and whatever
 * else runs on it): the figures are this machine's, not nginx's.
 *
 * Prints a table and writes bench/results/ingress.json. Not a test: it asserts nothing about time.
 * Run: npm run build && node dist/bench/ingress.js   (about 3 minutes).
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { report, type BenchRow } from './report.js';
import { benchLabs } from './bench-labs.js';
import { echoPod } from '../src/testkit/ingress-cases.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const WEFT = [process.execPath, CLI];
const NS = 'bench';
const HOST = 'bench.example.com';
const SECONDS = Number(process.env.WEFT_BENCH_INGRESS_SECONDS ?? 5);
const PAIRS = Number(process.env.WEFT_BENCH_INGRESS_PAIRS ?? 3);
const CONNECTIONS = 32;
const RULES = 1000;

interface WrkResult {
  rps: number;
  p99Ms: number;
  requests: number;
  /** Non-2xx answers, connect errors and timeouts. */
  failed: number;
  /** Read and write errors: the connection closed under a request (by a reload's old worker). */
  closed: number;
}

/** wrk's text report: Requests/sec, the 99% line of --latency, and every failure it counts. */
function parseWrk(text: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)\b/.exec(text);
  const unit = { us: 0.001, ms: 1, s: 1000 }[p99?.[2] as 'us' | 'ms' | 's'] ?? NaN;
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const [connect, read, write, timeout] = sock ? sock.slice(1).map(Number) : [0, 0, 0, 0];
  if (!Number.isFinite(rps) || !p99) throw new Error(`cannot read wrk's report:\n${text}`);
  return {
    rps,
    p99Ms: Number(p99[1]) * unit,
    requests,
    failed: non2xx + connect! + timeout!,
    closed: read! + write!,
  };
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const { root, weft, teardown } = benchLabs('ingress');
const labs: string[] = [];

function lab(name: string) {
  // --lab right after the command: after `exec … --` it would be the program's.
  const w = (args: string[], input?: string) => weft([args[0]!, '--lab', name, ...args.slice(1)], input);
  return {
    w,
    apply: (docs: object[]) => w(['apply', '-f', '-'], docs.map((d) => JSON.stringify(d)).join('\n---\n')),
    wrk: (url: string, seconds: number, host?: string) => parseWrk(w(['exec', ...wrkArgs(url, seconds, host)])),
  };
}

/** `weft exec`'s arguments after the lab: wrk in the client pod against `url` (with a Host header). */
function wrkArgs(url: string, seconds: number, host?: string): string[] {
  return [
    '-n',
    NS,
    'client',
    '--',
    'wrk',
    '-t2',
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    '--latency',
    ...(host ? ['-H', `Host: ${host}`] : []),
    url,
  ];
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function ingressDoc(name: string, host: string): object {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: NS },
    spec: {
      rules: [
        {
          host,
          http: {
            paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }],
          },
        },
      ],
    },
  };
}

interface PodJson {
  metadata: { name: string; namespace: string };
  status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> };
}

/** A lab with `replicas` ingress pods, two backends and a client pod; returns the addresses. */
async function setUp(name: string, replicas: number) {
  labs.push(name);
  weft(['lab', 'up', '--name', name, '--nodes', '2', '--dns-replicas', '0', '--ingress-replicas', String(replicas)]);
  const l = lab(name);
  l.apply([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    echoPod(WEFT, NS, 'web-1', { app: 'web' }, { nodeName: 'n1' }),
    echoPod(WEFT, NS, 'web-2', { app: 'web' }, { nodeName: 'n2', terminationGracePeriodSeconds: 2 }),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: NS },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'client', namespace: NS },
      spec: { nodeName: 'n1', containers: [{ name: 'c' }] },
    },
    ingressDoc('bench', HOST),
  ]);
  const pods = () => (JSON.parse(l.w(['get', 'pods', '-A', '-o', 'json'])) as { items: PodJson[] }).items;
  await waitUntil('every pod Ready', () =>
    pods().every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')),
  );
  const svc = JSON.parse(l.w(['get', 'svc', 'ingress-weft', '-n', 'ingress-weft', '-o', 'json'])) as {
    status: { loadBalancer: { ingress: Array<{ ip: string }> } };
  };
  const lb = svc.status.loadBalancer.ingress[0]!.ip;
  const ip = (pod: string) => pods().find((p) => p.metadata.name === pod)!.status!.podIP!;
  await waitUntil('the Ingress served', () => {
    try {
      return l
        .w(['exec', '-n', NS, 'client', '--', 'curl', '-s', '-m', '2', '-H', `Host: ${HOST}`, `http://${lb}/`])
        .includes('"pod":"web-');
    } catch {
      return false;
    }
  });
  return { l, lb, web1: ip('web-1'), web2: ip('web-2') };
}

/** Alternating pairs of wrk runs: through the ingress and straight to web-1's IP. */
function throughput(l: ReturnType<typeof lab>, lb: string, web1: string) {
  const ingress: WrkResult[] = [];
  const direct: WrkResult[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const runs = [
      () => ingress.push(l.wrk(`http://${lb}/`, SECONDS, HOST)),
      () => direct.push(l.wrk(`http://${web1}:8080/`, SECONDS)),
    ];
    if (i % 2 === 1) runs.reverse();
    for (const r of runs) r();
  }
  const sum = (xs: WrkResult[]) => ({
    rps: median(xs.map((x) => x.rps)),
    p99Ms: median(xs.map((x) => x.p99Ms)),
    failed: xs.reduce((a, x) => a + x.failed, 0),
    runs: xs,
  });
  return { ingress: sum(ingress), direct: sum(direct) };
}

interface ChangeResult {
  /** The controller's log line of the sync that took the change (its timings). */
  sync: { renderMs: number; checkMs: number; reloadMs: number; postMs: number; totalMs: number };
  /**
   * From the weft command that made the change until it was in nginx's hands: `done`, and the
   * controller's log line of that sync (written after the post, or after `nginx -s reload`).
   */
  untilMs: number;
  /** Syncs that reloaded nginx while wrk ran. */
  reloads: number;
  wrk: WrkResult;
  curl: { requests: number; failed: number };
}

/**
 * `change` made while wrk (keep-alive, from the client pod) and a curl loop (from outside, a
 * connection each) send requests through the ingress; `done` resolves once the change is in
 * nginx's hands; the controller's log line `message` of that sync gives its timings.
 */
async function duringChange(
  one: { l: ReturnType<typeof lab>; lb: string },
  message: string,
  change: () => void,
  done: () => Promise<void>,
): Promise<ChangeResult> {
  const logLines = (msg: string) =>
    one.l
      .w(['logs', '-n', 'ingress-weft', 'weft-ingress-1'])
      .split('\n')
      .filter((l) => l.includes(`"msg":"${msg}"`));
  const before = logLines(message).length;
  const reloadsBefore = logLines('nginx configuration applied').length;
  const { spawn } = await import('node:child_process');
  const wrkSeconds = 10;
  const wrk = spawn(
    process.execPath,
    [CLI, 'exec', '--lab', 'ingb1', ...wrkArgs(`http://${one.lb}/`, wrkSeconds, HOST)],
    { env: { ...process.env, WEFT_LAB_ROOT: root }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const stop = join(root, `stop-curl-${Date.now()}`);
  const curl = spawn(
    process.execPath,
    [
      CLI,
      'lab',
      'outside',
      '--lab',
      'ingb1',
      '--',
      'sh',
      '-c',
      `while [ ! -e ${stop} ]; do curl -s -o /dev/null -m 5 -w '%{http_code}\\n' -H 'Host: ${HOST}' http://${one.lb}/ || echo 000; done`,
    ],
    { env: { ...process.env, WEFT_LAB_ROOT: root }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let curlOut = '';
  curl.stdout.on('data', (d: Buffer) => (curlOut += d.toString()));
  const curlDone = new Promise((r) => curl.once('exit', r));
  let wrkOut = '';
  wrk.stdout.on('data', (d: Buffer) => (wrkOut += d.toString()));
  const wrkDone = new Promise((r) => wrk.once('exit', r));
  await new Promise((r) => setTimeout(r, 2000));
  const t0 = Date.now();
  change();
  await done();
  await waitUntil(`the controller's "${message}"`, () => logLines(message).length > before);
  const untilMs = Date.now() - t0;
  const sync = JSON.parse(logLines(message)[before]!) as ChangeResult['sync'];
  await wrkDone;
  writeFileSync(stop, '');
  await curlDone;
  const codes = curlOut.split('\n').filter((l) => l !== '');
  return {
    sync,
    untilMs,
    reloads: logLines('nginx configuration applied').length - reloadsBefore,
    wrk: parseWrk(wrkOut),
    curl: { requests: codes.length, failed: codes.filter((c) => c !== '200').length },
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const one = await setUp('ingb1', 1);
  const t1 = throughput(one.l, one.lb, one.web1);

  // Reconfiguration with 1,000 Ingresses.
  one.l.apply(Array.from({ length: RULES }, (_, i) => ingressDoc(`r${i}`, `r${i}.example.com`)));
  const dir = join(root, 'ingb1', 'ingress', 'weft-ingress-1');
  const conf = join(dir, 'nginx.conf');
  await waitUntil('1,000 Ingresses in nginx.conf', () =>
    readFileSync(conf, 'utf8').includes(`r${RULES - 1}.example.com`),
  );
  const confBytes = readFileSync(conf).length;
  const endpoints = join(dir, 'endpoints');
  await waitUntil('web-2 in the endpoint lists', () => readFileSync(endpoints, 'utf8').includes(`${one.web2}:8080`));
  const endpointChange = await duringChange(
    one,
    'nginx endpoints updated without a reload',
    () =>
      one.l.w(
        ['delete', '--no-wait', '-f', '-'],
        JSON.stringify(echoPod(WEFT, NS, 'web-2', { app: 'web' }, { nodeName: 'n2' })),
      ),
    () =>
      waitUntil('web-2 out of the endpoint lists', () => !readFileSync(endpoints, 'utf8').includes(`${one.web2}:8080`)),
  );
  const ruleChange = await duringChange(
    one,
    'nginx configuration applied',
    () => one.l.apply([ingressDoc(`r${RULES}`, `r${RULES}.example.com`)]),
    () =>
      waitUntil('the new Ingress in nginx.conf', () => readFileSync(conf, 'utf8').includes(`r${RULES}.example.com`)),
  );

  const four = await setUp('ingb4', 4);
  const t4 = throughput(four.l, four.lb, four.web1);

  const f = (n: number, d = 0) => n.toFixed(d);
  const rows: BenchRow[] = [
    {
      what: 'req/s, 1 ingress pod',
      weft: f(t1.ingress.rps),
      baseline: `${f(t1.direct.rps)} direct to pod`,
      ratio: f(t1.ingress.rps / t1.direct.rps, 2),
      note: `wrk -c${CONNECTIONS}, median of ${PAIRS}`,
    },
    {
      what: 'p99 ms, 1 ingress pod',
      weft: f(t1.ingress.p99Ms, 2),
      baseline: `${f(t1.direct.p99Ms, 2)} direct`,
      ratio: f(t1.ingress.p99Ms / t1.direct.p99Ms, 2),
      note: '',
    },
    {
      what: 'req/s, 4 ingress pods',
      weft: f(t4.ingress.rps),
      baseline: `${f(t4.direct.rps)} direct to pod`,
      ratio: f(t4.ingress.rps / t4.direct.rps, 2),
      note: '2 nodes, 2 cores shared',
    },
    {
      what: 'p99 ms, 4 ingress pods',
      weft: f(t4.ingress.p99Ms, 2),
      baseline: `${f(t4.direct.p99Ms, 2)} direct`,
      ratio: f(t4.ingress.p99Ms / t4.direct.p99Ms, 2),
      note: '',
    },
    {
      what: `endpoint change, ${RULES} Ingresses`,
      weft: `${endpointChange.sync.totalMs} ms`,
      baseline: `${ruleChange.sync.totalMs} ms rule change`,
      ratio: f(endpointChange.sync.totalMs / ruleChange.sync.totalMs, 3),
      note: `render ${endpointChange.sync.renderMs} + post ${endpointChange.sync.postMs} ms; ${endpointChange.reloads} reloads`,
    },
    {
      what: 'rule change (reload)',
      weft: `${ruleChange.sync.totalMs} ms`,
      baseline: '',
      ratio: '',
      note: `render ${ruleChange.sync.renderMs} + nginx -t ${ruleChange.sync.checkMs} + reload ${ruleChange.sync.reloadMs} ms; conf ${confBytes} bytes`,
    },
    {
      what: 'delete → in effect',
      weft: `${endpointChange.untilMs} ms`,
      baseline: `${ruleChange.untilMs} ms apply → reloaded`,
      ratio: f(endpointChange.untilMs / ruleChange.untilMs, 2),
      note: 'from the weft command, lab controllers included',
    },
    ...(
      [
        ['endpoint change', endpointChange],
        ['rule change', ruleChange],
      ] as const
    ).map(([what, c]) => ({
      what: `failed during ${what}`,
      weft: `${c.wrk.failed} wrk, ${c.curl.failed} curl`,
      baseline: '',
      ratio: '',
      note: `of ${c.wrk.requests} wrk (+${c.wrk.closed} keep-alive closed under a request) and ${c.curl.requests} curl`,
    })),
  ];
  report(
    'ingress',
    rows,
    {
      date: new Date().toISOString(),
      seconds: SECONDS,
      pairs: PAIRS,
      connections: CONNECTIONS,
      one: t1,
      four: t4,
      reconfigure: { rules: RULES, confBytes, endpointChange, ruleChange },
      durationS: Math.round((Date.now() - started) / 1000),
      note: 'wrk, nginx, the backends and the lab share 2 cores with other work on the machine',
    },
    [30, 12, 24, 8],
  );
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => teardown(labs));
