/**
 * The layout registry: every nftables base chain weft owns, with its table, hook, priority and
 * the reason it sits there. Renderers take base-chain specs only from here (baseChainOf), so the
 * order in which weft's tables see a packet can be read in one place.
 *
 * Netfilter runs the base chains of one hook in priority order, lowest first, across all tables
 * (nft(8), "CHAINS"; named priorities: raw -300, mangle -150, dstnat -100, filter 0, security 50,
 * srcnat 100). A packet crossing the node as weft sees it:
 *
 *   prerouting  -110 filter  weft-services/filter-prerouting-pre-dnat  loadBalancerSourceRanges
 *   output      -110 filter  weft-services/filter-output-pre-dnat      likewise for the node's own connections
 *   prerouting  -100 dstnat  weft-portmap/prerouting   hostPort DNAT
 *   prerouting  -100 dstnat  weft-services/nat-prerouting   Service DNAT (ClusterIP, NodePort, LB)
 *   output      -100 dstnat  weft-portmap/output       hostPort DNAT of the node's own connections
 *   output      -100 dstnat  weft-services/nat-output  Service DNAT of the node's own connections
 *   input        -10 filter  weft-services/filter-input    refuse node ports with no endpoint
 *   forward      -10 filter  weft-services/filter-forward  refuse VIPs with no endpoint or no such port
 *   output       -10 filter  weft-services/filter-output   likewise for the node's own connections
 *   forward        0 filter  weft-policy/forward       NetworkPolicy, after DNAT so it sees the pod
 *   postrouting  100 srcnat  weft-services/nat-postrouting  masquerade what the service chains marked
 *   postrouting  100 srcnat  weft-portmap/postrouting  hairpin / localhost masquerade after DNAT
 *   postrouting  100 srcnat  weft-agent-masq/postrouting   ip-masq of pods leaving the cluster
 *   postrouting  100 srcnat  weft-masq/postrouting     the bridge plugin's ipMasq (CNI config)
 *   input          0 filter  weft-node/input           VXLAN only from peers; pods never reach the store
 *   forward        0 filter  weft-node/forward         no VXLAN and no store connection routed on from a pod
 *
 * and, in the bridge family (frames on the bridge's ports; its priority numbers are its own):
 *
 *   prerouting  -200 filter  weft-guard/prerouting     a pod sends only as itself (IP, ARP, MAC)
 *   forward     -200 filter  weft-guard/forward        no frame reaches a pod awaiting its policy
 *   output      -200 filter  weft-guard/output         likewise for frames the node sends to pods
 *
 * Chains of one hook at the same priority run in an order the kernel does not promise; the four
 * srcnat chains are built so that this does not matter (each masquerades a disjoint case or the
 * same case the same way; see src/cni/plugins/weft.ts for which masquerade table is live), and
 * the two dstnat chains match disjoint destinations (a hostPort is on a node address and a port
 * the pod asked for; a Service is a VIP, or a node port in 30000-32767).
 */

import {
  NODE_GUARD_OBJECTS,
  NODE_GUARD_TABLE,
  GUARD_OBJECTS,
  GUARD_TABLE,
  AGENT_MASQ_OBJECTS,
  AGENT_MASQ_TABLE,
  MASQ_OBJECTS,
  MASQ_TABLE,
  POLICY_OBJECTS,
  POLICY_TABLE,
  PORTMAP_OBJECTS,
  PORTMAP_TABLE,
  SERVICES_OBJECTS,
  SERVICES_TABLE,
  TRACE_OBJECTS,
  TRACE_TABLE,
} from '../names.js';
import type { BaseChain, ChainType, Hook, NftFamily } from './model.js';

/** nft's named priorities (nft(8), table "Standard priority names"). */
export const PRIORITY = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 } as const;
export type PriorityName = keyof typeof PRIORITY;
/** The bridge family's own numbers for the same names (nft(8): dstnat -300, filter -200, srcnat 300). */
const BRIDGE_PRIORITY: Partial<Record<PriorityName, number>> = { dstnat: -300, filter: -200, srcnat: 300 };

/** The number a named priority stands for in `family`; undefined where nft has no such name. */
export function priorityOf(family: NftFamily, slot: PriorityName): number | undefined {
  return family === 'bridge' ? BRIDGE_PRIORITY[slot] : PRIORITY[slot];
}

export interface BaseChainSpec {
  family: NftFamily;
  table: string;
  chain: string;
  type: ChainType;
  hook: Hook;
  /** The named slot the priority comes from (documentation; rendered as the number). */
  slot: PriorityName;
  priority: number;
  /** Added to the named slot's number (e.g. -10: just before the slot). */
  offset?: number;
  policy: 'accept' | 'drop';
  /** Why the chain sits at this hook and priority. */
  why: string;
}

