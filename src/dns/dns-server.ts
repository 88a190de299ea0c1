/**
 * `weft dns`, assembled: the cluster cache over a cluster source, the feed that keeps the
 * cluster zone's index, the resolver, the UDP/TCP listener and the health/metrics endpoint.
 * Everything is passed in (the cache, the upstream, the clock), so tests run the real server on
 * 127.0.0.1 with a port of 0 against a fake cluster or a lab's store.
 */

import type { ClusterCache } from '../agent/cluster-cache.js';
import { listenDns } from '../adapters/dns-listener.js';
import { startStatusServer } from '../adapters/status-server.js';
import type { ClusterZoneConfig } from '../core/dns/cluster-answer.js';
import { ResponseCache, type CacheLimits, DEFAULT_CACHE_LIMITS } from '../core/dns/response-cache.js';
import { DNS_CLUSTER_REVISION } from '../core/dns/metrics.js';
import type { DnsUpstream } from '../ports/dns-upstream.js';
import type { Metrics } from '../ports/metrics.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { ClusterFeed } from './cluster-feed.js';
import { DnsResolver, type CachedAnswer } from './resolver.js';

export interface DnsServerOptions {
  /** Listen address and port ("0.0.0.0", 53; port 0 picks one). */
  host: string;
  port: number;
  zone: ClusterZoneConfig;
  /** Started already (its first list done). */
  cache: ClusterCache;
  upstream: DnsUpstream | undefined;
  cacheLimits?: CacheLimits;
  metrics: Metrics;
  /** HOST:PORT of /healthz and /metrics; none when undefined. */
  metricsAddr?: string;
  clock: Clock;
  log: Logger;
  maxInFlight?: number;
}

export interface RunningDnsServer {
  port: number;
  metricsPort?: number;
  resolver: DnsResolver;
  feed: ClusterFeed;
  close(): Promise<void>;
}

export async function startDnsServer(o: DnsServerOptions): Promise<RunningDnsServer> {
  const feed = new ClusterFeed(o.cache, o.zone.zone, o.zone.pods);
  feed.start();
  const revision = o.metrics.gauge(DNS_CLUSTER_REVISION);
  revision.set(o.cache.revision());
  const stopRevision = o.cache.onRevision((r) => revision.set(r));
  const resolver = new DnsResolver({
    zone: o.zone,
    source: feed,
    upstream: o.upstream,
    cache: new ResponseCache<CachedAnswer>(o.cacheLimits ?? DEFAULT_CACHE_LIMITS),
    metrics: o.metrics,
    clock: o.clock,
    log: o.log,
    ...(o.maxInFlight === undefined ? {} : { maxInFlight: o.maxInFlight }),
  });
  const listener = await listenDns({
    host: o.host,
    port: o.port,
    handler: (msg, transport) => resolver.handle(msg, transport),
    log: o.log,
  });
  const status = o.metricsAddr
    ? await startStatusServer(o.metricsAddr, {
        health: () => ({ ok: true, text: `ok\ncluster revision ${o.cache.revision()}\n` }),
        metrics: () => {
          resolver.flushCounts();
          return o.metrics.render();
        },
      })
    : undefined;
  return {
    port: listener.port,
    ...(status ? { metricsPort: status.port } : {}),
    resolver,
    feed,
    close: async () => {
      stopRevision();
      feed.stop();
      await listener.close();
      o.upstream?.close();
      await status?.close();
    },
  };
}
