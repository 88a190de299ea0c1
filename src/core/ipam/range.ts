/**
 * IPAM ranges and range sets: the canonical model behind host-local, with the reference plugin's
 * defaults and weft's stricter validation.
 *
 * A range is an interval [rangeStart, rangeEnd] inside a subnet, with a gateway. A range set is a
 * list of ranges of one family from which a container gets exactly one address; a config has one
 * range set per address the container gets (so dual-stack is two range sets).
 *
 * Defaults follow the reference (plugins/ipam/host-local/backend/allocator/range.go): gateway =
 * network+1, rangeStart = network+1, rangeEnd = broadcast-1 for IPv4 and the last address for
 * IPv6. Beyond the reference, weft rejects a gateway outside its subnet, rangeStart > rangeEnd and
 * ranges with no allocatable address, and never allocates the network address, the IPv4
 * broadcast or any gateway even when rangeStart/rangeEnd include them (the reference would hand
 * out 10.0.0.255 of a /24 if rangeStart said so).
 */

import {
  bitsOf,
  cidrContains,
  compareIp,
  firstIp,
  formatCidr,
  formatIp,
  lastIp,
  networkOf,
  sameIp,
  tryParseCidr,
  tryParseIp,
  type IpAddress,
  type IpFamily,
  type IpNet,
} from '../net/ip.js';

/** A range as written in the config; every field is text. */
export interface RangeSpec {
  subnet: string;
  rangeStart?: string | undefined;
  rangeEnd?: string | undefined;
  gateway?: string | undefined;
}

/** A validated range with every default filled in. */
export interface IpRange {
  /** The subnet, host bits cleared. */
  readonly subnet: IpNet;
  readonly start: IpAddress;
  readonly end: IpAddress;
  readonly gateway: IpAddress;
}

export type RangeSet = readonly IpRange[];

