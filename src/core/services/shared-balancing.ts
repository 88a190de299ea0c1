/**
 * The shared balancing objects of the Services table (./service-table.ts): the chains and maps
 * that balance every Service without session affinity or externalTrafficPolicy Local.
 *
 * Why shared: nft 1.0.6 lists every chain of the network namespace before any transaction that
 * adds an element or a rule (the cost grows about 2-4 ms per 1,000 chains). kube-proxy's
 * nftables layout, a chain per Service port and per endpoint, has 110,000 chains at 10,000
 * Services x 10 endpoints, so one endpoint change cost about 450 ms in nft alone. Here the chains
 * depend only on the endpoint counts in use, and endpoints are map elements, so an endpoint change
 * is element edits (a few ms).
 *
 *   cluster-N / local-N / external-N / nodeport-N    numgen random mod N vmap { i : goto pick-i }
 *   pick-I           hairpin check, then dnat ip to ip daddr . meta l4proto . th dport map @endpoints-I
 *   nodeport-pick-I  dnat ip to meta l4proto . th dport map @nodeport-endpoints-I
 *
 * Equal weight as kube-proxy's per-Service vmap: numgen picks the index, the index's map holds
 * that Service's endpoint at that position (endpoints in address order).
 */

import { SERVICES_BALANCE as B, SERVICES_OBJECTS as O } from '../names.js';
import {
  inSet,
  jump,
  match,
  rule,
  type ChainDef,
  type Element,
  type Part,
  type RuleBody,
  type Selector,
  type SetDef,
} from '../nft/model.js';

/**
 * One key (address . proto . port in service-ips, or proto . port in service-nodeports) balanced
 * by a shared chain: `kind`'s chain for n = elements.length picks i at random and looks the key
 * up in endpoints map i, where elements[i] is this key's entry.
 */
export interface Balanced {
  key: readonly Part[];
  kind: 'cluster' | 'local' | 'external' | 'nodePort';
  elements: Element[];
  /** ClusterIP keys: endpoint i's address . the key, in hairpin map i (a pod that reached itself). */
  hairpin: Element[];
}

/**
 * How many balanced keys use each shared chain (by name), over the whole table: which `kind-N`
 * chains exist, and how many pick chains and endpoint maps (one per index below the largest N).
 */
export type SharedUses = ReadonlyMap<string, { kind: Balanced['kind']; n: number; count: number }>;

/** Adds (sign 1) or takes away (-1) the uses of `balanced` to `uses`, in place. */
export function countUses(
  uses: Map<string, { kind: Balanced['kind']; n: number; count: number }>,
  balanced: readonly Balanced[],
  sign: 1 | -1,
): void {
  for (const b of balanced) {
    const name = B[b.kind](b.elements.length);
    const u = uses.get(name);
    if (u) {
      u.count += sign;
      if (u.count === 0) uses.delete(name);
    } else if (sign === 1) uses.set(name, { kind: b.kind, n: b.elements.length, count: 1 });
    else throw new Error(`shared balancing: ${name} taken away more often than it was used`);
  }
}

/**
 * The shared balancing chains and maps for the balanced keys: a chain per kind and endpoint count
 * in use (`numgen random mod n` over pick chains 0..n-1, equal weight, as kube-proxy's per-Service
 * vmap), and per index i a pick chain that DNATs through endpoints map i. One map lookup picks the
 * chain (service-ips), one picks the endpoint: the per-packet cost does not grow with Services.
 *
 * With `uses` (the whole table's, see SharedUses) the chains and maps are those of the whole table
 * while the elements are those of `balanced` alone: one side of an incremental change, where
 * `balanced` are the changed Services' keys (service-table.ts, ServicesPlanner.planChanged).
 */
