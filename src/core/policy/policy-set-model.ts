/**
 * The vocabulary of the shared-set policy plan (policy-sets.ts): what a planned set, element,
 * rule and chain are, as plain data the renderer (policy-table.ts) turns into nftables, and the
 * keys that decide when two peers or port lists are the same set (equal key, equal members).
 */

import type { LabelSelector, NetworkPolicyPeer, NetworkPolicyPort, Protocol } from '../k8s/objects.js';
import { formatLabelSelector } from '../k8s/selector.js';
import { tryParseIpCached } from '../net/ip.js';
import type { Direction, PolicyPod } from './evaluate.js';

/** A pod as the planner sees it: `local` when it runs on this node (hostNetwork pods never are). */
export interface PolicySetPod extends PolicyPod {
  local: boolean;
}

export type PolicySetType = 'addr' | 'addr-interval' | 'addr-pair' | 'proto-port-interval' | 'addr-proto-port';

/** One set element as typed data (addresses in dotted form). */
export type PolicyElement =
  | { type: 'addr'; addr: string }
  | { type: 'addr-interval'; from: string; to: string }
  | { type: 'addr-pair'; a: string; b: string }
  | { type: 'proto-port-interval'; protocol: Protocol; from: number; to: number }
  | { type: 'addr-proto-port'; addr: string; protocol: Protocol; port: number };

/** What a rule matches on; every match is a set lookup. */
export type PolicyMatch =
  /** `ip saddr @set` */
  | { match: 'saddr'; set: string }
  /** `ip daddr @set` */
  | { match: 'daddr'; set: string }
  /** `meta l4proto . th dport @set` */
  | { match: 'proto-port'; set: string }
  /** `ip daddr . meta l4proto . th dport @set` */
  | { match: 'daddr-proto-port'; set: string };

export interface PlannedRule {
  /** All must match; then the direction is allowed (`return`). Empty: allows everything. */
  matches: PolicyMatch[];
  policy: string;
  direction: Direction;
  /** 0-based index into spec.ingress / spec.egress. */
  rule: number;
  /** "ns/name ingress[i]": what `weft trace` names. */
  comment: string;
}

export interface PlannedSet {
  name: string;
  type: PolicySetType;
  comment: string;
  elements: PolicyElement[];
}

export interface PlannedChain {
  name: string;
  direction: Direction;
  /** "ns/name" of the policies of the group, sorted. */
  policies: string[];
  comment: string;
  /** Allowing rules; the renderer ends the chain with a drop. */
  rules: PlannedRule[];
}

/** The node's whole desired state, besides the fixed skeleton (policy-table.ts). */
export interface PolicyTableState {
  sets: PlannedSet[];
  chains: PlannedChain[];
  /** Local pod address → group chain, per direction. */
  ingressPods: Array<{ addr: string; chain: string }>;
  egressPods: Array<{ addr: string; chain: string }>;
}

export const PROTOCOL_NAMES: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/** The nft text of an element: also its identity for diffing. */
export function elementKey(e: PolicyElement): string {
  switch (e.type) {
    case 'addr':
      return e.addr;
    case 'addr-interval':
      return e.from === e.to ? e.from : `${e.from}-${e.to}`;
    case 'addr-pair':
      return `${e.a} . ${e.b}`;
    case 'proto-port-interval':
      return `${PROTOCOL_NAMES[e.protocol]} . ${e.from === e.to ? e.from : `${e.from}-${e.to}`}`;
    case 'addr-proto-port':
      return `${e.addr} . ${PROTOCOL_NAMES[e.protocol]} . ${e.port}`;
  }
}

