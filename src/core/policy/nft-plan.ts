/**
 * THE PREVIOUS PLAN, no longer used by the agent: the agent plans with sets shared per selector
 * (policy-sets.ts, policy-table.ts). Kept as bench/policy.ts's same-run baseline (136,090
 * elements where the shared sets need about 7,000) and for renderPolicyRemoval; delete it with
 * the baseline.
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

import type { NetworkPolicyPort, Protocol } from '../k8s/objects.js';
import { tryParseIpCached } from '../net/ip.js';
import { POLICY_TABLE } from '../names.js';
import { blockRanges, fmtRange, mergeRanges, type Range } from './ranges.js';
import { NftTransaction, type NftChain, type NftSet, type NftTable } from '../nft/transaction.js';
import { peerMatches, selectingPolicies, type Direction, type PolicyCluster, type PolicyPod } from './evaluate.js';

export { POLICY_TABLE };

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

const table: NftTable = {
  kind: 'table',
  family: 'inet',
  name: POLICY_TABLE,
  comment: 'weft agent: NetworkPolicy for the pods of this node',
};
const set = (name: string, type: string, flags: string[] = []): NftSet => ({
  kind: 'set',
  family: 'inet',
  table: POLICY_TABLE,
  name,
  type,
  flags,
});
const SETS = {
  ingressIsolated: set('ingress-isolated', 'ipv4_addr'),
  egressIsolated: set('egress-isolated', 'ipv4_addr'),
  ingressAny: set('ingress-any', 'ipv4_addr . ipv4_addr', ['interval']),
  ingressPorts: set('ingress-ports', 'ipv4_addr . ipv4_addr . inet_proto . inet_service', ['interval']),
  egressAny: set('egress-any', 'ipv4_addr . ipv4_addr', ['interval']),
  egressPorts: set('egress-ports', 'ipv4_addr . ipv4_addr . inet_proto . inet_service', ['interval']),
} as const;
const chain = (name: string, base?: NftChain['base']): NftChain => ({
  kind: 'chain',
  family: 'inet',
  table: POLICY_TABLE,
  name,
  ...(base ? { base } : {}),
});
const rule = (chainName: string, text: string, comment: string) => ({
  kind: 'rule' as const,
  family: 'inet' as const,
  table: POLICY_TABLE,
  chain: chainName,
  rule: text,
  comment,
});

function addElements(tx: NftTransaction, el: PolicyElements): void {
  for (const key of Object.keys(SETS) as Array<keyof typeof SETS>) {
    for (const k of el[key])
      tx.add({ kind: 'element', family: 'inet', table: POLICY_TABLE, set: SETS[key].name, key: k });
  }
}

/** The whole table, rebuilt atomically: for an agent start (no window in which isolation lapses). */
export function renderPolicyTable(el: PolicyElements): NftTransaction {
  const tx = new NftTransaction().add(table).delete(table).add(table);
  for (const s of Object.values(SETS)) tx.add(s);
  tx.add(chain('forward', { type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' }));
  tx.add(chain('egress'));
  tx.add(chain('ingress'));
  tx.add(rule('forward', 'ct state established,related accept', 'replies of allowed connections'));
  tx.add(rule('forward', 'ip saddr @egress-isolated jump egress', 'the source is a local pod isolated for egress'));
  tx.add(
    rule('forward', 'ip daddr @ingress-isolated jump ingress', 'the destination is a local pod isolated for ingress'),
  );
  tx.add(rule('egress', 'ip saddr . ip daddr @egress-any return', 'allowed on every port'));
  tx.add(
    rule('egress', 'ip saddr . ip daddr . meta l4proto . th dport @egress-ports return', 'allowed on these ports'),
  );
  tx.add(rule('egress', 'counter drop', 'no egress rule allows this'));
  tx.add(rule('ingress', 'ip daddr . ip saddr @ingress-any return', 'allowed on every port'));
  tx.add(
    rule('ingress', 'ip daddr . ip saddr . meta l4proto . th dport @ingress-ports return', 'allowed on these ports'),
  );
  tx.add(rule('ingress', 'counter drop', 'no ingress rule allows this'));
  addElements(tx, el);
  return tx;
}

/** Only the sets change: flush them and add the new elements, in one transaction. */
export function renderPolicyElements(el: PolicyElements): NftTransaction {
  const tx = new NftTransaction();
  for (const s of Object.values(SETS)) tx.flush(s);
  addElements(tx, el);
  return tx;
}

/** Removes the table (agent cleanup); safe when it does not exist. */
export function renderPolicyRemoval(): NftTransaction {
  return new NftTransaction().add(table).delete(table);
}
