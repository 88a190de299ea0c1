/**
 * IP address and CIDR arithmetic for IPv4 and IPv6, on bigints.
 *
 * Everything in weft that reasons about addresses (IPAM ranges, subnet leases, policy ipBlocks,
 * route destinations) goes through here, so that parsing and the canonical text form are decided
 * once. The text form matches Go's net.IP.String() (RFC 5952 for IPv6), because the reference
 * host-local plugin names its reservation files that way and weft must find them.
 */

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  /** The address as an unsigned integer of 32 (IPv4) or 128 (IPv6) bits. */
  readonly value: bigint;
}

export interface IpNet {
  /** The address as written (host bits may be set, as in "10.1.2.3/24" on an interface). */
  readonly address: IpAddress;
  readonly prefix: number;
}

export class IpParseError extends Error {
  override readonly name = 'IpParseError';
}

export function bitsOf(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    // Go rejects leading zeros (ambiguous octal); so do we.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  if (text.length === 0 || text.includes('%')) return undefined;
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const groups = s.split(':');
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = parseGroups(halves[0] ?? '');
  const right = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return undefined;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return undefined;
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  if (tailV4 !== undefined) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

/** Parses an IPv4 or IPv6 address; returns undefined when the text is not one. */
export function tryParseIp(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const v = parseIpv6(text);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseIpv4(text);
  return v === undefined ? undefined : { family: 4, value: v };
}

export function parseIp(text: string): IpAddress {
  const ip = tryParseIp(text);
  if (!ip) throw new IpParseError(`invalid IP address "${text}"`);
  return ip;
}

/** Parses "addr/prefix"; returns undefined when the text is not a CIDR. */
export function tryParseCidr(text: string): IpNet | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = tryParseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!address || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bitsOf(address.family)) return undefined;
  return { address, prefix };
}

export function parseCidr(text: string): IpNet {
  const net = tryParseCidr(text);
  if (!net) throw new IpParseError(`invalid CIDR "${text}"`);
  return net;
}

/**
 * tryParseIp and parseCidr through a bounded cache, for hot loops that parse the same few
 * thousand addresses again and again (NetworkPolicy planning matches every pod against every
 * rule). The results are immutable, so they can be shared.
 */
const IP_CACHE = new Map<string, IpAddress | undefined>();
const CIDR_CACHE = new Map<string, IpNet>();
const CACHE_LIMIT = 100_000;

export function tryParseIpCached(text: string): IpAddress | undefined {
  if (IP_CACHE.has(text)) return IP_CACHE.get(text);
  if (IP_CACHE.size >= CACHE_LIMIT) IP_CACHE.clear();
  const ip = tryParseIp(text);
  IP_CACHE.set(text, ip);
  return ip;
}

export function parseCidrCached(text: string): IpNet {
  const hit = CIDR_CACHE.get(text);
  if (hit) return hit;
  if (CIDR_CACHE.size >= CACHE_LIMIT) CIDR_CACHE.clear();
  const net = parseCidr(text);
  CIDR_CACHE.set(text, net);
  return net;
}

export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run of two or more zero groups (the first one on a tie).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number | undefined) => (g ?? 0).toString(16);
  if (bestStart < 0) return groups.map(hex).join(':');
  const left = groups.slice(0, bestStart).map(hex).join(':');
  const right = groups
    .slice(bestStart + bestLen)
    .map(hex)
    .join(':');
  return `${left}::${right}`;
}

/** "addr/prefix" keeping the host bits, as an interface address is written. */
export function formatIpNet(net: IpNet): string {
  return `${formatIp(net.address)}/${net.prefix}`;
}

export function hostMask(family: IpFamily, prefix: number): bigint {
  return (1n << BigInt(bitsOf(family) - prefix)) - 1n;
}

/** The network (host bits cleared) of a CIDR. */
export function networkOf(net: IpNet): IpNet {
  const mask = hostMask(net.address.family, net.prefix);
  return { address: { family: net.address.family, value: net.address.value & ~mask }, prefix: net.prefix };
}

/** The first and last addresses a CIDR covers. */
export function firstIp(net: IpNet): IpAddress {
  return networkOf(net).address;
}

export function lastIp(net: IpNet): IpAddress {
  const mask = hostMask(net.address.family, net.prefix);
  return { family: net.address.family, value: net.address.value | mask };
}

export function formatCidr(net: IpNet): string {
  return formatIpNet(networkOf(net));
}

export function sameIp(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.value === b.value;
}

export function compareIp(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

export function cidrContains(net: IpNet, ip: IpAddress): boolean {
  if (net.address.family !== ip.family) return false;
  const mask = hostMask(ip.family, net.prefix);
  return (net.address.value & ~mask) === (ip.value & ~mask);
}

/** True when the two CIDRs share at least one address. */
export function cidrsOverlap(a: IpNet, b: IpNet): boolean {
  if (a.address.family !== b.address.family) return false;
  const shorter = a.prefix <= b.prefix ? a : b;
  const longer = shorter === a ? b : a;
  return cidrContains(shorter, longer.address);
}

export function addToIp(ip: IpAddress, delta: bigint): IpAddress | undefined {
  const value = ip.value + delta;
  const max = (1n << BigInt(bitsOf(ip.family))) - 1n;
  if (value < 0n || value > max) return undefined;
  return { family: ip.family, value };
}

export function nextIp(ip: IpAddress): IpAddress | undefined {
  return addToIp(ip, 1n);
}

export function ipFromValue(family: IpFamily, value: bigint): IpAddress {
  return { family, value };
}

/** Number of addresses in a CIDR. */
export function cidrSize(net: IpNet): bigint {
  return 1n << BigInt(bitsOf(net.address.family) - net.prefix);
}
