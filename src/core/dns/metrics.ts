/**
 * Every metric the DNS server exports, declared once (as src/core/metrics.ts does for the
 * agent): queries by type, rcode and source, cache hits and misses, upstream latency and
 * failures, the cache's size, and messages that could not be decoded.
 */

import type { HistogramDef, MetricDef } from '../../ports/metrics.js';

export const DNS_QUERIES: MetricDef = {
  name: 'weft_dns_queries_total',
  help: 'Queries answered, by query type (common types by name, others as "other"), rcode, and source (cluster: the cluster zone; cache; upstream; local: refused or answered without either).',
  labelNames: ['type', 'rcode', 'source'],
};

export const DNS_CACHE_HITS: MetricDef = {
  name: 'weft_dns_cache_hits_total',
  help: 'Forwarded names answered from the cache.',
};

export const DNS_CACHE_MISSES: MetricDef = {
  name: 'weft_dns_cache_misses_total',
  help: 'Forwarded names not in the cache (asked upstream, or joined a query already under way).',
};

export const DNS_CACHE_ENTRIES: MetricDef = {
  name: 'weft_dns_cache_entries',
  help: 'Answers in the forwarding cache.',
};

export const DNS_CACHE_BYTES: MetricDef = {
  name: 'weft_dns_cache_bytes',
  help: 'Bytes of answers in the forwarding cache.',
};

export const DNS_UPSTREAM_SECONDS: HistogramDef = {
  name: 'weft_dns_upstream_seconds',
  help: 'Time an upstream took to answer, by transport (udp, or tcp after a truncated answer).',
  labelNames: ['transport'],
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
};

export const DNS_UPSTREAM_ERRORS: MetricDef = {
  name: 'weft_dns_upstream_errors_total',
  help: 'Forwarded queries no upstream answered (timeouts, refused connections); each is answered SERVFAIL.',
};

export const DNS_MALFORMED: MetricDef = {
  name: 'weft_dns_malformed_total',
  help: 'Messages that could not be decoded (answered FORMERR when the header was readable, else dropped).',
};

export const DNS_CLUSTER_REVISION: MetricDef = {
  name: 'weft_dns_cluster_revision',
  help: 'The cluster cache revision the zone is answered from.',
};
