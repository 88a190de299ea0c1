/**
 * The forwarder's cache of upstream answers: bounded in entries and in bytes (least recently used
 * goes first), so a flood of random names cannot grow the server's memory, and honouring TTLs:
 * a positive answer lives as long as its smallest TTL, a negative one (NXDOMAIN, NODATA) as
 * long as its SOA's TTL and minimum allow (RFC 2308 §5); answers without a TTL to honour
 * (SERVFAIL, a negative answer with no SOA) are not cached. Both are capped, as CoreDNS's cache
 * plugin caps them (1 h positive, 30 min negative).
 *
 * Pure (time comes in as an argument); values are opaque to it.
 */

export interface CacheLimits {
  /** Most entries kept (default 10,000). */
  maxEntries: number;
  /** Most bytes of answers kept, as the caller measures them (default 16 MiB). */
  maxBytes: number;
  /** Longest a positive answer is kept (seconds, default 3600). */
  maxTtl: number;
  /** Longest a negative answer is kept (seconds, default 1800). */
  maxNegativeTtl: number;
}

export const DEFAULT_CACHE_LIMITS: CacheLimits = {
  maxEntries: 10_000,
  maxBytes: 16 * 1024 * 1024,
  maxTtl: 3600,
  maxNegativeTtl: 1800,
};

/** The parts of an upstream answer its cache lifetime depends on. */
export interface CacheableAnswer {
  rcode: string;
  truncated: boolean;
  answers: ReadonlyArray<{ type: string; ttl?: number }>;
  authorities: ReadonlyArray<{ type: string; ttl?: number; data?: unknown }>;
}

/** How long an upstream answer may be cached (seconds), or undefined when it must not be. */
export function cacheTtl(a: CacheableAnswer, limits: CacheLimits = DEFAULT_CACHE_LIMITS): number | undefined {
  if (a.truncated) return undefined;
  const negative = a.rcode === 'NXDOMAIN' || (a.rcode === 'NOERROR' && a.answers.length === 0);
  if (negative) {
    const soa = a.authorities.find((r) => r.type === 'SOA');
    if (!soa) return undefined;
    const minimum = (soa.data as { minimum?: number } | undefined)?.minimum ?? 0;
    const ttl = Math.min(soa.ttl ?? 0, minimum, limits.maxNegativeTtl);
    return ttl > 0 ? ttl : undefined;
  }
  if (a.rcode !== 'NOERROR') return undefined;
  const ttl = Math.min(...a.answers.map((r) => r.ttl ?? 0), limits.maxTtl);
  return ttl > 0 ? ttl : undefined;
}

interface Entry<V> {
  value: V;
  storedAt: number;
  expiresAt: number;
  bytes: number;
}

export class ResponseCache<V> {
  /** Map order is recency order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry<V>>();
  private totalBytes = 0;

  constructor(private readonly limits: CacheLimits = DEFAULT_CACHE_LIMITS) {}

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** The value and how many whole seconds it has aged, or undefined when absent or expired. */
  get(key: string, nowMs: number): { value: V; ageSeconds: number } | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (nowMs >= e.expiresAt) {
      this.drop(key, e);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    return { value: e.value, ageSeconds: Math.floor((nowMs - e.storedAt) / 1000) };
  }

  /** Keeps `value` for ttl seconds; evicts the least recently used entries to stay within the limits. */
  set(key: string, value: V, ttlSeconds: number, bytes: number, nowMs: number): void {
    const old = this.entries.get(key);
    if (old) this.drop(key, old);
    if (ttlSeconds <= 0 || bytes > this.limits.maxBytes || this.limits.maxEntries <= 0) return;
    const e: Entry<V> = { value, storedAt: nowMs, expiresAt: nowMs + ttlSeconds * 1000, bytes };
    this.entries.set(key, e);
    this.totalBytes += bytes;
    for (const [k, oldest] of this.entries) {
      if (this.entries.size <= this.limits.maxEntries && this.totalBytes <= this.limits.maxBytes) break;
      this.drop(k, oldest);
    }
  }

  private drop(key: string, e: Entry<V>): void {
    this.entries.delete(key);
    this.totalBytes -= e.bytes;
  }
}
