/**
 * NetworkPolicy for one node as sets shared per selector (what Calico does with ipsets), planned
 * incrementally. The old plan (now bench/baseline/policy-per-pod.ts) wrote one element per
 * (local pod, peer range, port), so one node of a 10,000-pod / 1,000-policy cluster held 136,090 elements and any pod change
 * re-planned the node. Here every element stands for one fact:
 *
 * - a peer set per distinct peer: (policy namespace ×) podSelector × namespaceSelector → the
 *   addresses of the pods it selects ("peer-…"), or an ipBlock → cidr minus except as intervals
 *   ("block-…"). Two policies with the same peer share the set;
 * - a port set per distinct list of numbered ports ("ports-…": `proto . port[-endPort]`);
 * - named ports, which mean a number per destination pod: on ingress the destination is the
 *   local pod, so "named-in-…" holds `addr . proto . port` of the local pods having that name; on
 *   egress the destination is the peer, so "named-eg-…" holds `addr . proto . port` of the pods
 *   of that peer having that name (every pod for an empty `to`);
 * - per local pod, only its membership: a verdict map from its address to the chain of its policy
 *   group (the policies selecting it for that direction), and its `addr . addr` in the self set.
 *
 * A group chain holds the rules of its policies, each rule naming its policy and rule index in its
 * comment (`weft trace` shows it), and returns on the first that allows; its last rule drops.
 * The element count grows with pods + policies, not with their product.
 *
 * Incremental: the planner keeps, per pod, the elements it contributed. A pod that changes
 * (labels, address, ports, new, deleted) is taken out of every set and put back where it belongs
 * now, and a local pod is moved to its new group: nothing else is recomputed. A policy or
 * namespace change replans everything (rare, and still pods + policies work).
 *
 * Which sets exist: only those of the "active" policies, the ones selecting a local pod; a node
 * never holds the peers of policies that isolate nothing on it.
 *
 * Semantics come from evaluate.ts (selectingPolicies, peerMatches, namedPort), the single source of
 * truth of what is allowed; the tracer test (policy-tracer.test.ts) checks the rendered table
 * against it packet by packet. IPv4 only, as the lab is: IPv6 peers and pods are left out, and
 * IPv6 traffic is not filtered by this table.
 */

import type { IpBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, Protocol } from '../k8s/objects.js';
import { labelSelectorMatches } from '../k8s/selector.js';
import { POLICY_OBJECTS, policyObjectName } from '../names.js';
import { namedPort, peerMatches, podRef, type Direction, type PolicyCluster } from './evaluate.js';
import { blockRanges, fmtRange, formatV4, mergeRanges } from './ranges.js';
import {
  clip,
  dedupe,
  dedupeNamed,
  describePeer,
  elementKey,
  ipv4,
  peerKey,
  portElements,
  samePod,
  type PlannedChain,
  type PlannedRule,
  type PlannedSet,
  type PolicyElement,
  type PolicyMatch,
  type PolicySetPod,
  type PolicySetType,
  type PolicyTableState,
} from './policy-set-model.js';

export * from './policy-set-model.js';

interface PodEntry {
  pod: PolicySetPod;
  /** The pod's IPv4 address, if it has one. */
  ip: string | undefined;
  /** Elements this pod put in sets (to take them out again). */
  contributions: Array<{ set: SetState; key: string }>;
  /** Local pods: the group chain per direction, and the policies selecting it. */
  groups: Partial<Record<Direction, string>>;
  selectedBy: string[];
  /** The setPods generation that last listed the pod. */
  seen: number;
}

interface SetState {
  name: string;
  type: PolicySetType;
  comment: string;
  /** The elements a pod brings; absent for static sets (ipBlocks, port lists). */
  member?: (entry: PodEntry) => PolicyElement[];
  /** Element key → element and how many pods (or 1 for static) brought it. */
  elements: Map<string, { element: PolicyElement; count: number }>;
  /** Active policies referencing the set. */
  refs: number;
  /** The set as last handed out by state(), until its elements change (lets renderers and diffs skip it). */
  snapshot?: PlannedSet;
}

interface ActivePolicy {
  policy: NetworkPolicy;
  ref: string;
  rules: Record<Direction, PlannedRule[]>;
  sets: SetState[];
  /** Local pods the policy selects. */
  localPods: number;
}

