/**
 * What the kernel reported for a probe packet (src/lab/packet-trace.ts), as hops in words: the
 * namespaces in path order, in each where the packet came in or went out and how it looked, every
 * rule that decided something (table, chain, the rule's comment, its verdict), and the end:
 * delivered, dropped (where and by which rule), or lost (seen last where).
 *
 * Path order is not the order the monitors' lines arrived (separate processes, microseconds
 * apart): it is the IP TTL, which every routed hop decrements and nothing else changes; at one
 * TTL (a packet bridged between two pods of a node keeps it) the sender comes first, then the
 * nodes, then the receiving pod.
 */

import { finalVerdict, type TraceEvent } from './nft-monitor.js';
import { describeRoute, type RouteHop } from './route-hop.js';

export interface SeenNamespace {
  label: string;
  traces: readonly (readonly TraceEvent[])[];
  /** The kernel's routing decision there, for a packet it forwarded. */
  route?: RouteHop;
}

export interface HopRule {
  table: string;
  chain: string;
  rule: string;
  comment?: string;
  verdict: string;
}

export interface Hop {
  label: string;
  /** Where the packet came in (prerouting) or went out (output), as the first chain saw it. */
  iif?: string;
  oif?: string;
  /** The packet as it first showed here and as the last chain saw it (after DNAT, for example). */
  first: string;
  last: string;
  /** The last packet's destination, "address:port" (or the address alone for ICMP). */
  dst: string;
  ttl: number;
  rules: HopRule[];
  route?: RouteHop;
  verdict: 'drop' | 'accept' | undefined;
}

export type TraceEnd =
  | { kind: 'dropped'; at: string; rule: HopRule | undefined }
  | { kind: 'delivered'; at: string }
  | { kind: 'lost'; after: string | undefined };

/**
 * A rule that decided something: accepted or dropped the packet, chose a chain by a map (goto),
 * translated it (dnat, snat, masquerade), or explained itself in a comment when it returned (the
 * "no NAT inside the cluster network" kind). Plain jumps into a chain and returns without a word
 * are the way there, not decisions.
 */
function decided(e: TraceEvent): boolean {
  if (e.kind !== 'rule' || e.table.startsWith('weft-trace') || e.verdict === undefined) return false;
  const v = e.verdict.split(' ')[0];
  if (v === 'accept' || v === 'drop' || v === 'goto') return true;
  if (/\b(dnat|snat|masquerade|reject)\b/.test(e.rule ?? '')) return true;
  return v === 'return' && e.comment !== undefined;
}

/** "10.0.0.1:4000 → 10.0.0.2:80 tcp syn" from a packet line's fields. */
export function describePacket(p: Readonly<Record<string, string>>): string {
  const proto = ['tcp', 'udp', 'icmp'].find((x) => Object.keys(p).some((k) => k.startsWith(`${x} `))) ?? '?';
  const port = (which: 'sport' | 'dport') => (p[`${proto} ${which}`] ? `:${p[`${proto} ${which}`]}` : '');
  const extra = proto === 'tcp' ? (p['tcp flags'] ?? '') : proto === 'icmp' ? (p['icmp type'] ?? '') : '';
  return `${p['ip saddr'] ?? '?'}${port('sport')} → ${p['ip daddr'] ?? '?'}${port('dport')} ${proto}${extra ? ` ${extra}` : ''}`;
}

/** "10.0.0.2:80" (or "10.0.0.2" for ICMP) from a packet line's fields. */
export function destinationOf(p: Readonly<Record<string, string>>): string {
  const port = p['tcp dport'] ?? p['udp dport'];
  return `${p['ip daddr'] ?? '?'}${port !== undefined ? `:${port}` : ''}`;
}