/** A canonical text of a selector: equal text, equal meaning (order of labels and values ignored). */
function canonSelector(s: LabelSelector | undefined): string {
  if (!s) return '-';
  const labels = Object.entries(s.matchLabels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  const exprs = s.matchExpressions.map((r) => `${r.key} ${r.operator} ${[...r.values].sort().join(',')}`).sort();
  return JSON.stringify([labels, exprs]);
}

/** Equal keys, equal members: the identity of a peer's set. */
export function peerKey(ns: string, peer: NetworkPolicyPeer): string {
  if (peer.ipBlock) return `block ${peer.ipBlock.cidr} except ${[...peer.ipBlock.except].sort().join(',')}`;
  return peer.namespaceSelector
    ? `ns ${canonSelector(peer.namespaceSelector)} pods ${canonSelector(peer.podSelector)}`
    : `in ${ns} pods ${canonSelector(peer.podSelector)}`;
}

/** nft comments hold at most 128 bytes. */
export function clip(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

const selectorText = (s: LabelSelector | undefined) => (s ? formatLabelSelector(s) || 'all' : 'all');

/** A peer in kubectl's selector words, for set comments. */
export function describePeer(ns: string, peer: NetworkPolicyPeer): string {
  if (peer.ipBlock)
    return clip(
      `ipBlock ${peer.ipBlock.cidr}${peer.ipBlock.except.length > 0 ? ` except ${peer.ipBlock.except.join(' ')}` : ''}`,
    );
  const pods = `pods ${selectorText(peer.podSelector)}`;
  return clip(
    peer.namespaceSelector ? `${pods} in namespaces ${selectorText(peer.namespaceSelector)}` : `${pods} in ${ns}`,
  );
}

export function ipv4(ip: string | undefined): string | undefined {
  if (ip === undefined) return undefined;
  const a = tryParseIpCached(ip);
  return a && a.family === 4 ? ip : undefined;
}

/** Merges [from, to] port ranges per protocol into disjoint elements. */
export function portElements(ports: readonly NetworkPolicyPort[]): PolicyElement[] {
  const out: PolicyElement[] = [];
  for (const protocol of ['TCP', 'UDP', 'SCTP'] as const) {
    const ranges = ports
      .filter((p) => p.protocol === protocol && typeof p.port !== 'string')
      .map((p): [number, number] =>
        p.port === undefined ? [0, 65535] : [p.port as number, p.endPort ?? (p.port as number)],
      )
      .sort((a, b) => a[0] - b[0]);
    let cur: [number, number] | undefined;
    for (const r of ranges) {
      if (cur && r[0] <= cur[1] + 1) cur[1] = Math.max(cur[1], r[1]);
      else {
        if (cur) out.push({ type: 'proto-port-interval', protocol, from: cur[0], to: cur[1] });
        cur = [r[0], r[1]];
      }
    }
    if (cur) out.push({ type: 'proto-port-interval', protocol, from: cur[0], to: cur[1] });
  }
  return out;
}

export function dedupe(list: Array<{ addr: string; chain: string }>): Array<{ addr: string; chain: string }> {
  const seen = new Map<string, { addr: string; chain: string }>();
  for (const x of list) if (!seen.has(x.addr)) seen.set(x.addr, x);
  return [...seen.values()];
}

export function dedupeNamed<T extends { port: string; protocol: Protocol }>(list: readonly T[]): T[] {
  const seen = new Map<string, T>();
  for (const p of list) seen.set(`${p.port}/${p.protocol}`, p);
  return [...seen.values()];
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  if (a === b) return true;
  // Allocation-free: this runs for every pod of the cluster on every sync.
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const k in b) if (k !== undefined) n--;
  return n === 0;
}

export function samePod(a: PolicySetPod, b: PolicySetPod): boolean {
  if (a === b) return true;
  if (a.ip !== b.ip || a.local !== b.local || a.selectable !== b.selectable || a.namespace !== b.namespace)
    return false;
  if (!sameLabels(a.labels, b.labels)) return false;
  if (a.ports.length !== b.ports.length) return false;
  for (let i = 0; i < a.ports.length; i++) {
    const p = a.ports[i]!;
    const q = b.ports[i]!;
    if (p.containerPort !== q.containerPort || p.protocol !== q.protocol || p.name !== q.name) return false;
  }
  return true;
}
