/**
 * The node's NetworkPolicy table (`inet weft-policy`) on the typed nftables model: a fixed
 * skeleton declared as data (SKELETON), plus what the planner (policy-sets.ts) decides: the
 * shared peer and port sets, one chain per policy group, and the verdict maps that send each
 * local pod to its group.
 *
 *   forward (base chain from the layout registry: filter hook forward, priority filter, accept)
 *     ct state established,related accept      replies of allowed connections
 *     ip saddr . ip daddr @self accept         a pod always reaches itself
 *     ip saddr vmap @egress-pods               an isolated local source: jump to its group's chain
 *     ip daddr vmap @ingress-pods              an isolated local destination: likewise
 *   in-… / eg-… (one per group of policies)
 *     [ct state new <matches> log group G …]   with flow logging: the allow, logged (./flow-log.ts)
 *     <peer set> [<port set>] return           one rule per (policy rule, peer, port list); the
 *     …                                        comment names "ns/name ingress[i]"
 *     [limit rate N/second log group G …]      with flow logging: the drop, logged at most N/s
 *     counter drop                             no rule of the group allows it
 *
 * Why it sits at forward: pod-to-pod traffic on one node is bridged and reaches the inet forward
 * hook because br_netfilter's bridge-nf-call-iptables is on (the kernel's default for a new
 * namespace); traffic between nodes is routed through it anyway. Traffic from the node itself
 * (hostNetwork pods, kubelet probes) comes from the output hook, which this table leaves alone:
 * the API reference always allows it. The vmaps `jump`, so a group chain's `return` (allowed)
 * comes back to forward, and the ingress side is checked after the egress side.
 *
 * IPv4 only: every set holds IPv4 addresses, so IPv6 packets match no map and pass.
 */

import { POLICY_OBJECTS, POLICY_TABLE } from '../names.js';
import { baseChainOf } from '../nft/layout.js';
import {
  accept,
  counter,
  drop,
  inSet,
  limit,
  log,
  match,
  ret,
  rule,
  vmap,
  type ChainDef,
  type DataType,
  type Element,
  type Expr,
  type Part,
  type RuleBody,
  type SetDef,
  type SetFlag,
  type TableDef,
} from '../nft/model.js';
import {
  PROTOCOL_NAMES,
  type PlannedChain,
  type PlannedSet,
  type PolicyElement,
  type PolicyMatch,
  type PolicySetType,
  type PolicyTableState,
} from './policy-sets.js';
import { allowPrefix, dropPrefix, type FlowLogOptions } from './flow-log.js';

const SET_TYPES: Record<PolicySetType, { key: DataType[]; flags: SetFlag[] }> = {
  addr: { key: ['ipv4_addr'], flags: [] },
  'addr-interval': { key: ['ipv4_addr'], flags: ['interval'] },
  'addr-pair': { key: ['ipv4_addr', 'ipv4_addr'], flags: [] },
  'proto-port-interval': { key: ['inet_proto', 'inet_service'], flags: ['interval'] },
  'addr-proto-port': { key: ['ipv4_addr', 'inet_proto', 'inet_service'], flags: [] },
};

/** The fixed part of the table, as data: what never changes with pods or policies. */
export const SKELETON = {
  family: 'inet',
  name: POLICY_TABLE,
  comment: 'weft agent: NetworkPolicy for the pods of this node',
  forward: {
    name: POLICY_OBJECTS.forwardChain,
    base: baseChainOf('policyForward'),
    comment: "NetworkPolicy of this node's pods",
    rules: [
      rule([match('ct state', { flags: ['established', 'related'] }), accept], 'replies of allowed connections'),
      rule([inSet(['ip saddr', 'ip daddr'], POLICY_OBJECTS.selfSet), accept], 'a pod always reaches itself'),
      rule([vmap('ip saddr', POLICY_OBJECTS.egressMap)], 'a local pod isolated for egress: its policies decide'),
      rule([vmap('ip daddr', POLICY_OBJECTS.ingressMap)], 'a local pod isolated for ingress: its policies decide'),
    ],
  },
  maps: [
    {
      name: POLICY_OBJECTS.egressMap,
      key: ['ipv4_addr'],
      value: 'verdict',
      comment: 'local pod isolated for egress -> jump to its group chain',
    },
    {
      name: POLICY_OBJECTS.ingressMap,
      key: ['ipv4_addr'],
      value: 'verdict',
      comment: 'local pod isolated for ingress -> jump to its group chain',
    },
  ],
} as const satisfies {
  family: 'inet';
  name: string;
  comment: string;
  forward: Omit<ChainDef, 'rules'> & { rules: readonly RuleBody[] };
  maps: ReadonlyArray<Omit<SetDef, 'elements'>>;
};

