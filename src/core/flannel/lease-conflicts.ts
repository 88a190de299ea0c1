/**
 * Which peer leases a node routes to when leases disagree. Anyone who can write to the store can
 * add a lease, or rewrite one, so an agent must not believe two nodes at one underlay address, or
 * two subnets that overlap: routing to both would send one node's pods' traffic to the other (or
 * to whoever wrote the lease). flanneld trusts the store; weft keeps the view it had:
 *
 * - A peer lease that claims this node's underlay address, or overlaps this node's subnet, is
 *   ignored.
 * - Between peers, a lease seen before with the same address and node name (its last good value)
 *   wins over a new or changed one; among equals the lower subnet does (deterministic, so every
 *   node makes the same choice).
 * - A lease whose new value conflicts is routed at its last good value, if that one does not
 *   conflict: a forged rewrite of n1's lease does not cut n1's pods off.
 *
 * Every ignored lease is reported in one line that names both nodes; the agent reports the node
 * NotReady while any is left, and keeps the routes it had.
 */

import { cidrsOverlap, parseCidr } from '../net/ip.js';

export interface LeaseView {
  subnet: string;
  publicIp: string;
  nodeName?: string;
}

export interface LeaseResolution<L extends LeaseView> {
  /** The peers to route to (a lease's last good value where its new one conflicts). */
  use: L[];
  /** One line per lease ignored or held at its last good value. */
  conflicts: string[];
  /** The last good value of every peer still in the store: the next call's `lastGood`. */
  lastGood: Map<string, L>;
}

function who(l: LeaseView): string {
  return `node ${l.nodeName ?? '(unnamed)'} (${l.subnet} at ${l.publicIp})`;
}

function same(a: LeaseView, b: LeaseView | undefined): boolean {
  return b !== undefined && a.publicIp === b.publicIp && a.nodeName === b.nodeName;
}

export function resolveLeases<L extends LeaseView>(
  own: LeaseView,
  peers: readonly L[],
  lastGood: ReadonlyMap<string, L>,
): LeaseResolution<L> {
  const ownNet = parseCidr(own.subnet);
  const accepted: L[] = [];
  const clash = (p: L): string | undefined => {
    if (p.publicIp === own.publicIp) return `claims the address ${own.publicIp} of ${who(own)}, this node`;
    if (cidrsOverlap(parseCidr(p.subnet), ownNet)) return `overlaps the subnet of ${who(own)}, this node`;
    for (const a of accepted) {
      if (a.publicIp === p.publicIp) return `claims the address ${p.publicIp} of ${who(a)}`;
      if (cidrsOverlap(parseCidr(a.subnet), parseCidr(p.subnet))) return `overlaps the subnet of ${who(a)}`;
    }
    return undefined;
  };
  const bySubnet = (a: L, b: L) => (a.subnet < b.subnet ? -1 : a.subnet > b.subnet ? 1 : 0);
  const known = peers.filter((p) => same(p, lastGood.get(p.subnet))).sort(bySubnet);
  const fresh = peers.filter((p) => !same(p, lastGood.get(p.subnet))).sort(bySubnet);
  const conflicts: string[] = [];
  const next = new Map<string, L>();
  for (const p of [...known, ...fresh]) {
    const why = clash(p);
    if (why === undefined) {
      accepted.push(p);
      next.set(p.subnet, p);
      continue;
    }
    const good = lastGood.get(p.subnet);
    if (good && !same(p, good) && clash(good) === undefined) {
      accepted.push(good);
      next.set(p.subnet, good);
      conflicts.push(`the lease of ${who(p)} ${why}: routed at its last good value, ${good.publicIp}`);
    } else conflicts.push(`the lease of ${who(p)} ${why}: ignored`);
  }
  return { use: accepted, conflicts, lastGood: next };
}
