/**
 * Turning host-local allocations into the CNI result, and the resolv.conf reader behind
 * `ipam.resolvConf` (the reference's dns.go: nameserver, domain, search and options lines; the
 * rest is ignored).
 */

import type { CniDns, CniResult, CniRoute } from '../cni/result.js';
import { formatIp } from '../net/ip.js';
import type { Allocation } from './allocator.js';

/** Parses resolv.conf text into the result's dns object. */
export function parseResolvConf(text: string): CniDns {
  const dns: CniDns = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const [keyword, ...values] = line.split(/\s+/);
    if (values.length === 0) continue;
    switch (keyword) {
      case 'nameserver':
        (dns.nameservers ??= []).push(values[0]!);
        break;
      case 'domain':
        dns.domain = values[0]!;
        break;
      case 'search':
        (dns.search ??= []).push(...values);
        break;
      case 'options':
        (dns.options ??= []).push(...values);
        break;
      default:
        break;
    }
  }
  return dns;
}

/** The ADD result: one ips entry per range set (in set order), the config's routes, the dns. */
export function buildIpamResult(
  cniVersion: string,
  allocations: readonly Allocation[],
  routes: readonly CniRoute[],
  dns: CniDns | undefined,
): CniResult {
  const result: CniResult = {
    cniVersion,
    ips: allocations.map((a) => ({
      address: `${formatIp(a.ip)}/${a.range.subnet.prefix}`,
      gateway: formatIp(a.range.gateway),
    })),
    dns: dns ?? {},
  };
  if (routes.length > 0) result.routes = routes.map((r) => ({ ...r }));
  return result;
}
