/**
 * THE PREVIOUS POLICY PLAN, kept only as bench/policy.ts's same-run baseline: the agent plans
 * with sets shared per selector (src/core/policy/policy-sets.ts, policy-table.ts). This plan
 * wrote one element per (local pod, peer range, port): 136,090 elements where the shared sets
 * need about 7,000. It moved here from src/core/policy/nft-plan.ts when the old text-rule
 * NftTransaction left src/ (issue 10: one nftables layer); its table is rendered as plain nft
 * text below, byte for byte what that renderer wrote, so the baseline figures measure the same.
 *
 * NetworkPolicy as nftables, for one node: the static skeleton of table `inet weft-policy` and
 * the set elements that carry everything that changes (which local pods are isolated, and which
 * peer/port combinations each may use), so a label change, a new pod or a new policy is a
 * set-only transaction, and a packet costs a fixed number of set lookups however many pods and
 * policies there are.
 *
 * Where it hooks: the forward hook of the node's namespace. Pod-to-pod traffic on one node is
 * bridged, and reaches that hook because br_netfilter's bridge-nf-call-iptables is on (the
 * kernel's default for a new namespace); traffic between nodes is routed through it anyway.
 * Traffic from the node itself (kubelet probes, hostNetwork pods) comes from the output hook,
 * which this table leaves alone: the API reference always allows it.
 *
 *   forward:  ct state established,related accept        replies of allowed connections
 *             ip saddr @egress-isolated jump egress         the source end, if a local pod is isolated
 *             ip daddr @ingress-isolated jump ingress       the destination end, likewise
 *   egress:   saddr . daddr in @egress-any → return; saddr . daddr . proto . port in @egress-ports → return; drop
 *   ingress:  the same over daddr . saddr
 *
 * A pod is always allowed to reach itself (its own address is in its any-sets). Elements of one
 * interval set may not overlap, so each pod's allowed space is cut into disjoint boxes first.
 * IPv4 only, as the lab is (IPv6 ipBlocks are left out).
 */

import type { NetworkPolicyPort, Protocol } from '../../src/core/k8s/objects.js';
import { tryParseIpCached } from '../../src/core/net/ip.js';
import { POLICY_TABLE } from '../../src/core/names.js';
import { blockRanges, fmtRange, mergeRanges, type Range } from '../../src/core/policy/ranges.js';
import {
  peerMatches,
  selectingPolicies,
  type Direction,
  type PolicyCluster,
  type PolicyPod,
} from '../../src/core/policy/evaluate.js';

export interface PolicyElements {
  ingressIsolated: string[];
  egressIsolated: string[];
  ingressAny: string[];
  ingressPorts: string[];
  egressAny: string[];
  egressPorts: string[];
}

const ALL_V4: Range = [0n, 0xffffffffn];
const PROTO_NAMES: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

function ipValue(ip: string): bigint | undefined {
  const a = tryParseIpCached(ip);
  return a && a.family === 4 ? a.value : undefined;
}