function portPart(from: number, to: number): Part {
  return from === to ? from : { range: [from, to] };
}

/** A planned element as the model's tuple. */
export function elementParts(e: PolicyElement): Part[] {
  switch (e.type) {
    case 'addr':
      return [e.addr];
    case 'addr-interval':
      return [e.from === e.to ? e.from : { range: [e.from, e.to] }];
    case 'addr-pair':
      return [e.a, e.b];
    case 'proto-port-interval':
      return [PROTOCOL_NAMES[e.protocol], portPart(e.from, e.to)];
    case 'addr-proto-port':
      return [e.addr, PROTOCOL_NAMES[e.protocol], e.port];
  }
}

function matchExpr(m: PolicyMatch): Expr {
  switch (m.match) {
    case 'saddr':
      return inSet('ip saddr', m.set);
    case 'daddr':
      return inSet('ip daddr', m.set);
    case 'proto-port':
      return inSet(['meta l4proto', 'th dport'], m.set);
    case 'daddr-proto-port':
      return inSet(['ip daddr', 'meta l4proto', 'th dport'], m.set);
  }
}

const NEW_CONNECTION = match('ct state', { flags: ['new'] });

function groupChain(c: PlannedChain, flowLog: FlowLogOptions | undefined): ChainDef {
  const rules: RuleBody[] = [];
  c.rules.forEach((r, k) => {
    const matches = r.matches.map(matchExpr);
    // Logged in a rule of its own: a `ct state new` in the returning rule would change the
    // verdict of packets in other states (invalid, untracked), which must still be allowed here.
    if (flowLog) rules.push(rule([NEW_CONNECTION, ...matches, log(flowLog.group, allowPrefix(c.name, k))], r.comment));
    rules.push(rule([...matches, ret], r.comment));
  });
  // The limit fails for packets over it, which go on to the drop below unlogged.
  if (flowLog)
    rules.push(
      rule(
        [limit(flowLog.dropRate, 'second', flowLog.dropBurst), log(flowLog.group, dropPrefix(c.name))],
        'log the drop (rate-limited)',
      ),
    );
  rules.push(
    rule(
      [counter, drop],
      `no ${c.direction.toLowerCase()} rule of ${c.policies.length === 1 ? c.policies[0] : `${c.policies.length} policies`} allows this`.slice(
        0,
        120,
      ),
    ),
  );
  return { name: c.name, comment: c.comment, rules };
}

/**
 * Renders planned states to tables, remembering what it rendered: a set or chain the planner
 * hands out unchanged (the same object) gives the same SetDef / ChainDef object, so a label change
 * renders only the sets it touched. One per sync loop.
 */
export class PolicyTableRenderer {
  private readonly sets = new WeakMap<PlannedSet, SetDef>();
  private readonly chains = new WeakMap<PlannedChain, ChainDef>();

  /** `flowLog`: log drops and allowed new connections to NFLOG (./flow-log.ts); off when undefined. */
  constructor(private readonly flowLog?: FlowLogOptions) {}

  def(state: PolicyTableState): TableDef {
    const sets: SetDef[] = state.sets.map((s) => {
      let d = this.sets.get(s);
      if (!d) {
        const t = SET_TYPES[s.type];
        d = {
          name: s.name,
          key: t.key,
          ...(t.flags.length > 0 ? { flags: t.flags } : {}),
          comment: s.comment,
          elements: s.elements.map((e): Element => ({ key: elementParts(e) })),
        };
        this.sets.set(s, d);
      }
      return d;
    });
    const vmapElements = (list: PolicyTableState['ingressPods']): Element[] =>
      list.map((p) => ({ key: [p.addr], value: { verdict: 'jump', chain: p.chain } }));
    const [egressMap, ingressMap] = SKELETON.maps;
    sets.push(
      { ...egressMap, elements: vmapElements(state.egressPods) },
      { ...ingressMap, elements: vmapElements(state.ingressPods) },
    );
    const chains = state.chains.map((c) => {
      let d = this.chains.get(c);
      if (!d) {
        d = groupChain(c, this.flowLog);
        this.chains.set(c, d);
      }
      return d;
    });
    return {
      family: SKELETON.family,
      name: SKELETON.name,
      comment: SKELETON.comment,
      chains: [SKELETON.forward, ...chains],
      sets,
    };
  }
}

/** The whole table for the planned state: what the sync makes the kernel hold. */
export function policyTableDef(state: PolicyTableState, flowLog?: FlowLogOptions): TableDef {
  return new PolicyTableRenderer(flowLog).def(state);
}
