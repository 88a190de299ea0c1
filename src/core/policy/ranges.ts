/**
 * IPv4 address ranges for NetworkPolicy ipBlocks: an ipBlock's cidr minus its excepts, as the
 * disjoint, merged intervals an nftables interval set accepts (its elements may not overlap).
 * IPv4 only, as the policy tables are; other families give no ranges.
 */

import { firstIp, formatIp, ipFromValue, lastIp, parseCidrCached } from '../net/ip.js';

export type Range = [bigint, bigint];

/** Sorted, merged (overlapping or adjacent ranges joined). */
export function mergeRanges(ranges: readonly Range[]): Range[] {
  const s = [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Range[] = [];
  for (const r of s) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1n) last[1] = r[1] > last[1] ? r[1] : last[1];
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** cidr minus every except, as sorted disjoint ranges (IPv4 only; other families give nothing). */
export function blockRanges(cidr: string, except: readonly string[]): Range[] {
  const net = parseCidrCached(cidr);
  if (net.address.family !== 4) return [];
  let ranges: Range[] = [[firstIp(net).value, lastIp(net).value]];
  for (const e of except) {
    const ex = parseCidrCached(e);
    if (ex.address.family !== 4) continue;
    const [lo, hi] = [firstIp(ex).value, lastIp(ex).value];
    ranges = ranges.flatMap(([a, b]): Range[] => {
      if (hi < a || lo > b) return [[a, b]];
      const parts: Range[] = [];
      if (lo > a) parts.push([a, lo - 1n]);
      if (hi < b) parts.push([hi + 1n, b]);
      return parts;
    });
  }
  return mergeRanges(ranges);
}

export function formatV4(value: bigint): string {
  return formatIp(ipFromValue(4, value));
}

/** "a" for a single address, "a-b" otherwise (nft's interval element syntax). */
export function fmtRange([a, b]: Range): string {
  return a === b ? formatV4(a) : `${formatV4(a)}-${formatV4(b)}`;
}