export function sharedBalancing(
  balanced: readonly Balanced[],
  clusterPart: Part,
  uses?: SharedUses,
): { chains: ChainDef[]; sets: SetDef[] } {
  const counts = new Map<Balanced['kind'], Set<number>>();
  let maxIndex = 0;
  let maxNodePortIndex = 0;
  const byIndex: Element[][] = [];
  const hairpinByIndex: Element[][] = [];
  const nodePortByIndex: Element[][] = [];
  const use = (kind: Balanced['kind'], n: number) => {
    const ns = counts.get(kind);
    if (ns) ns.add(n);
    else counts.set(kind, new Set([n]));
    if (kind === 'nodePort') maxNodePortIndex = Math.max(maxNodePortIndex, n);
    else maxIndex = Math.max(maxIndex, n);
  };
  if (uses) for (const u of uses.values()) use(u.kind, u.n);
  for (const b of balanced) {
    if (!uses) use(b.kind, b.elements.length);
    const into = b.kind === 'nodePort' ? nodePortByIndex : byIndex;
    b.elements.forEach((e, i) => (into[i] ??= []).push(e));
    b.hairpin.forEach((e, i) => (hairpinByIndex[i] ??= []).push(e));
  }
  const chains: ChainDef[] = [];
  const sets: SetDef[] = [];
  const pick = (kind: Balanced['kind'], n: number): RuleBody =>
    rule(
      [
        {
          kind: 'numgen',
          mod: n,
          map: Array.from({ length: n }, (_, i) => ({
            key: [i],
            value: { verdict: 'goto', chain: kind === 'nodePort' ? B.nodePortPick(i) : B.pick(i) },
          })),
        },
      ],
      `one of ${n} endpoints`,
    );
  const sorted = [...counts.entries()]
    .flatMap(([kind, ns]) => [...ns].map((n) => ({ kind, n, name: B[kind](n) })))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const { name, kind, n } of sorted) {
    const head: RuleBody[] =
      kind === 'cluster'
        ? [rule([match('ip saddr', clusterPart, '!='), jump(O.markChain)], 'from outside the pod network: masquerade')]
        : kind === 'local'
          ? []
          : [rule([jump(O.markChain)], 'outside clients: masquerade')];
    chains.push({ name, comment: `${kind} traffic to ${n} endpoints`, rules: [...head, pick(kind, n)] });
  }
  const endpointsKey = ['ip daddr', 'meta l4proto', 'th dport'] as const satisfies readonly Selector[];
  const nodePortKey = ['meta l4proto', 'th dport'] as const satisfies readonly Selector[];
  for (let i = 0; i < maxIndex; i++) {
    chains.push({
      name: B.pick(i),
      rules: [
        rule(
          [inSet(['ip saddr', ...endpointsKey], B.hairpinMap(i)), jump(O.markChain)],
          'hairpin: the endpoint reaching itself',
        ),
        rule([{ kind: 'dnat', to: { key: endpointsKey, map: B.endpointsMap(i) } }]),
      ],
    });
    sets.push({
      name: B.hairpinMap(i),
      key: ['ipv4_addr', 'ipv4_addr', 'inet_proto', 'inet_service'],
      comment: `endpoint ${i}'s address . its ClusterIP . proto . port`,
      elements: hairpinByIndex[i] ?? [],
    });
    sets.push({
      name: B.endpointsMap(i),
      key: ['ipv4_addr', 'inet_proto', 'inet_service'],
      value: ['ipv4_addr', 'inet_service'],
      comment: `endpoint ${i} of each address . proto . port`,
      elements: byIndex[i] ?? [],
    });
  }
  for (let i = 0; i < maxNodePortIndex; i++) {
    chains.push({
      name: B.nodePortPick(i),
      rules: [rule([{ kind: 'dnat', to: { key: nodePortKey, map: B.nodePortEndpointsMap(i) } }])],
    });
    sets.push({
      name: B.nodePortEndpointsMap(i),
      key: ['inet_proto', 'inet_service'],
      value: ['ipv4_addr', 'inet_service'],
      comment: `endpoint ${i} of each node port`,
      elements: nodePortByIndex[i] ?? [],
    });
  }
  return { chains, sets };
}
