/**
 * The host-local allocator: gives an attachment (container id + ifname) one address from each
 * range set, over the IpamStore port, and the CHECK / GC / STATUS questions asked of the same
 * store.
 *
 * Order of allocation follows the reference (backend/allocator/allocator.go): round-robin,
 * starting just after the last address reserved from that range set, walking the ranges of the
 * set in order and wrapping around; gateways, network addresses and IPv4 broadcasts are skipped.
 * Unlike the reference, which walks candidate by candidate asking the store, weft reads the
 * taken addresses once and walks only over them, so a full /64 is detected without iterating it.
 *
 * Differences from the reference, on purpose:
 * - ADD is idempotent: an attachment that already holds an address in a range set gets it back
 *   (the reference fails with "duplicate allocation is not allowed").
 * - A failed ADD releases exactly the addresses this ADD reserved, not older ones of the
 *   attachment (the reference releases everything of the container id).
 * The caller holds the network lock for the whole call.
 */

import { CniError, CniErrorCode } from '../cni/errors.js';
import { formatIp, sameIp, tryParseIp, type IpAddress } from '../net/ip.js';
import type { IpamStore, Reservation } from '../../ports/ipam-store.js';
import {
  allocatableCount,
  formatRangeSet,
  gatewaysOf,
  isAllocatable,
  rangeFor,
  type IpRange,
  type RangeSet,
} from './range.js';

export interface Allocation {
  rangeSetIndex: number;
  ip: IpAddress;
  /** The range the address came from (its subnet gives the prefix, its gateway the gateway). */
  range: IpRange;
  /** True when the attachment already held this address before this ADD. */
  reused: boolean;
}

export interface Attachment {
  containerId: string;
  ifname: string;
}

/**
 * The addresses `reservations` give to the attachment: its own, plus id-only ones of its
 * container (the old reference format, which recorded no ifname). IpamStore.getById agrees.
 */
export function heldBy(reservations: readonly Reservation[], att: Attachment): IpAddress[] {
  const id = att.containerId.trim();
  return reservations.flatMap((r) => {
    if (r.containerId !== id || (r.ifname !== undefined && r.ifname !== att.ifname)) return [];
    const ip = tryParseIp(r.ip);
    return ip ? [ip] : [];
  });
}

function key(ip: IpAddress): string {
  return `${ip.family}/${ip.value}`;
}

/**
 * The first allocatable address after `after` (or from the set's first rangeStart when `after`
 * is not in the set), walking the set's ranges in order and wrapping, that `isTaken` says is
 * free. Undefined when every allocatable address is taken.
 */
export function nextFree(
  set: RangeSet,
  after: IpAddress | undefined,
  gateways: readonly IpAddress[],
  isTaken: (ip: IpAddress) => boolean,
): { ip: IpAddress; range: IpRange } | undefined {
  if (set.length === 0) return undefined;
  let total = 0n;
  for (const r of set) total += r.end.value - r.start.value + 1n;
  let idx = after
    ? set.findIndex(
        (r) => r.start.family === after.family && after.value >= r.start.value && after.value <= r.end.value,
      )
    : -1;
  let cur: bigint;
  let first: boolean;
  if (idx >= 0 && after) {
    cur = after.value;
    first = false;
  } else {
    idx = 0;
    cur = set[0]!.start.value;
    first = true;
  }
  // Every address of the set is visited at most once; the walk stops early at the first free one,
  // which comes after at most (taken + skipped) steps.
  for (let step = 0n; step < total; step++) {
    if (!first) {
      const r = set[idx]!;
      if (cur === r.end.value) {
        idx = (idx + 1) % set.length;
        cur = set[idx]!.start.value;
      } else {
        cur += 1n;
      }
    }
    first = false;
    const range = set[idx]!;
    const ip: IpAddress = { family: range.start.family, value: cur };
    if (isAllocatable(range, ip, gateways) && !isTaken(ip)) return { ip, range };
  }
  return undefined;
}

