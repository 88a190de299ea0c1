/**
 * Choosing a node's subnet: uniformly at random among the candidates in [SubnetMin, SubnetMax]
 * that no live lease holds, as Flannel does, so that nodes racing for a subnet rarely pick the
 * same one (and the loser of a race simply picks again). Randomness is injected.
 */

import { formatIp, ipFromValue, parseCidr } from '../net/ip.js';
import { subnetSpan, type NetConf } from './net-conf.js';

export class SubnetsExhaustedError extends Error {
  override readonly name = 'SubnetsExhaustedError';
}

/** Picks a free subnet; throws SubnetsExhaustedError when every candidate is leased. */
export function pickSubnet(conf: NetConf, leased: Iterable<string>, random: () => number): string {
  const { first, last, step, prefix } = subnetSpan(conf);
  const taken = new Set<bigint>();
  for (const s of leased) {
    const n = parseCidr(s);
    if (n.prefix === prefix) taken.add(n.address.value);
  }
  const total = Number((last - first) / step) + 1;
  const free: bigint[] = [];
  // Networks are at most a /8 of /30s (4M candidates) in practice; listing the free ones keeps
  // the pick uniform and exact.
  for (let v = first; v <= last; v += step) if (!taken.has(v)) free.push(v);
  if (free.length === 0) {
    throw new SubnetsExhaustedError(
      `no free subnet: all ${total} subnets of length /${prefix} in ${conf.network} between ${conf.subnetMin} and ${conf.subnetMax} are leased`,
    );
  }
  const i = Math.min(free.length - 1, Math.floor(random() * free.length));
  return `${formatIp(ipFromValue(4, free[i]!))}/${prefix}`;
}