interface GroupState {
  direction: Direction;
  policies: string[];
  users: number;
  /** The chain as last handed out by state(); a group's rules never change while it exists. */
  snapshot?: PlannedChain;
}

const DIRECTIONS: readonly Direction[] = ['Ingress', 'Egress'];

/**
 * The incremental planner of one node's policy table. Feed it the cluster (`setCluster`) and the
 * pods (`setPods` with the whole list, or `upsertPod` / `deletePod` per change), then read
 * `state()`. Not safe for concurrent use; one per agent.
 */
export class PolicySetPlanner {
  private cluster: PolicyCluster = { namespaces: new Map(), policies: [] };
  private clusterText = '';
  private policiesByNs = new Map<string, NetworkPolicy[]>();
  private readonly pods = new Map<string, PodEntry>();
  private sets = new Map<string, SetState>();
  private active = new Map<string, ActivePolicy>();
  private groups = new Map<string, GroupState>();
  /** The local pods (they alone have groups and self elements). */
  private locals = new Set<PodEntry>();
  /** Marks the pods seen by the current setPods call. */
  private generation = 0;
  /** While replanning everything: new sets are filled afterwards, not on creation. */
  private bulk = false;
  /** Bumped on every change; lets callers skip work when nothing changed. */
  version = 0;

  /** Sets the namespaces and policies; replans everything when they differ from the last ones. Returns whether they did. */
  setCluster(cluster: PolicyCluster): boolean {
    const text = JSON.stringify([
      [...cluster.namespaces].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      cluster.policies,
    ]);
    if (text === this.clusterText) return false;
    this.clusterText = text;
    this.cluster = { namespaces: new Map(cluster.namespaces), policies: [...cluster.policies] };
    this.policiesByNs = new Map();
    for (const p of this.cluster.policies) {
      const list = this.policiesByNs.get(p.metadata.namespace) ?? [];
      list.push(p);
      this.policiesByNs.set(p.metadata.namespace, list);
    }
    this.sets = new Map();
    this.active = new Map();
    this.groups = new Map();
    this.locals = new Set();
    const entries = [...this.pods.values()];
    for (const e of entries) {
      e.contributions = [];
      e.groups = {};
      e.selectedBy = [];
    }
    // Groups and active policies first (they decide which sets exist), then membership.
    this.bulk = true;
    for (const e of entries) this.placeLocal(e);
    this.bulk = false;
    for (const e of entries) this.addMemberships(e);
    this.version++;
    return true;
  }

  /**
   * Makes the pods exactly `pods`: the ones that differ from what the planner holds (by ref,
   * address, labels, ports, locality) are updated, the missing ones deleted. Returns how many changed.
   */
  setPods(pods: readonly PolicySetPod[]): number {
    let changed = 0;
    const generation = ++this.generation;
    let kept = 0;
    for (const p of pods) {
      const ref = podRef(p);
      const old = this.pods.get(ref);
      if (old && old.seen !== generation && (old.pod === p || samePod(old.pod, p))) {
        old.seen = generation;
        kept++;
        continue;
      }
      this.upsertPod(p);
      this.pods.get(ref)!.seen = generation;
      changed++;
    }
    // Only when some pod was not in the list is the map searched for the missing ones.
    if (kept + changed < this.pods.size) {
      for (const [ref, e] of [...this.pods]) {
        if (e.seen === generation) continue;
        this.deletePod(ref);
        changed++;
      }
    }
    return changed;
  }

  /** A pod was created or changed: only its own memberships (and group, when local) are recomputed. */
  upsertPod(pod: PolicySetPod): void {
    const ref = podRef(pod);
    if (this.pods.has(ref)) this.deletePod(ref);
    const entry: PodEntry = { pod, ip: ipv4(pod.ip), contributions: [], groups: {}, selectedBy: [], seen: 0 };
    // Sets created by placing it are filled from the other pods; then it joins every set once.
    this.placeLocal(entry);
    this.pods.set(ref, entry);
    this.addMemberships(entry);
    this.version++;
  }

