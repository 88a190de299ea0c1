/**
 * What the model's values mean: the data type each selector reads, an atom's numeric value for
 * its type, a part as a closed interval, and the kernel's canonical form of interval elements.
 *
 * Shared by the packet tracer (./trace.ts), which matches packet fields against elements, and by
 * the fake (src/testkit/nft-fake.ts), which checks types and interval overlap as the kernel does.
 */

import { bitsOf, hostMask, tryParseIp } from '../net/ip.js';
import type { Atom, DataType, Part, Selector } from './model.js';

/** Protocol names nft prints (/etc/protocols), and their numbers. */
export const PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  'ipv6-icmp': 58,
  sctp: 132,
  udplite: 136,
};
const PROTOCOL_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(PROTOCOLS).map(([n, v]) => [v, n]));

export const CT_STATES = ['invalid', 'established', 'related', 'new', 'untracked'] as const;
export type CtState = (typeof CT_STATES)[number];

/** The data type a selector reads; undefined for selectors that are not set keys (fib). */
export function typeOfSelector(s: Selector): DataType | undefined {
  switch (s) {
    case 'ip saddr':
    case 'ip daddr':
    case 'arp saddr ip':
      return 'ipv4_addr';
    case 'ip6 saddr':
    case 'ip6 daddr':
      return 'ipv6_addr';
    case 'ip protocol':
    case 'ip6 nexthdr':
    case 'meta l4proto':
      return 'inet_proto';
    case 'th sport':
    case 'th dport':
    case 'tcp sport':
    case 'tcp dport':
    case 'udp sport':
    case 'udp dport':
      return 'inet_service';
    case 'iifname':
    case 'oifname':
    case 'meta iifname':
    case 'meta oifname':
    case 'meta ibrname':
    case 'meta obrname':
      return 'ifname';
    case 'meta mark':
    case 'ct mark':
      return 'mark';
    case 'meta nfproto':
      return 'nf_proto';
    case 'ct state':
      return 'ct_state';
    case 'ether saddr':
    case 'ether daddr':
    case 'arp saddr ether':
      return 'ether_addr';
    case 'ether type':
    case 'ip id':
    case 'ct status':
    case 'fib daddr type':
    case 'fib saddr type':
      return undefined;
  }
}

/** Types whose values are ordered numbers (and so can be ranges in interval sets). */
export function isOrdered(t: DataType): boolean {
  return (
    t === 'ipv4_addr' ||
    t === 'ipv6_addr' ||
    t === 'inet_proto' ||
    t === 'inet_service' ||
    t === 'mark' ||
    t === 'ether_addr'
  );
}

function addressValue(a: Atom, family: 4 | 6): bigint | undefined {
  const ip = typeof a === 'string' ? tryParseIp(a) : undefined;
  return ip && ip.family === family ? ip.value : undefined;
}

/**
 * The numeric value of an atom of type `t`, or undefined when it is not a valid value of that
 * type. Interface names are compared as text (see atomEquals).
 */
export function atomValue(a: Atom, t: DataType): bigint | undefined {
  switch (t) {
    case 'ipv4_addr':
      return addressValue(a, 4);
    case 'ipv6_addr':
      return addressValue(a, 6);
    case 'inet_proto': {
      const n = typeof a === 'number' ? a : PROTOCOLS[a];
      return n !== undefined && Number.isInteger(n) && n >= 0 && n <= 255 ? BigInt(n) : undefined;
    }
    case 'inet_service': {
      const n = typeof a === 'number' ? a : /^[0-9]+$/.test(a) ? Number(a) : NaN;
      return Number.isInteger(n) && n >= 0 && n <= 65535 ? BigInt(n) : undefined;
    }
    case 'mark':
      return typeof a === 'number' && Number.isInteger(a) && a >= 0 && a <= 0xffffffff ? BigInt(a) : undefined;
    case 'ether_addr':
      return typeof a === 'string' && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(a)
        ? BigInt(`0x${a.replace(/:/g, '')}`)
        : undefined;
    case 'nf_proto':
      return a === 'ipv4' ? 2n : a === 'ipv6' ? 10n : undefined;
    case 'ct_state': {
      const i = typeof a === 'string' ? CT_STATES.indexOf(a as CtState) : -1;
      return i < 0 ? undefined : BigInt(i);
    }
    case 'ifname':
      return undefined;
  }
}

/** Is `a` a valid value of type `t`? */
export function atomFits(a: Atom, t: DataType): boolean {
  if (t === 'ifname') return typeof a === 'string' && a.length > 0 && a.length <= 15;
  return atomValue(a, t) !== undefined;
}

/** A part as the closed interval [lo, hi] of its type, or undefined when it is not valid there. */
export function partInterval(p: Part, t: DataType): readonly [bigint, bigint] | undefined {
  if (typeof p === 'number' || typeof p === 'string') {
    const v = atomValue(p, t);
    return v === undefined ? undefined : [v, v];
  }
  if ('prefix' in p) {
    if (t !== 'ipv4_addr' && t !== 'ipv6_addr') return undefined;
    const family = t === 'ipv4_addr' ? 4 : 6;
    const base = addressValue(p.prefix.addr, family);
    const len = p.prefix.len;
    if (base === undefined || !Number.isInteger(len) || len < 0 || len > bitsOf(family)) return undefined;
    const host = hostMask(family, len);
    return [base & ~host, (base & ~host) | host];
  }
  const lo = atomValue(p.range[0], t);
  const hi = atomValue(p.range[1], t);
  return lo === undefined || hi === undefined || lo > hi ? undefined : [lo, hi];
}

/** Does the packet's value `v` of type `t` fall in the part? (ifname: text equality, `*` suffix wildcard.) */
export function partContains(p: Part, t: DataType, v: Atom): boolean {
  if (t === 'ifname') {
    if (typeof p !== 'string' || typeof v !== 'string') return false;
    return p.endsWith('*') ? v.startsWith(p.slice(0, -1)) : p === v;
  }
  const iv = partInterval(p, t);
  const x = atomValue(v, t);
  return iv !== undefined && x !== undefined && iv[0] <= x && x <= iv[1];
}

/**
 * The form the kernel lists a part in, for a set of type `t` (so the fake lists what nft would):
 * protocol numbers by name; in interval sets, a full-length prefix or a one-value range as the
 * bare value, and a range that is exactly a prefix as that prefix.
 */
export function canonicalPart(p: Part, t: DataType, interval: boolean): Part {
  if (t === 'inet_proto' && typeof p === 'number') return PROTOCOL_NAMES.get(p) ?? p;
  if (t === 'inet_service' && typeof p === 'string' && /^[0-9]+$/.test(p)) return Number(p);
  if (!interval || typeof p !== 'object') return p;
  const iv = partInterval(p, t);
  if (!iv) return p;
  const [lo, hi] = iv;
  if (lo === hi) return 'prefix' in p ? p.prefix.addr : p.range[0];
  if ((t === 'ipv4_addr' || t === 'ipv6_addr') && 'range' in p) {
    const family = t === 'ipv4_addr' ? 4 : 6;
    const size = hi - lo + 1n;
    const bits = size.toString(2).length - 1;
    if (1n << BigInt(bits) === size && (lo & (size - 1n)) === 0n)
      return { prefix: { addr: String(p.range[0]), len: bitsOf(family) - bits } };
  }
  return p;
}