function spec(s: Omit<BaseChainSpec, 'priority'>): BaseChainSpec {
  const named = priorityOf(s.family, s.slot);
  if (named === undefined) throw new Error(`layout: family ${s.family} has no priority named ${s.slot}`);
  return { ...s, priority: named + (s.offset ?? 0) };
}

export const LAYOUT = {
  portmapPrerouting: spec({
    family: 'inet',
    table: PORTMAP_TABLE,
    chain: PORTMAP_OBJECTS.preroutingChain,
    type: 'nat',
    hook: 'prerouting',
    slot: 'dstnat',
    policy: 'accept',
    why: "hostPorts are DNAT of traffic arriving for this node, at the dstnat slot like kube-proxy's services",
  }),
  portmapOutput: spec({
    family: 'inet',
    table: PORTMAP_TABLE,
    chain: PORTMAP_OBJECTS.outputChain,
    type: 'nat',
    hook: 'output',
    slot: 'dstnat',
    policy: 'accept',
    why: "the node's own connections to its hostPorts (incl. 127.0.0.1) never pass prerouting",
  }),
  portmapPostrouting: spec({
    family: 'inet',
    table: PORTMAP_TABLE,
    chain: PORTMAP_OBJECTS.postroutingChain,
    type: 'nat',
    hook: 'postrouting',
    slot: 'srcnat',
    policy: 'accept',
    why: 'hairpin and localhost hostPort connections must be masqueraded after DNAT so replies come back through the node',
  }),
  policyForward: spec({
    family: 'inet',
    table: POLICY_TABLE,
    chain: POLICY_OBJECTS.forwardChain,
    type: 'filter',
    hook: 'forward',
    slot: 'filter',
    policy: 'accept',
    why: 'NetworkPolicy filters pod traffic the node forwards, after DNAT so it sees the real pod addresses',
  }),
  servicesPrerouting: spec({
    family: 'ip',
    table: SERVICES_TABLE,
    chain: SERVICES_OBJECTS.natPrerouting,
    type: 'nat',
    hook: 'prerouting',
    slot: 'dstnat',
    policy: 'accept',
    why: "Service DNAT of traffic arriving at the node (from its pods, other nodes' pods, outside clients), kube-proxy's slot",
  }),
  servicesOutput: spec({
    family: 'ip',
    table: SERVICES_TABLE,
    chain: SERVICES_OBJECTS.natOutput,
    type: 'nat',
    hook: 'output',
    slot: 'dstnat',
    policy: 'accept',
    why: "the node's own connections (hostNetwork pods, probes) to Services never pass prerouting",
  }),
  servicesPostrouting: spec({
    family: 'ip',
    table: SERVICES_TABLE,
    chain: SERVICES_OBJECTS.natPostrouting,
    type: 'nat',
    hook: 'postrouting',
    slot: 'srcnat',
    policy: 'accept',
    why: 'masquerades what the service chains marked (outside clients, the node itself, hairpin) after routing chose the way out',
  }),
  servicesFirewallPrerouting: spec({
    family: 'ip',
    table: SERVICES_TABLE,
    chain: SERVICES_OBJECTS.firewallPrerouting,
    type: 'filter',
    hook: 'prerouting',
    slot: 'dstnat',
    offset: -10,
    policy: 'accept',
    why: "loadBalancerSourceRanges drops a new connection to a load-balancer address from a source outside the ranges; it must run before DNAT rewrites the LB address to a pod's (kube-proxy's filter-prerouting-pre-dnat at dstnat-10)",
  }),
  servicesFirewallOutput: spec({
    family: 'ip',
    table: SERVICES_TABLE,
    chain: SERVICES_OBJECTS.firewallOutput,
    type: 'filter',
    hook: 'output',
    slot: 'dstnat',
    offset: -10,
    policy: 'accept',
    why: "the same check for the node's own connections to load-balancer addresses, which never pass prerouting",
  }),
  servicesFilterInput: spec({
    family: 'ip',
    table: SERVICES_TABLE,
    chain: SERVICES_OBJECTS.filterInput,
    type: 'filter',
    hook: 'input',
    slot: 'filter',
    offset: -10,
    policy: 'accept',
    why: 'a node port whose Service has no endpoint is refused at once (ICMP port unreachable), never left to time out',
  }),
  servicesFilterForward: spec({
    family: 'ip',
    table: SERVICES_TABLE,
    chain: SERVICES_OBJECTS.filterForward,
    type: 'filter',
    hook: 'forward',
    slot: 'filter',
    offset: -10,
    policy: 'accept',
    why: "a VIP with no endpoint, or a port its Service lacks, is refused before NetworkPolicy; DNATed packets carry the pod's address by now and pass",
  }),
  servicesFilterOutput: spec({
    family: 'ip',
    table: SERVICES_TABLE,
    chain: SERVICES_OBJECTS.filterOutput,
    type: 'filter',
    hook: 'output',
    slot: 'filter',
    offset: -10,
    policy: 'accept',
    why: "likewise for the node's own connections",
  }),
  agentMasqPostrouting: spec({
    family: 'inet',
    table: AGENT_MASQ_TABLE,
    chain: AGENT_MASQ_OBJECTS.postroutingChain,
    type: 'nat',
    hook: 'postrouting',
    slot: 'srcnat',
    policy: 'accept',
    why: 'ip-masq (FLANNEL_IPMASQ) rewrites the source of pod traffic leaving the cluster network, last, after routing',
  }),
  bridgeMasqPostrouting: spec({
    family: 'inet',
    table: MASQ_TABLE,
    chain: MASQ_OBJECTS.postroutingChain,
    type: 'nat',
    hook: 'postrouting',
    slot: 'srcnat',
    policy: 'accept',
    why: "the bridge plugin's ipMasq rewrites the source of pod traffic leaving the pod's subnet, after routing",
  }),
  guardPrerouting: spec({
    family: 'bridge',
    table: GUARD_TABLE,
    chain: GUARD_OBJECTS.preroutingChain,
    type: 'filter',
    hook: 'prerouting',
    slot: 'filter',
    policy: 'accept',
    why: 'every frame a pod sends enters the bridge here first: the one place to refuse forged IP, ARP and MAC sources before the bridge learns or forwards them',
  }),
  guardForward: spec({
    family: 'bridge',
    table: GUARD_TABLE,
    chain: GUARD_OBJECTS.forwardChain,
    type: 'filter',
    hook: 'forward',
    slot: 'filter',
    policy: 'accept',
    why: 'frames bridged from one pod port to another: a pod whose policy is not programmed yet receives none',
  }),
  guardOutput: spec({
    family: 'bridge',
    table: GUARD_TABLE,
    chain: GUARD_OBJECTS.outputChain,
    type: 'filter',
    hook: 'output',
    slot: 'filter',
    policy: 'accept',
    why: 'frames the node sends into the bridge (routed from other nodes, or its own): likewise',
  }),
  nodeGuardInput: spec({
    family: 'inet',
    table: NODE_GUARD_TABLE,
    chain: NODE_GUARD_OBJECTS.inputChain,
    type: 'filter',
    hook: 'input',
    slot: 'filter',
    policy: 'accept',
    why: 'what reaches the node itself: VXLAN only from peer nodes, never the store from a pod (after the VXLAN device decapsulates, inner packets come here too)',
  }),
  nodeGuardForward: spec({
    family: 'inet',
    table: NODE_GUARD_TABLE,
    chain: NODE_GUARD_OBJECTS.forwardChain,
    type: 'filter',
    hook: 'forward',
    slot: 'filter',
    policy: 'accept',
    why: "pod traffic the node routes on: a pod's VXLAN frames to other nodes and its connections to the store stop here, before ip-masq would give them the node's address",
  }),
  tracePrerouting: spec({
    family: 'ip',
    table: TRACE_TABLE,
    chain: TRACE_OBJECTS.preroutingChain,
    type: 'filter',
    hook: 'prerouting',
    slot: 'raw',
    offset: -50,
    policy: 'accept',
    why: "weft trace's probe packet arriving in this namespace gets nftrace before any other chain (conntrack, NAT, policy) sees it",
  }),
  traceOutput: spec({
    family: 'ip',
    table: TRACE_TABLE,
    chain: TRACE_OBJECTS.outputChain,
    type: 'filter',
    hook: 'output',
    slot: 'raw',
    offset: -50,
    policy: 'accept',
    why: "weft trace's probe packet sent from this namespace: likewise, from its first hook",
  }),
} as const satisfies Record<string, BaseChainSpec>;

export type BaseChainId = keyof typeof LAYOUT;

/** The model's base-chain part of a registered chain. */
export function baseChainOf(id: BaseChainId): BaseChain {
  const s = LAYOUT[id];
  return { type: s.type, hook: s.hook, priority: s.priority, policy: s.policy };
}

/** Every registered base chain of one table (for tools and tests). */
export function baseChainsOfTable(family: NftFamily, table: string): BaseChainSpec[] {
  return Object.values(LAYOUT).filter((s) => s.family === family && s.table === table);
}

/** Every registered base chain on one hook, in the order netfilter runs them. */
export function baseChainsOnHook(hook: Hook): BaseChainSpec[] {
  return Object.values(LAYOUT)
    .filter((s) => s.hook === hook)
    .sort((a, b) => a.priority - b.priority);
}
