/**
 * weft dns against the real CoreDNS (issue 18, the DNS rows of bench/peers.ts), in one run on one
 * lab: `weft lab up --api kube --nodes 1 --dns coredns --dns-replicas 1` (CoreDNS v1.14.7 with
 * kubeadm's Corefile, src/core/lab/corefile.ts) and, beside it in kube-system on the same node, a
 * `weft dns --cluster kube` pod with the same ServiceAccount, zone and TTL (as
 * test/dns-coredns.test.ts runs it). Both read the same API server; the client is one pod on the
 * same node, so both servers are one bridge hop away from it.
 *
 * - queries/s: Debian's dnsperf in the client pod's network namespace (`-c 1 -q 100`, ROUNDS
 *   rounds of SECONDS s each, alternating which server goes first), A queries for SERVICES
 *   ClusterIP Services in turn; every run must have every query answered NOERROR.
 * - latency: dnsperf at a fixed offered load both sustain (`-Q QPS`, -v: every query's latency),
 *   p50 and p99 over the rounds' queries.
 * - Service create → resolvable: CREATES Services, one at a time, written through the API by
 *   LabClient.apply in this process (what `weft apply` runs, without the CLI's start); from the
 *   apply's start, both servers are asked for the new name every POLL_MS ms (one UDP socket each,
 *   made in the client pod's namespace) until each answers the Service's ClusterIP. This is what a
 *   client that asks while the Service is being made sees: CoreDNS (kubeadm's `cache 30` in front
 *   of `kubernetes`) caches the NXDOMAIN it gave before its watch had the Service, for the SOA's
 *   minimum (the TTL, 5 s); weft dns keeps no negative answer of its own zone. So a third server,
 *   CoreDNS with kubeadm's Corefile minus `cache` (a pod beside the others), is polled the same
 *   way: its figure is the kubernetes plugin's watch alone, the one to compare weft's watch with.
 *
 * Returns table rows and results for bench/results/peers.json. Env: WEFT_BENCH_PEERS_DNS_ROUNDS
 * (default 3), _SECONDS (5), _SERVICES (100), _CREATES (20), _QPS (2000); _NOCACHE_GOMAXPROCS=N (an
 * experiment): the CoreDNS without cache runs with GOMAXPROCS=N and joins the query rounds.
 */

import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { NodeExec } from '../src/adapters/exec.js';
import { bindSocketsInNetns } from '../src/adapters/netns-native.js';
import { parseManifestLocated } from '../src/core/k8s/parse.js';
import { LabClient } from '../src/lab/client.js';
import { COREDNS_VERSION, corednsMissing, corednsPath } from '../src/lab/peer-coredns.js';
import { renderCorefile } from '../src/core/lab/corefile.js';
import { DnsClient, addressesOf } from './dns-load.js';
import { median, percentile, type BenchRow } from './report.js';

const ROUNDS = Number(process.env.WEFT_BENCH_PEERS_DNS_ROUNDS ?? 3);
const SECONDS = Number(process.env.WEFT_BENCH_PEERS_DNS_SECONDS ?? 5);
const SERVICES = Number(process.env.WEFT_BENCH_PEERS_DNS_SERVICES ?? 100);
const CREATES = Number(process.env.WEFT_BENCH_PEERS_DNS_CREATES ?? 20);
const QPS = Number(process.env.WEFT_BENCH_PEERS_DNS_QPS ?? 2000);
/** When set, the CoreDNS without cache runs with this GOMAXPROCS and joins the query rounds (an experiment). */
const NOCACHE_PROCS = process.env.WEFT_BENCH_PEERS_DNS_NOCACHE_GOMAXPROCS;
const POLL_MS = 10;
const NS = 'bench';
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