/** Free allocatable addresses per range set, given the reservations. */
export function freeCounts(sets: readonly RangeSet[], reservations: readonly Reservation[]): bigint[] {
  const gateways = gatewaysOf(sets);
  return sets.map((set) => {
    let free = set.reduce((n, r) => n + allocatableCount(r, gateways), 0n);
    const seen = new Set<string>();
    for (const res of reservations) {
      const ip = tryParseIp(res.ip);
      if (!ip || seen.has(key(ip))) continue;
      const range = rangeFor(set, ip);
      if (range && isAllocatable(range, ip, gateways)) {
        seen.add(key(ip));
        free -= 1n;
      }
    }
    return free;
  });
}

function ioError(action: string, err: unknown): CniError {
  if (err instanceof CniError) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new CniError(CniErrorCode.IoFailure, `${action}: ${why}`, '', { cause: err });
}

async function storeCall<T>(action: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw ioError(action, err);
  }
}

/**
 * Gives the attachment one address per range set. `requested[i]`, when set, is the address the
 * runtime asked for in set i (see assignRequestedIps). On any failure, the addresses reserved by
 * this call are released before the error is thrown.
 */
export async function allocate(
  store: IpamStore,
  sets: readonly RangeSet[],
  att: Attachment,
  requested: ReadonlyArray<IpAddress | undefined>,
): Promise<Allocation[]> {
  const who = `${att.containerId}/${att.ifname}`;
  // One read of the directory serves both questions (what is taken, what is already ours),
  // keeping the time under the lock short during ADD storms.
  const reservations = await storeCall('list reservations', () => store.list());
  const held = heldBy(reservations, att);
  const taken = new Map<string, Reservation>();
  for (const r of reservations) {
    const ip = tryParseIp(r.ip);
    if (ip) taken.set(key(ip), r);
  }
  const gateways = gatewaysOf(sets);
  const made: Allocation[] = [];
  const out: Allocation[] = [];
  try {
    for (const [index, set] of sets.entries()) {
      const want = requested[index];
      const mine = held.find((ip) => rangeFor(set, ip) !== undefined);
      if (mine) {
        if (want && !sameIp(want, mine)) {
          throw new CniError(
            CniErrorCode.InvalidNetworkConfig,
            `${who} already holds ${formatIp(mine)} in range set ${index}; cannot also give it the requested ${formatIp(want)} (DEL it first)`,
          );
        }
        out.push({ rangeSetIndex: index, ip: mine, range: rangeFor(set, mine)!, reused: true });
        continue;
      }
      const got = want
        ? await reserveRequested(store, set, index, att, want, taken)
        : await reserveNext(store, set, index, att, gateways, taken);
      taken.set(key(got.ip), { ip: formatIp(got.ip), containerId: att.containerId, ifname: att.ifname });
      made.push(got);
      out.push(got);
    }
    return out;
  } catch (err) {
    throw await rollback(store, made, ioError(`allocate for ${who}`, err));
  }
}

async function reserveRequested(
  store: IpamStore,
  set: RangeSet,
  index: number,
  att: Attachment,
  want: IpAddress,
  taken: Map<string, Reservation>,
): Promise<Allocation> {
  const range = rangeFor(set, want);
  if (!range)
    throw new CniError(
      CniErrorCode.InvalidNetworkConfig,
      `requested IP ${formatIp(want)} is not in range set ${index} (${formatRangeSet(set)})`,
    );
  const text = formatIp(want);
  const ok = await storeCall(`reserve ${text}`, () => store.reserve(att.containerId, att.ifname, text, index));
  if (!ok) {
    const holder = taken.get(key(want));
    const by = holder ? ` (held by ${holder.containerId}${holder.ifname ? `/${holder.ifname}` : ''})` : '';
    throw new CniError(
      CniErrorCode.RangeExhausted,
      `requested IP address ${text} is not available in range set ${index}${by}`,
    );
  }
  return { rangeSetIndex: index, ip: want, range, reused: false };
}