  /** A pod is gone (or no longer Running): its elements leave every set. */
  deletePod(ref: string): void {
    const entry = this.pods.get(ref);
    if (!entry) return;
    this.removeMemberships(entry);
    this.unplaceLocal(entry);
    this.pods.delete(ref);
    this.version++;
  }

  /** The node's desired table contents. */
  state(): PolicyTableState {
    // Sets and chains that did not change since the last call are the same objects as then.
    const sets: PlannedSet[] = [];
    for (const s of this.sets.values()) {
      s.snapshot ??= {
        name: s.name,
        type: s.type,
        comment: s.comment,
        elements: [...s.elements.values()].map((v) => v.element),
      };
      sets.push(s.snapshot);
    }
    const chains: PlannedChain[] = [];
    for (const [name, g] of this.groups) {
      const rules = () => g.policies.flatMap((ref) => this.active.get(ref)?.rules[g.direction] ?? []);
      g.snapshot ??= {
        name,
        direction: g.direction,
        policies: g.policies,
        comment: clip(`${g.direction.toLowerCase()} of pods selected by ${g.policies.join(' ')}`),
        rules: rules(),
      };
      chains.push(g.snapshot);
    }
    const ingressPods: PolicyTableState['ingressPods'] = [];
    const egressPods: PolicyTableState['egressPods'] = [];
    const selfPairs = new Map<string, PolicyElement>();
    for (const e of this.locals) {
      if (!e.ip) continue;
      if (e.groups.Ingress) ingressPods.push({ addr: e.ip, chain: e.groups.Ingress });
      if (e.groups.Egress) egressPods.push({ addr: e.ip, chain: e.groups.Egress });
      if (e.groups.Ingress || e.groups.Egress) selfPairs.set(e.ip, { type: 'addr-pair', a: e.ip, b: e.ip });
    }
    sets.push({
      name: POLICY_OBJECTS.selfSet,
      type: 'addr-pair',
      comment: 'a pod always reaches itself',
      elements: [...selfPairs.values()],
    });
    return { sets, chains, ingressPods: dedupe(ingressPods), egressPods: dedupe(egressPods) };
  }

  private isLocal(e: PodEntry): boolean {
    return e.pod.local && e.pod.selectable !== false && e.ip !== undefined;
  }

  // --- local pods: groups and active policies ---------------------------------------------

  private placeLocal(e: PodEntry): void {
    if (!this.isLocal(e)) return;
    this.locals.add(e);
    const selecting = (this.policiesByNs.get(e.pod.namespace) ?? []).filter((p) =>
      labelSelectorMatches(p.spec.podSelector, e.pod.labels),
    );
    e.selectedBy = selecting.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    for (const p of selecting) this.activate(p);
    for (const d of DIRECTIONS) {
      const refs = selecting
        .filter((p) => p.spec.policyTypes.includes(d))
        .map((p) => `${p.metadata.namespace}/${p.metadata.name}`)
        .sort();
      if (refs.length === 0) continue;
      const name = policyObjectName(d === 'Ingress' ? 'in' : 'eg', refs.join('\n'));
      const g = this.groups.get(name) ?? { direction: d, policies: refs, users: 0 };
      g.users++;
      this.groups.set(name, g);
      e.groups[d] = name;
    }
  }

  private unplaceLocal(e: PodEntry): void {
    this.locals.delete(e);
    for (const d of DIRECTIONS) {
      const name = e.groups[d];
      if (!name) continue;
      const g = this.groups.get(name);
      if (g && --g.users === 0) this.groups.delete(name);
    }
    e.groups = {};
    for (const ref of e.selectedBy) this.deactivate(ref);
    e.selectedBy = [];
  }

  private activate(p: NetworkPolicy): void {
    const ref = `${p.metadata.namespace}/${p.metadata.name}`;
    const a = this.active.get(ref);
    if (a) {
      a.localPods++;
      return;
    }
    const created: ActivePolicy = { policy: p, ref, rules: { Ingress: [], Egress: [] }, sets: [], localPods: 1 };
    this.active.set(ref, created);
    for (const d of DIRECTIONS) if (p.spec.policyTypes.includes(d)) created.rules[d] = this.compile(created, d);
  }