function fmtPorts(lo: number, hi: number): string {
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

/** One allowed (peer range, protocol, port range) box, before the boxes are made disjoint. */
interface Box {
  peers: Range;
  proto: Protocol;
  ports: [number, number];
}

/** The port range a rule port means on `destination`; undefined when a named port does not resolve there. */
function portRange(p: NetworkPolicyPort, destination: PolicyPod): [number, number] | undefined {
  if (p.port === undefined) return [0, 65535];
  if (typeof p.port === 'string') {
    const named = destination.ports.find((c) => c.name === p.port && c.protocol === p.protocol);
    return named ? [named.containerPort, named.containerPort] : undefined;
  }
  return [p.port, p.endPort ?? p.port];
}

/** A pod with its IPv4 address as a number, computed once per plan. */
interface AddressedPod {
  pod: PolicyPod;
  v: bigint;
}

/**
 * What one isolated local pod may do in one direction: peer ranges allowed on any port, and
 * boxes of (peer, protocol, ports). `others` are every pod of the cluster with an address.
 */
function allowedFor(
  cluster: PolicyCluster,
  pod: PolicyPod,
  direction: Direction,
  others: readonly AddressedPod[],
): { any: Range[]; boxes: Box[] } {
  const any: Range[] = [];
  const boxes: Box[] = [];
  for (const policy of selectingPolicies(cluster, pod, direction)) {
    const rules =
      direction === 'Egress'
        ? policy.spec.egress.map((r) => ({ peers: r.to, ports: r.ports }))
        : policy.spec.ingress.map((r) => ({ peers: r.from, ports: r.ports }));
    for (const rule of rules) {
      // Peer ranges, each with the pod it is (for named ports on egress), if it is one.
      const peerRanges: Array<{ range: Range; pod?: PolicyPod }> = [];
      if (rule.peers.length === 0) {
        peerRanges.push({ range: ALL_V4 });
        // Every pod too, so that an egress named port resolves on each destination pod.
        if (direction === 'Egress') for (const { pod: o, v } of others) peerRanges.push({ range: [v, v], pod: o });
      }
      for (const peer of rule.peers) {
        if (peer.ipBlock) {
          for (const r of blockRanges(peer.ipBlock.cidr, peer.ipBlock.except)) peerRanges.push({ range: r });
          // Pods inside the block, for egress named ports that must resolve against them.
          if (direction === 'Egress')
            for (const { pod: o, v } of others)
              if (peerMatches(cluster, policy.metadata.namespace, peer, o)) peerRanges.push({ range: [v, v], pod: o });
          continue;
        }
        for (const { pod: o, v } of others)
          if (peerMatches(cluster, policy.metadata.namespace, peer, o)) peerRanges.push({ range: [v, v], pod: o });
      }
      if (rule.ports.length === 0) {
        any.push(...peerRanges.map((p) => p.range));
        continue;
      }
      for (const port of rule.ports) {
        for (const pr of peerRanges) {
          // Ingress: the destination is this pod. Egress: the destination is the peer, which must
          // be a pod for a named port to mean anything.
          const destination = direction === 'Ingress' ? pod : pr.pod;
          if (destination === undefined && typeof port.port === 'string') continue;
          const ports = destination ? portRange(port, destination) : portRange(port, pod);
          if (ports) boxes.push({ peers: pr.range, proto: port.protocol, ports });
        }
      }
    }
  }
  return { any: mergeRanges(any), boxes };
}

/** Cuts boxes into disjoint ones: per protocol, port segments by every boundary, peers merged per segment. */
function disjointBoxes(boxes: readonly Box[]): Box[] {
  const out: Box[] = [];
  for (const proto of ['TCP', 'UDP', 'SCTP'] as const) {
    const mine = boxes.filter((b) => b.proto === proto);
    if (mine.length === 0) continue;
    const cuts = [...new Set(mine.flatMap((b) => [b.ports[0], b.ports[1] + 1]))].sort((a, b) => a - b);
    let prev: { ports: [number, number]; peers: Range[] } | undefined;
    const flush = () => {
      if (prev) for (const r of prev.peers) out.push({ peers: r, proto, ports: prev.ports });
    };
    for (let i = 0; i + 1 < cuts.length; i++) {
      const lo = cuts[i]!;
      const hi = cuts[i + 1]! - 1;
      const peers = mergeRanges(mine.filter((b) => b.ports[0] <= lo && b.ports[1] >= hi).map((b) => b.peers));
      if (peers.length === 0) {
        flush();
        prev = undefined;
        continue;
      }
      // Adjacent segments allowing the same peers become one port range.
      if (
        prev &&
        prev.ports[1] + 1 === lo &&
        JSON.stringify(prev.peers.map(fmtRange)) === JSON.stringify(peers.map(fmtRange))
      )
        prev.ports = [prev.ports[0], hi];
      else {
        flush();
        prev = { ports: [lo, hi], peers };
      }
    }
    flush();
  }
  return out;
}

/**
 * The set elements for this node: `local` are the pods this node runs (with addresses, not
 * hostNetwork); `all` every pod of the cluster with an address (hostNetwork ones with
 * selectable: false).
 */
export function planPolicyElements(
  cluster: PolicyCluster,
  local: readonly PolicyPod[],
  all: readonly PolicyPod[],
): PolicyElements {
  const el: PolicyElements = {
    ingressIsolated: [],
    egressIsolated: [],
    ingressAny: [],
    ingressPorts: [],
    egressAny: [],
    egressPorts: [],
  };
  const others: AddressedPod[] = [];
  for (const o of all) {
    const v = o.ip ? ipValue(o.ip) : undefined;
    if (v !== undefined) others.push({ pod: o, v });
  }
  for (const pod of local) {
    const self = pod.ip ? ipValue(pod.ip) : undefined;
    if (self === undefined || pod.selectable === false) continue;
    for (const direction of ['Ingress', 'Egress'] as const) {
      if (selectingPolicies(cluster, pod, direction).length === 0) continue;
      const { any, boxes } = allowedFor(cluster, pod, direction, others);
      const anyWithSelf = mergeRanges([...any, [self, self]]);
      const [isolated, anySet, portSet] =
        direction === 'Ingress'
          ? [el.ingressIsolated, el.ingressAny, el.ingressPorts]
          : [el.egressIsolated, el.egressAny, el.egressPorts];
      isolated.push(pod.ip!);
      for (const r of anyWithSelf) anySet.push(`${pod.ip} . ${fmtRange(r)}`);
      for (const b of disjointBoxes(boxes))
        portSet.push(
          `${pod.ip} . ${fmtRange(b.peers)} . ${PROTO_NAMES[b.proto]} . ${fmtPorts(b.ports[0], b.ports[1])}`,
        );
    }
  }
  return el;
}

const T = `inet ${POLICY_TABLE}`;
const SETS: Array<{ key: keyof PolicyElements; name: string; type: string; interval: boolean }> = [
  { key: 'ingressIsolated', name: 'ingress-isolated', type: 'ipv4_addr', interval: false },
  { key: 'egressIsolated', name: 'egress-isolated', type: 'ipv4_addr', interval: false },
  { key: 'ingressAny', name: 'ingress-any', type: 'ipv4_addr . ipv4_addr', interval: true },
  {
    key: 'ingressPorts',
    name: 'ingress-ports',
    type: 'ipv4_addr . ipv4_addr . inet_proto . inet_service',
    interval: true,
  },
  { key: 'egressAny', name: 'egress-any', type: 'ipv4_addr . ipv4_addr', interval: true },
  {
    key: 'egressPorts',
    name: 'egress-ports',
    type: 'ipv4_addr . ipv4_addr . inet_proto . inet_service',
    interval: true,
  },
];
const RULES: Array<[chain: string, statement: string, comment: string]> = [
  ['forward', 'ct state established,related accept', 'replies of allowed connections'],
  ['forward', 'ip saddr @egress-isolated jump egress', 'the source is a local pod isolated for egress'],
  ['forward', 'ip daddr @ingress-isolated jump ingress', 'the destination is a local pod isolated for ingress'],
  ['egress', 'ip saddr . ip daddr @egress-any return', 'allowed on every port'],
  ['egress', 'ip saddr . ip daddr . meta l4proto . th dport @egress-ports return', 'allowed on these ports'],
  ['egress', 'counter drop', 'no egress rule allows this'],
  ['ingress', 'ip daddr . ip saddr @ingress-any return', 'allowed on every port'],
  ['ingress', 'ip daddr . ip saddr . meta l4proto . th dport @ingress-ports return', 'allowed on these ports'],
  ['ingress', 'counter drop', 'no ingress rule allows this'],
];

/**
 * The whole table as the `nft -f` text the agent sent at a start (add, delete, add again, then
 * the skeleton and one `add element` line per element), one statement a line.
 */
export function renderPolicyTableText(el: PolicyElements): string {
  const head = `add table ${T} { comment "weft agent: NetworkPolicy for the pods of this node"; }`;
  const lines = [head, `delete table ${T}`, head];
  for (const s of SETS) lines.push(`add set ${T} ${s.name} { type ${s.type};${s.interval ? ' flags interval;' : ''} }`);
  lines.push(`add chain ${T} forward { type filter hook forward priority filter; policy accept; }`);
  lines.push(`add chain ${T} egress`, `add chain ${T} ingress`);
  for (const [chain, statement, comment] of RULES)
    lines.push(`add rule ${T} ${chain} ${statement} comment "${comment}"`);
  for (const s of SETS) for (const k of el[s.key]) lines.push(`add element ${T} ${s.name} { ${k} }`);
  return lines.join('\n') + '\n';
}