/** The hops in path order, and how the packet's journey ended. */
export function hopsOf(seen: readonly SeenNamespace[], source: string): { hops: Hop[]; end: TraceEnd } {
  const hops: Hop[] = [];
  for (const ns of seen) {
    // One hop per namespace: its trace ids (the kernel may give a bridged-then-routed packet two)
    // in the order of the packet's TTL there.
    const traces = ns.traces
      .map((events) => ({ events, ttl: Number(events.find((e) => e.packet)?.packet?.['ip ttl'] ?? 0) }))
      .filter((t) => t.events.some((e) => e.packet))
      .sort((a, b) => b.ttl - a.ttl);
    if (traces.length === 0) continue;
    const events = traces.flatMap((t) => t.events);
    const lines = events.filter((e) => e.kind === 'packet' && e.packet).map((e) => e.packet!);
    const iif = lines.find((p) => p.iif !== undefined)?.iif;
    const oif = [...lines].reverse().find((p) => p.oif !== undefined)?.oif;
    // A bridged packet's postrouting lines may show no IP header: the packet is the last one that does.
    const packets = lines.filter((p) => p['ip saddr'] !== undefined);
    if (packets.length === 0) continue;
    const first = packets[0]!;
    hops.push({
      label: ns.label,
      ...(iif !== undefined ? { iif } : {}),
      ...(oif !== undefined ? { oif } : {}),
      first: describePacket(first),
      last: describePacket(packets.at(-1)!),
      dst: destinationOf(packets.at(-1)!),
      ttl: traces[0]!.ttl,
      rules: events.filter(decided).map((e) => ({
        table: `${e.family} ${e.table}`,
        chain: e.chain,
        rule: e.rule ?? '',
        ...(e.comment !== undefined ? { comment: e.comment } : {}),
        verdict: e.verdict!,
      })),
      ...(ns.route ? { route: ns.route } : {}),
      verdict: finalVerdict(events),
    });
  }
  // Bridged between pods of one node the TTL does not change: the sender, then the node, then the receiver.
  const rank = (h: Hop) => (h.label === source ? 0 : h.label.startsWith('pod ') ? 2 : 1);
  hops.sort((a, b) => b.ttl - a.ttl || rank(a) - rank(b));
  const dropped = hops.find((h) => h.verdict === 'drop');
  if (dropped)
    return { hops, end: { kind: 'dropped', at: dropped.label, rule: dropped.rules.find((r) => r.verdict === 'drop') } };
  const lastHop = hops.at(-1);
  if (lastHop && lastHop.label !== source && lastHop.label.startsWith('pod ') && lastHop.oif === undefined)
    return { hops, end: { kind: 'delivered', at: lastHop.label } };
  return { hops, end: { kind: 'lost', after: lastHop?.label } };
}

/** The hops as text, one block per namespace. */
export function renderHops(hops: readonly Hop[], end: TraceEnd): string {
  const out: string[] = [];
  hops.forEach((h, i) => {
    const where = [h.iif !== undefined ? `in from ${h.iif}` : 'sent', h.oif !== undefined ? `out ${h.oif}` : '']
      .filter(Boolean)
      .join(', ');
    out.push(`${i + 1}. ${h.label}: ${where}, ${h.first} (ttl ${h.ttl})`);
    for (const r of h.rules)
      out.push(`     ${r.table} ${r.chain}: ${r.comment ? `"${r.comment}" ` : ''}${r.rule} → ${r.verdict}`);
    if (h.last !== h.first) out.push(`     now ${h.last}`);
    if (h.route && h.verdict !== 'drop') out.push(`     ${describeRoute(h.route)}`);
  });
  if (end.kind === 'dropped')
    out.push(
      `dropped in ${end.at}${end.rule ? ` by ${end.rule.table} ${end.rule.chain}${end.rule.comment ? ` ("${end.rule.comment}")` : ''}` : ''}`,
    );
  else if (end.kind === 'delivered') out.push(`delivered to ${end.at}`);
  else out.push(`not seen after ${end.after ?? 'the sender'} (no namespace reported it further)`);
  return out.join('\n') + '\n';
}