  private deactivate(ref: string): void {
    const a = this.active.get(ref);
    if (!a || --a.localPods > 0) return;
    this.active.delete(ref);
    for (const s of a.sets) {
      if (--s.refs > 0) continue;
      this.sets.delete(s.name);
      // Pods' contributions to a dropped set are left dangling: filter them lazily.
    }
  }

  // --- rules and the sets they reference ---------------------------------------------------

  /** The rules of one direction of an active policy, creating (or sharing) the sets they use. */
  private compile(a: ActivePolicy, d: Direction): PlannedRule[] {
    const ns = a.policy.metadata.namespace;
    const list =
      d === 'Ingress'
        ? a.policy.spec.ingress.map((r) => ({ peers: r.from, ports: r.ports }))
        : a.policy.spec.egress.map((r) => ({ peers: r.to, ports: r.ports }));
    const field: 'saddr' | 'daddr' = d === 'Ingress' ? 'saddr' : 'daddr';
    const out: PlannedRule[] = [];
    list.forEach((r, i) => {
      const comment = `${a.ref} ${d.toLowerCase()}[${i}]`;
      const push = (matches: PolicyMatch[]) => out.push({ matches, policy: a.ref, direction: d, rule: i, comment });
      // A rule's ipBlocks share one interval set (their union: the peers of a rule are OR'ed),
      // so a rule of ten /32 blocks costs one set and one rule, not ten of each.
      const blocks = r.peers.flatMap((peer) => (peer.ipBlock ? [peer.ipBlock] : []));
      const peerMatches: Array<PolicyMatch | undefined> =
        r.peers.length === 0
          ? [undefined]
          : [
              ...(blocks.length > 0 ? [{ match: field, set: this.blocksSet(a, blocks).name }] : []),
              ...r.peers
                .filter((peer) => !peer.ipBlock)
                .map((peer) => ({ match: field, set: this.peerSet(a, ns, peer).name })),
            ];
      const numbered = r.ports.filter((p) => typeof p.port !== 'string');
      const named = r.ports.filter((p): p is NetworkPolicyPort & { port: string } => typeof p.port === 'string');
      if (r.ports.length === 0) {
        for (const m of peerMatches) push(m ? [m] : []);
        return;
      }
      if (numbered.length > 0) {
        const ports = this.portSet(a, numbered);
        for (const m of peerMatches)
          push(m ? [m, { match: 'proto-port', set: ports.name }] : [{ match: 'proto-port', set: ports.name }]);
      }
      for (const np of dedupeNamed(named)) {
        if (d === 'Ingress') {
          // The destination is the local pod: its own number for the name.
          const s = this.namedInSet(a, np.port, np.protocol);
          for (const m of peerMatches)
            push(m ? [m, { match: 'daddr-proto-port', set: s.name }] : [{ match: 'daddr-proto-port', set: s.name }]);
        } else {
          // The destination is the peer: a set per (peer, name) holding each destination pod's number.
          const peers: Array<NetworkPolicyPeer | undefined> = r.peers.length === 0 ? [undefined] : r.peers;
          for (const peer of peers)
            push([{ match: 'daddr-proto-port', set: this.namedEgSet(a, ns, peer, np.port, np.protocol).name }]);
        }
      }
    });
    return out;
  }

  private useSet(
    a: ActivePolicy,
    name: string,
    make: () => Omit<SetState, 'refs' | 'elements' | 'name'> & { static?: PolicyElement[] },
  ): SetState {
    let s = this.sets.get(name);
    if (!s) {
      const m = make();
      s = {
        name,
        type: m.type,
        comment: m.comment,
        elements: new Map(),
        refs: 0,
        ...(m.member ? { member: m.member } : {}),
      };
      this.sets.set(name, s);
      for (const el of m.static ?? []) s.elements.set(elementKey(el), { element: el, count: 1 });
      if (s.member && !this.bulk) for (const e of this.pods.values()) this.addMembership(e, s);
    }
    if (!a.sets.includes(s)) {
      a.sets.push(s);
      s.refs++;
    }
    return s;
  }

