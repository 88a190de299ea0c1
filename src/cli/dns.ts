// `weft dns`: flag parsing and wiring only; see src/dns/ and src/core/dns/.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { JsonLogger } from '../adapters/json-logger.js';
import { systemClock } from '../adapters/clock.js';
import { PromMetrics } from '../adapters/metrics-prom.js';
import { UdpTcpUpstream } from '../adapters/dns-upstream.js';
import { openCluster } from '../agent/open-cluster.js';
import { lazyKubeClient } from '../adapters/kube-api.js';
import { normalizeName } from '../core/dns/dns-names.js';
import type { PodMode } from '../core/dns/cluster-answer.js';
import { parseResolvConf, parseUpstream, type Upstream } from '../core/dns/upstreams.js';
import { DEFAULT_CACHE_LIMITS } from '../core/dns/response-cache.js';
import { feedKinds } from '../dns/cluster-feed.js';
import { startDnsServer } from '../dns/dns-server.js';

interface DnsCliOptions {
  cluster?: string;
  objectsFile?: string;
  kubeconfig?: string;
  listen: string;
  zone: string;
  ttl: string;
  pods: string;
  upstream: string[];
  resolvConf: string;
  cacheSize: string;
  metricsAddr?: string;
  forward: boolean;
}

function wholeNumber(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max)
    throw new Error(`${flag} "${text}": must be a whole number from ${min} to ${max}`);
  return n;
}

function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  if (!m) throw new Error(`--listen "${text}": expected HOST:PORT (or [IPv6]:PORT)`);
  return { host: m[1] ?? m[2]!, port: wholeNumber('--listen port', m[3]!, 0, 65535) };
}

export function registerDns(program: Command): void {
  program
    .command('dns')
    .description(
      'serve cluster DNS (the Kubernetes DNS specification, as CoreDNS answers it) from the cluster cache; forward other names upstream',
    )
    .option('--cluster <source>', 'the cluster to answer for: sqlite:PATH, or kube (the Kubernetes API)')
    .option(
      '--kubeconfig <path>',
      'with --cluster kube: the kubeconfig to read the API with (default: in-cluster config)',
    )
    .option('--objects-file <path>', "a weft lab's object store (the same as --cluster sqlite:PATH)")
    .option('--listen <host:port>', 'UDP and TCP address to serve on', '0.0.0.0:53')
    .option('--zone <domain>', 'the cluster domain', 'cluster.local')
    .option('--ttl <seconds>', 'TTL of cluster answers and of their negative answers', '5')
    .option('--pods <mode>', 'pod names a-b-c-d.<ns>.pod.<zone>: insecure | verified | disabled', 'insecure')
    .option(
      '--upstream <ip[:port]>',
      'forward names outside the zone here (repeatable; default: the nameservers of --resolv-conf)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--resolv-conf <path>', 'where the default upstreams are read from', '/etc/resolv.conf')
    .option('--no-forward', 'answer the cluster zone only: other names are refused at once (no upstream is asked)')
    .option('--cache-size <n>', 'most forwarded answers kept', String(DEFAULT_CACHE_LIMITS.maxEntries))
    .option('--metrics-addr <host:port>', 'health (/healthz) and Prometheus metrics (/metrics) endpoint')
    .action(async (opts: DnsCliOptions) => {
      await runDns(opts);
    });
}

async function runDns(opts: DnsCliOptions): Promise<void> {
  const spec = opts.cluster ?? (opts.objectsFile ? `sqlite:${opts.objectsFile}` : undefined);
  if (!spec) throw new Error('--cluster sqlite:PATH or kube (or --objects-file PATH) is required');
  if (opts.kubeconfig !== undefined && spec !== 'kube')
    throw new Error(`--kubeconfig: only with --cluster kube (the cluster here is "${spec}")`);
  const listen = parseListen(opts.listen);
  const zone = normalizeName(opts.zone);
  const ttl = wholeNumber('--ttl', opts.ttl, 0, 2_147_483_647);
  if (!['insecure', 'verified', 'disabled'].includes(opts.pods))
    throw new Error(`--pods "${opts.pods}": must be insecure, verified or disabled`);
  const pods = opts.pods as PodMode;
  const maxEntries = wholeNumber('--cache-size', opts.cacheSize, 0, 10_000_000);
  if (!opts.forward && opts.upstream.length > 0)
    throw new Error('--no-forward and --upstream contradict each other: give one of them');
  let upstreams: Upstream[] = opts.upstream.map((u) => parseUpstream(u));
  if (upstreams.length === 0 && opts.forward) {
    let text: string;
    try {
      text = readFileSync(opts.resolvConf, 'utf8');
    } catch (err) {
      throw new Error(`--resolv-conf ${opts.resolvConf}: ${(err as Error).message}`, { cause: err });
    }
    upstreams = parseResolvConf(text);
  }
  const log = new JsonLogger((l) => process.stderr.write(l), { component: 'dns' });
  if (upstreams.length === 0 && opts.forward)
    log.warn('no upstream servers: names outside the zone are refused', { resolvConf: opts.resolvConf });
  const clock = systemClock;
  // --cluster kube: a kubeconfig that cannot be read is reported by the cache and tried again.
  const cluster = openCluster(spec, feedKinds(pods), {
    clock,
    log,
    kube: lazyKubeClient(opts.kubeconfig, process.env, { userAgent: 'weft-dns' }),
  });
  await cluster.cache.start();
  const server = await startDnsServer({
    host: listen.host,
    port: listen.port,
    zone: { zone, ttl, pods },
    cache: cluster.cache,
    upstream: upstreams.length > 0 ? new UdpTcpUpstream({ servers: upstreams }) : undefined,
    cacheLimits: { ...DEFAULT_CACHE_LIMITS, maxEntries },
    metrics: new PromMetrics(),
    ...(opts.metricsAddr ? { metricsAddr: opts.metricsAddr } : {}),
    clock,
    log,
  });
  const shutdown = async () => {
    log.info('stopping');
    await server.close();
    await cluster.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  log.info('dns serving', {
    listen: `${listen.host}:${server.port}`,
    zone,
    upstreams: upstreams.map((u) => `${u.host}:${u.port}`),
    ...(opts.metricsAddr ? { metrics: opts.metricsAddr } : {}),
  });
}