const service = (name: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: ${NS} }\nspec: { ports: [{ name: http, port: 80 }] }\n`;

function manifest(dnsKubeconfig: string, noCacheCorefile: string): string {
  const weftDns = [
    process.execPath,
    CLI,
    'dns',
    '--cluster',
    'kube',
    '--kubeconfig',
    dnsKubeconfig,
    '--listen',
    '0.0.0.0:53',
    '--metrics-addr',
    '0.0.0.0:9153',
    '--zone',
    'cluster.local',
    '--no-forward',
  ];
  return [
    `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n`,
    `apiVersion: v1\nkind: Pod\nmetadata: { name: client, namespace: ${NS} }\nspec: { nodeName: n1, containers: [{ name: c, image: weft-lab-echo }] }\n`,
    `apiVersion: v1
kind: Pod
metadata: { name: weft-dns-side, namespace: kube-system }
spec:
  nodeName: n1
  dnsPolicy: Default
  containers:
    - name: dns
      image: localhost/weft:0.1.0
      command: ${JSON.stringify(weftDns)}
      ports: [{ name: dns, containerPort: 53, protocol: UDP }, { name: metrics, containerPort: 9153 }]
      readinessProbe: { httpGet: { path: /healthz, port: metrics }, periodSeconds: 1 }
`,
    `apiVersion: v1
kind: Pod
metadata: { name: coredns-nocache, namespace: kube-system }
spec:
  nodeName: n1
  dnsPolicy: Default
  containers:
    - name: coredns
      image: registry.k8s.io/coredns/coredns:${COREDNS_VERSION}
      command: ${JSON.stringify([corednsPath(), '-conf', noCacheCorefile])}${NOCACHE_PROCS ? `\n      env: [{ name: GOMAXPROCS, value: "${NOCACHE_PROCS}" }]` : ''}
      ports: [{ name: dns, containerPort: 53, protocol: UDP }, { name: ready, containerPort: 8181 }]
      readinessProbe: { httpGet: { path: /ready, port: ready }, periodSeconds: 1 }