async function reserveNext(
  store: IpamStore,
  set: RangeSet,
  index: number,
  att: Attachment,
  gateways: readonly IpAddress[],
  taken: Map<string, Reservation>,
): Promise<Allocation> {
  const lastText = await storeCall(`read last reserved address of range set ${index}`, () => store.lastReserved(index));
  let after = lastText !== undefined ? tryParseIp(lastText) : undefined;
  for (;;) {
    const next = nextFree(set, after, gateways, (ip) => taken.has(key(ip)));
    if (!next) {
      const size = set.reduce((n, r) => n + allocatableCount(r, gateways), 0n);
      throw new CniError(
        CniErrorCode.RangeExhausted,
        `no IP addresses available in range set ${index} (${formatRangeSet(set)}): all ${size} allocatable addresses are reserved`,
      );
    }
    const text = formatIp(next.ip);
    if (await storeCall(`reserve ${text}`, () => store.reserve(att.containerId, att.ifname, text, index))) {
      return { rangeSetIndex: index, ip: next.ip, range: next.range, reused: false };
    }
    // Someone holds it without our lock having seen it (a writer that does not lock): skip it.
    taken.set(key(next.ip), { ip: text, containerId: '?', ifname: undefined });
    after = next.ip;
  }
}

/** Releases what a failed ADD reserved; returns `cause` with any release failures attached. */
async function rollback(store: IpamStore, made: readonly Allocation[], cause: CniError): Promise<CniError> {
  const failures: string[] = [];
  for (const a of made) {
    const text = formatIp(a.ip);
    try {
      await store.release(text);
    } catch (err) {
      failures.push(`release ${text}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (failures.length === 0) return cause;
  const details = [cause.details, `rollback failed: ${failures.join('; ')}`].filter((d) => d !== '').join('; ');
  return new CniError(cause.code, cause.message, details, { cause });
}

/**
 * CHECK: the attachment must hold an address in every range set, and every address of
 * `expected` (the prevResult's) that lies in a range set must be one it holds.
 */
export async function checkAttachment(
  store: IpamStore,
  sets: readonly RangeSet[],
  att: Attachment,
  expected: readonly IpAddress[],
): Promise<void> {
  const who = `${att.containerId}/${att.ifname}`;
  const held = (await storeCall(`read addresses of ${who}`, () => store.getById(att.containerId, att.ifname))).flatMap(
    (t) => {
      const ip = tryParseIp(t);
      return ip ? [ip] : [];
    },
  );
  for (const [index, set] of sets.entries()) {
    if (!held.some((ip) => rangeFor(set, ip))) {
      throw new CniError(
        CniErrorCode.CheckFailed,
        `host-local: ${who} holds no address in range set ${index} (${formatRangeSet(set)})`,
      );
    }
  }
  for (const ip of expected) {
    if (!sets.some((s) => rangeFor(s, ip))) continue;
    if (!held.some((h) => sameIp(h, ip))) {
      throw new CniError(
        CniErrorCode.CheckFailed,
        `host-local: prevResult address ${formatIp(ip)} is not reserved for ${who}`,
      );
    }
  }
}

/**
 * GC: frees every reservation whose attachment is not in `valid`. An id-only reservation (old
 * reference format) stays when any valid attachment has its container id. Returns the freed
 * addresses.
 */
export async function collectGarbage(store: IpamStore, valid: readonly Attachment[]): Promise<string[]> {
  const keep = new Set(valid.map((a) => `${a.containerId}\n${a.ifname}`));
  const keepIds = new Set(valid.map((a) => a.containerId));
  const freed: string[] = [];
  const failures: string[] = [];
  for (const r of await storeCall('list reservations', () => store.list())) {
    const alive = r.ifname === undefined ? keepIds.has(r.containerId) : keep.has(`${r.containerId}\n${r.ifname}`);
    if (alive) continue;
    try {
      if (await store.release(r.ip)) freed.push(r.ip);
    } catch (err) {
      failures.push(`release ${r.ip}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (failures.length > 0)
    throw new CniError(CniErrorCode.IoFailure, `GC: ${failures.join('; ')}`, `freed: ${freed.join(', ') || 'none'}`);
  return freed;
}