/** A validation failure: `field` is the config path ("ipam.ranges[0][1].gateway"). */
export class RangeConfigError extends Error {
  override readonly name = 'RangeConfigError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

export function familyOf(range: IpRange): IpFamily {
  return range.subnet.address.family;
}

/** "10.0.0.1-10.0.0.254 in 10.0.0.0/24" */
export function formatRange(range: IpRange): string {
  return `${formatIp(range.start)}-${formatIp(range.end)} in ${formatCidr(range.subnet)}`;
}

/** "10.0.0.1-10.0.0.254 in 10.0.0.0/24, ..." */
export function formatRangeSet(set: RangeSet): string {
  return set.map(formatRange).join(', ');
}

/** Addresses of `range`'s subnet that are never handed out: network, IPv4 broadcast. */
function isNetworkOrBroadcast(range: IpRange, ip: IpAddress): boolean {
  if (sameIp(ip, firstIp(range.subnet))) return true;
  return familyOf(range) === 4 && sameIp(ip, lastIp(range.subnet));
}

/** True when `ip` is in [start, end] of the range (same family). */
export function rangeContains(range: IpRange, ip: IpAddress): boolean {
  return ip.family === familyOf(range) && compareIp(ip, range.start) >= 0 && compareIp(ip, range.end) <= 0;
}

/** The range of the set whose interval holds `ip`, or undefined when none does. */
export function rangeFor(set: RangeSet, ip: IpAddress): IpRange | undefined {
  return set.find((r) => rangeContains(r, ip));
}

export function rangeSetContains(set: RangeSet, ip: IpAddress): boolean {
  return rangeFor(set, ip) !== undefined;
}

/**
 * True when `ip` may be handed out from `range`: inside its interval, not the network address,
 * not the IPv4 broadcast, and not one of `gateways`.
 */
export function isAllocatable(range: IpRange, ip: IpAddress, gateways: readonly IpAddress[]): boolean {
  if (!rangeContains(range, ip) || isNetworkOrBroadcast(range, ip)) return false;
  return !gateways.some((g) => sameIp(g, ip));
}

/** Every gateway of every range in the sets (allocation skips them all). */
export function gatewaysOf(sets: readonly RangeSet[]): IpAddress[] {
  return sets.flatMap((s) => s.map((r) => r.gateway));
}

/** How many addresses the range can hand out, given the gateways to skip. */
export function allocatableCount(range: IpRange, gateways: readonly IpAddress[]): bigint {
  let n = range.end.value - range.start.value + 1n;
  const excluded: IpAddress[] = [firstIp(range.subnet)];
  if (familyOf(range) === 4) excluded.push(lastIp(range.subnet));
  for (const g of gateways) if (!excluded.some((e) => sameIp(e, g))) excluded.push(g);
  for (const e of excluded) if (rangeContains(range, e)) n -= 1n;
  return n;
}

function parseAddress(field: string, text: string): IpAddress {
  const ip = tryParseIp(text);
  if (!ip) throw new RangeConfigError(field, `invalid IP address "${text}"`);
  return ip;
}

/**
 * Validates one range and fills in its defaults. `field` is the config path of the range
 * object; errors name the member ("<field>.rangeStart: ...").
 */
export function canonicalizeRange(spec: RangeSpec, field: string): IpRange {
  const parsed = tryParseCidr(spec.subnet);
  if (!parsed) throw new RangeConfigError(`${field}.subnet`, `invalid CIDR "${spec.subnet}"`);
  const family = parsed.address.family;
  const bits = bitsOf(family);
  // The reference refuses /31 and /32 (and /127, /128): no room for network + one host.
  if (parsed.prefix > bits - 2) {
    throw new RangeConfigError(
      `${field}.subnet`,
      `network ${spec.subnet} is too small to allocate from (needs a prefix of /${bits - 2} or shorter)`,
    );
  }
  const subnet = networkOf(parsed);
  if (subnet.address.value !== parsed.address.value) {
    throw new RangeConfigError(
      `${field}.subnet`,
      `"${spec.subnet}" has host bits set; the network address is ${formatCidr(subnet)}`,
    );
  }
  const network = firstIp(subnet);
  const last = lastIp(subnet);
  const inSubnet = (name: string, text: string): IpAddress => {
    const ip = parseAddress(`${field}.${name}`, text);
    if (ip.family !== family)
      throw new RangeConfigError(
        `${field}.${name}`,
        `${text} is not of the same family as subnet ${formatCidr(subnet)}`,
      );
    if (!cidrContains(subnet, ip))
      throw new RangeConfigError(`${field}.${name}`, `${text} is not in subnet ${formatCidr(subnet)}`);
    return ip;
  };
  const plusOne: IpAddress = { family, value: network.value + 1n };
  const gateway = spec.gateway ? inSubnet('gateway', spec.gateway) : plusOne;
  const start = spec.rangeStart ? inSubnet('rangeStart', spec.rangeStart) : plusOne;
  const end = spec.rangeEnd
    ? inSubnet('rangeEnd', spec.rangeEnd)
    : family === 4
      ? { family, value: last.value - 1n }
      : last;
  if (compareIp(start, end) > 0) {
    throw new RangeConfigError(`${field}.rangeStart`, `${formatIp(start)} is after rangeEnd ${formatIp(end)}`);
  }
  const range: IpRange = { subnet, start, end, gateway };
  if (allocatableCount(range, [gateway]) === 0n) {
    throw new RangeConfigError(
      field,
      `range ${formatIp(start)}-${formatIp(end)} has no allocatable address (network, broadcast and gateway are never handed out)`,
    );
  }
  return range;
}

function rangesOverlap(a: IpRange, b: IpRange): boolean {
  if (familyOf(a) !== familyOf(b)) return false;
  return compareIp(a.start, b.end) <= 0 && compareIp(b.start, a.end) <= 0;
}

/**
 * Validates a range set: not empty, every range valid, one family, no two ranges overlapping.
 * `field` is the config path of the set ("ipam.ranges[0]"); `fieldOf(i)` names range i.
 */
export function canonicalizeRangeSet(
  specs: readonly RangeSpec[],
  field: string,
  fieldOf: (i: number) => string,
): IpRange[] {
  if (specs.length === 0) throw new RangeConfigError(field, 'empty range set');
  const set = specs.map((s, i) => canonicalizeRange(s, fieldOf(i)));
  const family = familyOf(set[0]!);
  set.forEach((r, i) => {
    if (familyOf(r) !== family) {
      throw new RangeConfigError(
        fieldOf(i),
        `mixes IPv${familyOf(r)} into an IPv${family} range set (use a separate range set per family)`,
      );
    }
  });
  for (let i = 0; i < set.length; i++) {
    for (let j = i + 1; j < set.length; j++) {
      if (rangesOverlap(set[i]!, set[j]!)) {
        throw new RangeConfigError(fieldOf(j), `range ${formatRange(set[j]!)} overlaps ${formatRange(set[i]!)}`);
      }
    }
  }
  return set;
}

/** Rejects range sets that share an address (an address would belong to two sets). */
export function requireDisjointSets(sets: readonly RangeSet[], fieldOf: (i: number) => string): void {
  for (let i = 0; i < sets.length; i++) {
    for (let j = i + 1; j < sets.length; j++) {
      for (const a of sets[i]!) {
        const b = sets[j]!.find((r) => rangesOverlap(a, r));
        if (b)
          throw new RangeConfigError(
            fieldOf(j),
            `range set ${j} (${formatRange(b)}) overlaps range set ${i} (${formatRange(a)})`,
          );
      }
    }
  }
}
