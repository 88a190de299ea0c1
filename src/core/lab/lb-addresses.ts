/**
 * The lab's load-balancer address allocator for `--api kube`, the part of a bare-metal load
 * balancer (MetalLB, kube-vip, k3s's servicelb) that gives each LoadBalancer Service an address of
 * the pool and writes it to status.loadBalancer.ingress. With the embedded store the lab's apply
 * does this as it stores the Service (./service-alloc.ts); with a real API server nothing of weft
 * sits in the write path, so a controller watches Services and writes their status afterwards,
 * as a cloud controller does.
 *
 * The rules are the embedded allocator's, so a lab behaves the same in both modes:
 * - a LoadBalancer Service keeps the pool address it has; one without (or with an address outside
 *   the pool, or one another Service held first) gets the lowest free address of the pool;
 * - the pool exhausted, the Service stays pending (no ingress) until an address is freed;
 * - a Service that stops being a LoadBalancer loses the pool address it had, which is then free;
 * - who keeps a contested address: the Service created first (then namespace/name), so two
 *   controllers reading the same list agree.
 */

import type { Service } from '../k8s/objects.js';
import { addToIp, cidrContains, cidrSize, formatIp, networkOf, parseCidr, tryParseIp } from '../net/ip.js';

/** One Service whose status must change: `ip` undefined means "no ingress" (pending, or not a LoadBalancer). */
export interface LbStatusChange {
  namespace: string;
  name: string;
  ip: string | undefined;
}

/** A Service and when it was created (ISO 8601, as the API server writes it). */
export interface AgedService {
  service: Service;
  creationTimestamp: string;
}

const key = (s: Service) => `${s.metadata.namespace}/${s.metadata.name}`;

/** The Services' order of precedence: oldest first, then namespace/name. */
function byAge(a: AgedService, b: AgedService): number {
  if (a.creationTimestamp !== b.creationTimestamp) return a.creationTimestamp < b.creationTimestamp ? -1 : 1;
  const ka = key(a.service);
  const kb = key(b.service);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The status changes that bring every Service's load-balancer address in step with the rules above. */
export function planLoadBalancerAddresses(aged: readonly AgedService[], lbCidr: string): LbStatusChange[] {
  const pool = networkOf(parseCidr(lbCidr));
  const inPool = (ip: string | undefined) => {
    const parsed = ip === undefined ? undefined : tryParseIp(ip);
    return parsed !== undefined && cidrContains(pool, parsed);
  };
  const sorted = [...aged].sort(byAge).map((a) => a.service);
  const taken = new Set<string>();
  const wanted = new Map<string, string | undefined>();
  // First the addresses Services already hold (oldest first wins a contested one).
  for (const s of sorted) {
    if (s.spec.type !== 'LoadBalancer') continue;
    const had = s.status?.loadBalancer.ingress?.[0]?.ip;
    if (had !== undefined && inPool(had) && !taken.has(had)) {
      taken.add(had);
      wanted.set(key(s), had);
    }
  }
  // Then the lowest free address for each Service still without one.
  const size = cidrSize(pool);
  let next = 0n;
  const free = (): string | undefined => {
    for (; next < size; next++) {
      const ip = addToIp(pool.address, next);
      if (!ip) return undefined;
      const text = formatIp(ip);
      if (!taken.has(text)) return text;
    }
    return undefined;
  };
  for (const s of sorted) {
    if (s.spec.type !== 'LoadBalancer' || wanted.has(key(s))) continue;
    const ip = free();
    if (ip !== undefined) taken.add(ip);
    wanted.set(key(s), ip);
  }
  const changes: LbStatusChange[] = [];
  for (const s of sorted) {
    const have = s.status?.loadBalancer.ingress?.map((i) => i.ip) ?? [];
    const want = s.spec.type === 'LoadBalancer' ? wanted.get(key(s)) : undefined;
    // Not a LoadBalancer: only an address of our pool is ours to take back.
    if (s.spec.type !== 'LoadBalancer' && !have.some(inPool)) continue;
    const same = want === undefined ? have.length === 0 : have.length === 1 && have[0] === want;
    if (!same) changes.push({ namespace: s.metadata.namespace, name: s.metadata.name, ip: want });
  }
  return changes;
}
