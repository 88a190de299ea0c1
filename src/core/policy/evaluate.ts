/**
 * NetworkPolicy semantics (networking.k8s.io/v1) as a pure function: may pod A open a connection
 * to pod B on port P/protocol, and why. This is what `weft reach` and `weft explain` print, and
 * what the agents' nftables rules must agree with (`weft probe` checks it with real traffic).
 *
 * The rules, as the Kubernetes API reference states them:
 * - A pod is isolated for egress (ingress) when a policy in its own namespace selects it and
 *   lists Egress (Ingress) in policyTypes. A pod that is not isolated allows everything in that
 *   direction.
 * - Policies are additive: an isolated pod allows what any rule of any policy selecting it allows.
 * - A connection needs both: egress allowed at the source and ingress allowed at the destination.
 * - Peers: podSelector alone means pods of the policy's namespace; namespaceSelector alone means
 *   every pod of the matching namespaces; both in one peer means matching pods in matching
 *   namespaces; ipBlock matches addresses in cidr and not in any except. An empty `from`/`to`
 *   list means every peer; an empty `ports` list means every port.
 * - Ports: the protocol must match (TCP is the parser's default); no port means every port;
 *   port..endPort is a range; a named port is looked up among the destination pod's own
 *   container ports (name and protocol), so one rule can mean different numbers on different pods.
 *
 * - A pod can always reach itself: the API reference lists this as the one exception to pod
 *   selection ("a pod cannot block access to itself").
 *
 * Not modelled here, by design: replies (always allowed, conntrack), traffic from a pod's own
 * node (always allowed), and hostNetwork pods, which no policy selects (their traffic is the
 * node's): the callers handle those, see reach.ts.
 */

import type {
  ContainerPort,
  Labels,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  Protocol,
} from '../k8s/objects.js';
import { labelSelectorMatches } from '../k8s/selector.js';
import { cidrContains, parseCidrCached, tryParseIpCached } from '../net/ip.js';

/** A pod as policy sees it. */
export interface PolicyPod {
  namespace: string;
  name: string;
  labels: Labels;
  /** The pod's address; a pod without one matches no ipBlock. */
  ip?: string;
  ports: ContainerPort[];
  /**
   * False for hostNetwork pods: their traffic is the node's, so pod and namespace selectors never
   * match them (only an ipBlock holding the node's address does) and no policy isolates them.
   */
  selectable?: boolean;
}

export interface PolicyCluster {
  /** Namespace labels by name; a namespace missing here has no labels. */
  namespaces: ReadonlyMap<string, Labels>;
  policies: readonly NetworkPolicy[];
}

export type Direction = 'Egress' | 'Ingress';

/** Which rule of which policy allowed a direction. */
export interface RuleRef {
  policy: string;
  /** 0-based index into spec.egress or spec.ingress. */
  rule: number;
}

export interface DirectionVerdict {
  direction: Direction;
  /** The pod this direction is decided at: the source for Egress, the destination for Ingress. */
  pod: string;
  /** "ns/name" of every policy that selects the pod for this direction; empty: not isolated. */
  isolatedBy: string[];
  allowed: boolean;
  /** Every rule that allows the connection (empty when not isolated or when denied). */
  allowedBy: RuleRef[];
}

export interface Verdict {
  allowed: boolean;
  /** Set when from and to are the same pod: allowed whatever the policies say. */
  self?: true;
  egress: DirectionVerdict;
  ingress: DirectionVerdict;
}

export const podRef = (p: Pick<PolicyPod, 'namespace' | 'name'>) => `${p.namespace}/${p.name}`;
const policyRef = (p: NetworkPolicy) => `${p.metadata.namespace}/${p.metadata.name}`;

/** The policies of the pod's namespace that select it for the direction. */
export function selectingPolicies(cluster: PolicyCluster, pod: PolicyPod, direction: Direction): NetworkPolicy[] {
  if (pod.selectable === false) return [];
  return cluster.policies.filter(
    (p) =>
      p.metadata.namespace === pod.namespace &&
      p.spec.policyTypes.includes(direction) &&
      labelSelectorMatches(p.spec.podSelector, pod.labels),
  );
}

function ipBlockMatches(block: { cidr: string; except: string[] }, ip: string | undefined): boolean {
  const addr = ip === undefined ? undefined : tryParseIpCached(ip);
  if (!addr) return false;
  const cidr = parseCidrCached(block.cidr);
  if (cidr.address.family !== addr.family || !cidrContains(cidr, addr)) return false;
  return !block.except.some((e) => {
    const ex = parseCidrCached(e);
    return ex.address.family === addr.family && cidrContains(ex, addr);
  });
}

