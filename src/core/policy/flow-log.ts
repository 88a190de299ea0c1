/**
 * Flow logging in the NetworkPolicy table: what the group chains send to NFLOG, and how the
 * agent reads a logged packet's prefix back into the policies that decided it.
 *
 * The kernel tells the agent which rule matched only through the log prefix, and nft accepts at
 * most 127 characters there while a policy name alone may have 253; so the prefix carries the
 * group chain's name (a short hash, src/core/names.ts) and the index of the chain's rule, and the
 * agent maps those back through the chain as planned (FlowPolicyIndex below):
 *
 *   "weft d <chain>"       the chain's drop: a packet of an isolated pod that no rule allows;
 *                          the chain names the direction and the isolating policies.
 *   "weft a <chain> <k>"   the chain's k-th allowing rule let a new connection through; the
 *                          planned rule names its policy and its index in spec.ingress/egress.
 *
 * Cost is bounded on both sides: drops are logged behind a `limit` (a flood of denied packets
 * logs at most `dropRate` a second per chain, and packets over the limit are still dropped by the
 * next rule), and accepts are logged only for `ct state new`, the first packet of a connection
 * (replies and later packets are accepted by the forward chain's first rule before any group
 * chain runs).
 */

import { FLOW_LOG_GROUP, FLOW_LOG_PREFIX } from '../names.js';
import type { Direction } from './evaluate.js';
import type { PlannedChain } from './policy-set-model.js';

export interface FlowLogOptions {
  /** The NFLOG group (default FLOW_LOG_GROUP). */
  group: number;
  /** Logged drops per second per group chain, at most (nft `limit rate N/second`). */
  dropRate: number;
  /** Drops logged at once above the rate (nft `burst N packets`). */
  dropBurst: number;
}

export const DEFAULT_FLOW_LOG: FlowLogOptions = { group: FLOW_LOG_GROUP, dropRate: 100, dropBurst: 20 };

export function dropPrefix(chain: string): string {
  return `${FLOW_LOG_PREFIX} d ${chain}`;
}

export function allowPrefix(chain: string, rule: number): string {
  return `${FLOW_LOG_PREFIX} a ${chain} ${rule}`;
}

/** A prefix read back: which chain (and which of its rules) logged the packet. */
export type FlowPrefix = { verdict: 'denied'; chain: string } | { verdict: 'allowed'; chain: string; rule: number };

/** The prefix's meaning, or undefined for a prefix weft did not write. */
export function parseFlowPrefix(prefix: string): FlowPrefix | undefined {
  const words = prefix.trim().split(' ');
  if (words[0] !== FLOW_LOG_PREFIX || words[2] === undefined || words[2] === '') return undefined;
  if (words[1] === 'd' && words.length === 3) return { verdict: 'denied', chain: words[2] };
  if (words[1] === 'a' && words.length === 4 && /^\d+$/.test(words[3]!))
    return { verdict: 'allowed', chain: words[2], rule: Number(words[3]) };
  return undefined;
}

/** What decided a logged packet, in the cluster's words. */
export interface FlowDecision {
  verdict: 'allowed' | 'denied';
  direction: Direction;
  /** "ns/name" of the policies: for a drop, every policy isolating the pod that way; for an allow, the one. */
  policies: string[];
  /** For an allow: the index of the rule in the policy's spec.ingress / spec.egress. */
  rule?: number;
}

/**
 * Chain names → what their rules stand for, as the last planned table had them. A chain's rules
 * never change while it exists (its name is a hash of its policies), so an entry stays right for
 * as long as the chain can log; entries of vanished chains are kept for `keep` more updates,
 * because packets logged just before a change may be read just after it.
 */
export class FlowPolicyIndex {
  private current = new Map<string, PlannedChain>();
  private previous: Array<Map<string, PlannedChain>> = [];
  /**
   * Decisions already made, by prefix, until the next update: the reader asks once per logged
   * packet, and a busy node logs thousands a second with a handful of prefixes. Bounded: a prefix
   * is only kept when its chain is known (unknown ones are not cached), and chains are few.
   */
  private decided = new Map<string, FlowDecision>();

  constructor(private readonly keep = 2) {}

  update(chains: readonly PlannedChain[]): void {
    const next = new Map(chains.map((c) => [c.name, c]));
    if (next.size === this.current.size && chains.every((c) => this.current.get(c.name) === c)) return;
    this.previous = [this.current, ...this.previous].slice(0, this.keep);
    this.current = next;
    this.decided = new Map();
  }

  private chain(name: string): PlannedChain | undefined {
    return this.current.get(name) ?? this.previous.find((m) => m.has(name))?.get(name);
  }

  /**
   * The decision a prefix stands for; undefined when the prefix or its chain is unknown. The same
   * prefix gives the same (shared, not to be changed) object until the next update.
   */
  decision(prefix: string): FlowDecision | undefined {
    const known = this.decided.get(prefix);
    if (known) return known;
    const d = this.decide(prefix);
    if (d) this.decided.set(prefix, d);
    return d;
  }

  private decide(prefix: string): FlowDecision | undefined {
    const p = parseFlowPrefix(prefix);
    if (!p) return undefined;
    const c = this.chain(p.chain);
    if (!c) return undefined;
    if (p.verdict === 'denied') return { verdict: 'denied', direction: c.direction, policies: [...c.policies] };
    const r = c.rules[p.rule];
    if (!r) return undefined;
    return { verdict: 'allowed', direction: c.direction, policies: [r.policy], rule: r.rule };
  }
}