`,
    ...Array.from({ length: SERVICES }, (_, i) => service(`s${i}`)),
  ].join('---\n');
}

interface PerfRun {
  qps: number;
  completed: number;
  latenciesMs: number[];
}

/** dnsperf in the client's namespace against `server`; throws unless every query got NOERROR. */
function dnsperf(netns: string, server: string, queries: string, extra: string[]): Promise<PerfRun> {
  const argv = ['--net=' + netns, '--', 'dnsperf', '-s', server, '-d', queries, '-l', String(SECONDS), ...extra];
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
      const sent = num(/Queries sent:\s+(\d+)/);
      const completed = num(/Queries completed:\s+(\d+)/);
      const noerror = num(/Response codes:\s+NOERROR (\d+)/);
      if (code !== 0 || !(completed > 0) || completed !== sent || noerror !== completed)
        return reject(
          new Error(
            `dnsperf against ${server}: exit ${code}, ${completed} of ${sent} completed, ${noerror} NOERROR: ${err}${out.slice(-2000)}`,
          ),
        );
      // -v: "> NOERROR s1.bench.svc.cluster.local A 0.000123" per answered query.
      const latenciesMs = out
        .split('\n')
        .filter((l) => l.startsWith('> '))
        .map((l) => Number(l.split(' ').at(-1)) * 1000);
      resolve({ qps: num(/Queries per second:\s+([\d.]+)/), completed, latenciesMs });
    });
  });
}

/**
 * A DNS client on a UDP socket made inside the namespace at `netns` (on `port`: the native module
 * binds given ports only; the client pod serves none of these), asking `server`:53.
 */
function clientIn(netns: string, server: string, port: number): Promise<DnsClient> {
  const [fd] = bindSocketsInNetns(netns, [{ protocol: 'UDP', port, address: '0.0.0.0' }]);
  const sock = createSocket('udp4');
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ fd: fd! }, () => resolve(new DnsClient(53, server, sock)));
  });
}

export interface DnsPeerFigures {
  rows: BenchRow[];
  results: Record<string, unknown>;
}

/** The CoreDNS rows; `weft` runs the CLI against the bench's lab root, `labs` lists labs to tear down. */
export async function measureDnsPeers(o: {
  root: string;
  lab: string;
  labs: string[];
  exec: NodeExec;
  weft: (args: string[], input?: string) => string;
}): Promise<DnsPeerFigures> {
  const missing = corednsMissing();
  if (missing)
    return {
      rows: [{ what: 'weft dns vs CoreDNS', weft: '-', baseline: 'not measured', ratio: '-', note: missing }],
      results: { notMeasured: missing },
    };
  const { lab, labs, weft } = o;
  labs.push(lab);
  weft(['lab', 'up', '--name', lab, '--api', 'kube', '--nodes', '1', '--dns', 'coredns', '--dns-replicas', '1']);
  const client = LabClient.open(o.root, lab, o.exec);
  const clients: DnsClient[] = [];
  try {
    const dnsKubeconfig = join(o.root, lab, 'kube', 'dns.kubeconfig');
    // kubeadm's Corefile without `cache`: how soon CoreDNS's kubernetes plugin itself answers a new name.
    const noCache = join(o.root, 'Corefile.nocache');
    writeFileSync(
      noCache,
      renderCorefile({ domain: 'cluster.local', kubeconfig: dnsKubeconfig, upstreams: [], ttl: 5 })
        .split('\n')
        .filter((l) => l.trim() !== 'cache 30')
        .join('\n'),
    );
    weft(['apply', '--lab', lab, '-f', '-'], manifest(dnsKubeconfig, noCache));
    const ready = async () => {
      const pods = await client.pods();
      const ip = (ns: string, name: string) => {
        const p = pods.find((v) => v.stored.object.metadata.namespace === ns && v.stored.object.metadata.name === name);
        return p?.status?.phase === 'Running' &&
          p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          ? p.status.podIP
          : undefined;
      };
      const [c, w, n, cl] = [
        ip('kube-system', 'coredns-1'),
        ip('kube-system', 'weft-dns-side'),
        ip('kube-system', 'coredns-nocache'),
        ip(NS, 'client'),
      ];
      return c && w && n && cl ? { coredns: c, weft: w, nocache: n } : undefined;
    };
    let servers: { coredns: string; weft: string; nocache: string } | undefined;
    for (let i = 0; i < 600 && !servers; i++) {
      servers = await ready();
      if (!servers) await new Promise((r) => setTimeout(r, 100));
    }
    if (!servers) throw new Error(`${lab}: the DNS pods and the client were not Ready within 60 s`);
    const netns = await client.podNetnsPath(NS, 'client');
    const queries = join(o.root, 'queries.txt');
    writeFileSync(queries, Array.from({ length: SERVICES }, (_, i) => `s${i}.${NS}.svc.cluster.local A\n`).join(''));
    const [askCoredns, askWeft] = await Promise.all([
      clientIn(netns, servers.coredns, 45053),
      clientIn(netns, servers.weft, 45054),
    ]);
    const askNoCache = await clientIn(netns, servers.nocache, 45055);
    clients.push(askCoredns, askWeft, askNoCache);
    // Every name from both servers, the same address, before anything is timed.
    for (let i = 0; i < SERVICES; i++) {
      const name = `s${i}.${NS}.svc.cluster.local`;
      for (let t = 0; ; t++) {
        const [c, w] = await Promise.all([askCoredns.ask(name), askWeft.ask(name)]);
        const [ca, wa] = [c ? addressesOf(c) : [], w ? addressesOf(w) : []];
        if (ca.length === 1 && JSON.stringify(ca) === JSON.stringify(wa)) break;
        if (t > 100) throw new Error(`${lab}: ${name}: CoreDNS ${ca.join()} and weft ${wa.join()} differ`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    type Server = 'weft' | 'coredns' | 'nocache';
    const which: Server[] = NOCACHE_PROCS ? ['weft', 'coredns', 'nocache'] : ['weft', 'coredns'];
    const perServer = () => ({ weft: [] as number[], coredns: [] as number[], nocache: [] as number[] });
    const qps = perServer();
    const lat = perServer();
    const roundP99 = perServer();
    const load: number[] = [loadavg()[0]!];
    for (let round = 0; round < ROUNDS; round++) {
      for (const w of round % 2 === 0 ? which : [...which].reverse()) {
        qps[w].push((await dnsperf(netns, servers[w], queries, ['-c', '1', '-q', '100'])).qps);
        const l = (await dnsperf(netns, servers[w], queries, ['-c', '1', '-q', '100', '-Q', String(QPS), '-v']))
          .latenciesMs;
        lat[w].push(...l);
        roundP99[w].push(percentile(l, 99));
      }
      load.push(loadavg()[0]!);
      process.stderr.write(
        `peers: dns round ${round + 1}: qps weft ${qps.weft.at(-1)!.toFixed(0)}, coredns ${qps.coredns.at(-1)!.toFixed(0)}\n`,
      );
    }

    // Service create → resolvable at each server.
    const created = {
      weft: [] as number[],
      coredns: [] as number[],
      corednsNoCache: [] as number[],
      applyReturned: [] as number[],
    };
    const answered = new Map<string, string[]>();
    for (let i = 0; i < CREATES; i++) {
      const svc = `late${i}`;
      const name = `${svc}.${NS}.svc.cluster.local`;
      const t0 = performance.now();
      const applied = client.apply(parseManifestLocated(service(svc))).then(() => {
        created.applyReturned.push(performance.now() - t0);
      });
      const until = async (ask: DnsClient): Promise<number> => {
        for (;;) {
          const r = await ask.ask(name, 'A', 500);
          const got = r ? addressesOf(r) : [];
          if (got.length > 0) {
            answered.set(svc, [...(answered.get(svc) ?? []), ...got]);
            return performance.now() - t0;
          }
          if (performance.now() - t0 > 30_000) throw new Error(`${lab}: ${name} not resolvable within 30 s`);
          await new Promise((res) => setTimeout(res, POLL_MS));
        }
      };
      const [c, w, n] = await Promise.all([until(askCoredns), until(askWeft), until(askNoCache), applied]);
      created.coredns.push(c);
      created.weft.push(w);
      created.corednsNoCache.push(n);
      process.stderr.write(
        `peers: dns create ${i + 1}: weft ${w.toFixed(0)} ms, coredns ${c.toFixed(0)} ms, coredns without cache ${n.toFixed(0)} ms\n`,
      );
    }
    // Both answered each new name with its ClusterIP, and nothing else.
    const listed = JSON.parse(weft(['get', 'services', '--lab', lab, '-n', NS, '-o', 'json'])) as {
      items: Array<{ metadata: { name: string }; spec: { clusterIP: string } }>;
    };
    for (const [svc, got] of answered) {
      const ip = listed.items.find((s) => s.metadata.name === svc)?.spec.clusterIP;
      if (!ip || got.length !== 3 || got.some((a) => a !== ip))
        throw new Error(`${lab}: ${svc}: answered ${got.join(', ')}, its ClusterIP is ${ip}`);
    }

    const m = (xs: number[]) => median(xs);
    const p = (xs: number[], q: number) => percentile(xs, q);
    const ms = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(0)} ms`;
    const rows: BenchRow[] = [
      {
        what: `DNS A queries/s, ${SERVICES} Services (dnsperf -c 1 -q 100)`,
        weft: `${m(qps.weft).toFixed(0)} /s`,
        baseline: `${m(qps.coredns).toFixed(0)} /s CoreDNS`,
        ratio: (m(qps.weft) / m(qps.coredns)).toFixed(2),
        note: `median of ${ROUNDS} runs of ${SECONDS} s each; every query NOERROR`,
      },
      {
        what: `DNS latency at ${QPS} /s offered, p99 (p50)`,
        weft: `${ms(p(lat.weft, 99))} (${ms(p(lat.weft, 50))})`,
        baseline: `${ms(p(lat.coredns, 99))} (${ms(p(lat.coredns, 50))}) CoreDNS`,
        ratio: (p(lat.weft, 99) / p(lat.coredns, 99)).toFixed(2),
        note: `dnsperf -Q ${QPS} -v, ${lat.weft.length} and ${lat.coredns.length} queries`,
      },
      {
        what: 'Service create → resolvable, p50 / p99',
        weft: `${ms(p(created.weft, 50))} / ${ms(p(created.weft, 99))}`,
        baseline: `${ms(p(created.coredns, 50))} / ${ms(p(created.coredns, 99))} CoreDNS`,
        ratio: `${(p(created.weft, 50) / p(created.coredns, 50)).toFixed(2)} / ${(p(created.weft, 99) / p(created.coredns, 99)).toFixed(2)}`,
        note: `${CREATES} Services, asked every ${POLL_MS} ms from the apply's start (API apply returned p50 ${ms(p(created.applyReturned, 50))}); CoreDNS caches the NXDOMAIN it gave first (5 s)`,
      },
      {
        what: '… against CoreDNS without `cache`, p50 / p99',
        weft: `${ms(p(created.weft, 50))} / ${ms(p(created.weft, 99))}`,
        baseline: `${ms(p(created.corednsNoCache, 50))} / ${ms(p(created.corednsNoCache, 99))} CoreDNS`,
        ratio: `${(p(created.weft, 50) / p(created.corednsNoCache, 50)).toFixed(2)} / ${(p(created.weft, 99) / p(created.corednsNoCache, 99)).toFixed(2)}`,
        note: "kubeadm's Corefile minus `cache 30`, polled the same way: the kubernetes plugin's watch alone",
      },
      ...(NOCACHE_PROCS
        ? [
            {
              what: `… queries/s and p99 against CoreDNS without cache, GOMAXPROCS=${NOCACHE_PROCS}`,
              weft: `${m(qps.weft).toFixed(0)} /s, ${ms(p(lat.weft, 99))}`,
              baseline: `${m(qps.nocache).toFixed(0)} /s, ${ms(p(lat.nocache, 99))}`,
              ratio: `${(m(qps.weft) / m(qps.nocache)).toFixed(2)} / ${(p(lat.weft, 99) / p(lat.nocache, 99)).toFixed(2)}`,
              note: 'an experiment: does the thread count make the tail?',
            },
          ]
        : []),
    ];
    return {
      rows,
      results: {
        coredns: COREDNS_VERSION,
        lab: '--api kube --nodes 1 --dns coredns --dns-replicas 1, a weft dns --cluster kube pod beside it, client pod on the same node',
        services: SERVICES,
        rounds: ROUNDS,
        seconds: SECONDS,
        offeredQps: QPS,
        qps,
        latencyMs: {
          weft: { p50: p(lat.weft, 50), p99: p(lat.weft, 99), n: lat.weft.length },
          coredns: { p50: p(lat.coredns, 50), p99: p(lat.coredns, 99), n: lat.coredns.length },
        },
        roundP99Ms: roundP99,
        ...(NOCACHE_PROCS
          ? {
              noCacheGomaxprocs: Number(NOCACHE_PROCS),
              noCacheLatencyMs: { p50: p(lat.nocache, 50), p99: p(lat.nocache, 99), n: lat.nocache.length },
            }
          : {}),
        createToResolvableMs: created,
        loadAverage1m: { atRounds: load, afterCreates: loadavg()[0] },
      },
    };
  } finally {
    for (const c of clients) c.close();
    await client.close();
    weft(['lab', 'down', '--name', lab]);
    labs.splice(labs.indexOf(lab), 1);
  }
}