/** Does a peer of a rule in `policyNamespace` match the pod at the other end? */
export function peerMatches(
  cluster: PolicyCluster,
  policyNamespace: string,
  peer: NetworkPolicyPeer,
  other: PolicyPod,
): boolean {
  if (peer.ipBlock) return ipBlockMatches(peer.ipBlock, other.ip);
  if (other.selectable === false) return false;
  if (peer.namespaceSelector) {
    if (!labelSelectorMatches(peer.namespaceSelector, cluster.namespaces.get(other.namespace) ?? {})) return false;
  } else if (other.namespace !== policyNamespace) {
    return false;
  }
  return peer.podSelector ? labelSelectorMatches(peer.podSelector, other.labels) : true;
}

/**
 * The number a named port means on `destination`: the first of its container ports with that
 * name and protocol; undefined when it has none (the rule port then matches nothing there).
 */
export function namedPort(destination: Pick<PolicyPod, 'ports'>, name: string, protocol: Protocol): number | undefined {
  return destination.ports.find((p) => p.name === name && p.protocol === protocol)?.containerPort;
}

/** Does a rule port match port/protocol on `destination`, resolving names against its container ports? */
function portMatches(
  rulePort: NetworkPolicyPort,
  port: number,
  protocol: PolicyProtocol,
  destination: PolicyPod,
): boolean {
  if (protocol === 'ICMP' || rulePort.protocol !== protocol) return false;
  if (rulePort.port === undefined) return true;
  if (typeof rulePort.port === 'string') return namedPort(destination, rulePort.port, protocol) === port;
  return rulePort.endPort === undefined ? rulePort.port === port : port >= rulePort.port && port <= rulePort.endPort;
}

function rulesAllow(
  cluster: PolicyCluster,
  policies: NetworkPolicy[],
  direction: Direction,
  other: PolicyPod,
  destination: PolicyPod,
  port: number,
  protocol: PolicyProtocol,
): RuleRef[] {
  const out: RuleRef[] = [];
  for (const p of policies) {
    const rules =
      direction === 'Egress'
        ? p.spec.egress.map((r) => ({ peers: r.to, ports: r.ports }))
        : p.spec.ingress.map((r) => ({ peers: r.from, ports: r.ports }));
    rules.forEach((r, i) => {
      const peerOk =
        r.peers.length === 0 || r.peers.some((peer) => peerMatches(cluster, p.metadata.namespace, peer, other));
      const portOk = r.ports.length === 0 || r.ports.some((rp) => portMatches(rp, port, protocol, destination));
      if (peerOk && portOk) out.push({ policy: policyRef(p), rule: i });
    });
  }
  return out;
}

function decide(
  cluster: PolicyCluster,
  direction: Direction,
  at: PolicyPod,
  other: PolicyPod,
  destination: PolicyPod,
  port: number,
  protocol: PolicyProtocol,
): DirectionVerdict {
  const policies = selectingPolicies(cluster, at, direction);
  if (policies.length === 0) return { direction, pod: podRef(at), isolatedBy: [], allowed: true, allowedBy: [] };
  const allowedBy = rulesAllow(cluster, policies, direction, other, destination, port, protocol);
  return { direction, pod: podRef(at), isolatedBy: policies.map(policyRef), allowed: allowedBy.length > 0, allowedBy };
}

/**
 * What a connection can be: a NetworkPolicy protocol, or an ICMP echo (`weft trace`), which only
 * a rule without ports allows (a port list names TCP, UDP or SCTP ports only).
 */
export type PolicyProtocol = Protocol | 'ICMP';

/** May `from` open a connection to `to` on port/protocol (port ignored for ICMP)? */
export function evaluate(
  cluster: PolicyCluster,
  from: PolicyPod,
  to: PolicyPod,
  port: number,
  protocol: PolicyProtocol,
): Verdict {
  const egress = decide(cluster, 'Egress', from, to, to, port, protocol);
  const ingress = decide(cluster, 'Ingress', to, from, to, port, protocol);
  if (podRef(from) === podRef(to)) return { allowed: true, self: true, egress, ingress };
  return { allowed: egress.allowed && ingress.allowed, egress, ingress };
}