  /** One interval set for the union of a rule's ipBlocks (cidr minus except each), shared by equal unions. */
  private blocksSet(a: ActivePolicy, blocks: readonly IpBlock[]): SetState {
    const ranges = mergeRanges(blocks.flatMap((b) => blockRanges(b.cidr, b.except)));
    const key = ranges.map(fmtRange).join(',');
    return this.useSet(a, policyObjectName('block', key), () => ({
      type: 'addr-interval',
      comment: clip(
        `ipBlock ${blocks.map((b) => `${b.cidr}${b.except.length > 0 ? ` except ${b.except.join(' ')}` : ''}`).join(', ')}`,
      ),
      static: ranges.map(
        ([lo, hi]): PolicyElement => ({ type: 'addr-interval', from: formatV4(lo), to: formatV4(hi) }),
      ),
    }));
  }

  private peerSet(a: ActivePolicy, ns: string, peer: NetworkPolicyPeer): SetState {
    if (peer.ipBlock) return this.blocksSet(a, [peer.ipBlock]);
    // A podSelector alone means the policy's own namespace; with a namespaceSelector it does not.
    const key = peerKey(ns, peer);
    return this.useSet(a, policyObjectName('peer', key), () => ({
      type: 'addr',
      comment: describePeer(ns, peer),
      member: (e) => (e.ip && peerMatches(this.cluster, ns, peer, e.pod) ? [{ type: 'addr', addr: e.ip }] : []),
    }));
  }

  private portSet(a: ActivePolicy, ports: readonly NetworkPolicyPort[]): SetState {
    const elements = portElements(ports);
    const key = elements.map(elementKey).join(', ');
    return this.useSet(a, policyObjectName('ports', key), () => ({
      type: 'proto-port-interval',
      comment: clip(`ports ${key}`),
      static: elements,
    }));
  }

  private namedInSet(a: ActivePolicy, name: string, protocol: Protocol): SetState {
    const key = `${name}/${protocol}`;
    return this.useSet(a, policyObjectName('named-in', key), () => ({
      type: 'addr-proto-port',
      comment: clip(`port ${key} of the local pods`),
      member: (e) => {
        const port = this.isLocal(e) ? namedPort(e.pod, name, protocol) : undefined;
        return port === undefined || !e.ip ? [] : [{ type: 'addr-proto-port', addr: e.ip, protocol, port }];
      },
    }));
  }

  private namedEgSet(
    a: ActivePolicy,
    ns: string,
    peer: NetworkPolicyPeer | undefined,
    name: string,
    protocol: Protocol,
  ): SetState {
    const key = `${peer ? peerKey(ns, peer) : 'any'} port ${name}/${protocol}`;
    return this.useSet(a, policyObjectName('named-eg', key), () => ({
      type: 'addr-proto-port',
      comment: clip(`port ${name}/${protocol} of ${peer ? describePeer(ns, peer) : 'every pod'}`),
      member: (e) => {
        if (!e.ip || (peer && !peerMatches(this.cluster, ns, peer, e.pod))) return [];
        const port = namedPort(e.pod, name, protocol);
        return port === undefined ? [] : [{ type: 'addr-proto-port', addr: e.ip, protocol, port }];
      },
    }));
  }

  // --- membership ----------------------------------------------------------------------------

  private addMemberships(e: PodEntry): void {
    for (const s of this.sets.values()) if (s.member) this.addMembership(e, s);
  }

  private addMembership(e: PodEntry, s: SetState): void {
    for (const el of s.member!(e)) {
      const key = elementKey(el);
      const cur = s.elements.get(key);
      if (cur) cur.count++;
      else {
        s.elements.set(key, { element: el, count: 1 });
        delete s.snapshot;
      }
      e.contributions.push({ set: s, key });
    }
  }

  private removeMemberships(e: PodEntry): void {
    for (const { set, key } of e.contributions) {
      if (this.sets.get(set.name) !== set) continue;
      const cur = set.elements.get(key);
      if (cur && --cur.count === 0) {
        set.elements.delete(key);
        delete set.snapshot;
      }
    }
    e.contributions = [];
  }
}

/** Plans from scratch (tests, the benchmark's first load). */
export function planPolicyTable(cluster: PolicyCluster, pods: readonly PolicySetPod[]): PolicyTableState {
  const planner = new PolicySetPlanner();
  planner.setPods(pods);
  planner.setCluster(cluster);
  return planner.state();
}
