/**
 * fast-check arbitraries of small random clusters for NetworkPolicy tests: pods of namespaces
 * x, y, z (labels pod=a|b|c, sometimes team=blue|red; named and numbered container ports on TCP,
 * UDP and SCTP; now and then a hostNetwork pod, at most one per node since they share the node's
 * address) on nodes n1..n3, and up to four policies mixing every kind of peer (pod and namespace
 * selectors, matchExpressions, ipBlocks with except, an IPv6 block) and port (numbered, endPort,
 * named, protocol only). Used by the planner's and the tracer's property tests.
 */

import fc from 'fast-check';
import type { Protocol } from '../core/k8s/objects.js';
import type { PolicySetPod } from '../core/policy/policy-sets.js';
import type { ReachPod } from '../core/policy/reach.js';

export function policy(ns: string, name: string, spec: string): string {
  return `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec.replace(/^/gm, '  ')}\n---\n`;
}

/** The namespaces' labels (ns=<name>, and the name label the API server adds). */
export const NAMESPACES: ReadonlyMap<string, Record<string, string>> = new Map(
  ['x', 'y', 'z'].map((n) => [n, { ns: n, 'kubernetes.io/metadata.name': n }]),
);

export const NODES = ['n1', 'n2', 'n3'];
export const nodeIp = (n: string) => `192.168.0.${NODES.indexOf(n) + 10}`;
export interface GenPod {
  ns: string;
  name: string;
  labels: Record<string, string>;
  node: string;
  host: boolean;
  ports: Array<{ containerPort: number; protocol: Protocol; name?: string }>;
}

export const labelsArb = fc
  .record({ pod: fc.constantFrom('a', 'b', 'c') })
  .chain((l) => fc.option(fc.constantFrom('blue', 'red'), { nil: undefined }).map((t) => (t ? { ...l, team: t } : l)));
export const portArb = fc
  .record({
    containerPort: fc.constantFrom(80, 81, 9000),
    protocol: fc.constantFrom<Protocol>('TCP', 'UDP', 'SCTP'),
    name: fc.constantFrom('http', 'alt', undefined),
  })
  .map((p) => (p.name ? p : { containerPort: p.containerPort, protocol: p.protocol }));
export const podsArb = fc
  .uniqueArray(
    fc.record({
      ns: fc.constantFrom('x', 'y', 'z'),
      name: fc.constantFrom('a', 'b', 'c', 'd'),
      labels: labelsArb,
      node: fc.constantFrom(...NODES),
      host: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
      ports: fc.array(portArb, { maxLength: 3 }),
    }),
    {
      minLength: 1,
      maxLength: 9,
      selector: (p) => `${p.ns}/${p.name}`,
    },
  )
  // At most one hostNetwork pod per node: they share the node's address.
  .map((ps) => ps.map((p, i) => ({ ...p, host: p.host && ps.findIndex((q) => q.host && q.node === p.node) === i })));

export const selArb = fc.oneof(
  fc.constant('{}'),
  fc.constantFrom('a', 'b', 'c').map((v) => `{ matchLabels: { pod: ${v} } }`),
  fc.constant('{ matchExpressions: [{ key: team, operator: Exists }] }'),
  fc.constant('{ matchExpressions: [{ key: pod, operator: NotIn, values: [a] }] }'),
);
export const nsSelArb = fc.oneof(
  fc.constant('{}'),
  fc.constantFrom('x', 'y', 'z').map((v) => `{ matchLabels: { ns: ${v} } }`),
);
export const peerArb = fc.oneof(
  selArb.map((s) => `{ podSelector: ${s} }`),
  nsSelArb.map((s) => `{ namespaceSelector: ${s} }`),
  fc.tuple(nsSelArb, selArb).map(([n, s]) => `{ namespaceSelector: ${n}, podSelector: ${s} }`),
  fc.constantFrom(
    '{ ipBlock: { cidr: 10.244.0.0/16, except: [10.244.1.0/24] } }',
    '{ ipBlock: { cidr: 192.168.0.0/24 } }',
    '{ ipBlock: { cidr: 0.0.0.0/0, except: [10.244.2.0/25] } }',
    '{ ipBlock: { cidr: "fd00::/8" } }',
  ),
);
export const rulePortArb = fc.constantFrom(
  '{ port: 80 }',
  '{ port: 81 }',
  '{ port: 80, endPort: 81 }',
  '{ port: http }',
  '{ port: alt, protocol: UDP }',
  '{ protocol: UDP }',
  '{ port: 9000, protocol: SCTP }',
  '{ port: http, protocol: SCTP }',
);
export const ruleArb = (field: 'from' | 'to') =>
  fc
    .tuple(fc.array(peerArb, { maxLength: 2 }), fc.array(rulePortArb, { maxLength: 2 }))
    .map(([peers, ports]) => `{ ${field}: [${peers.join(', ')}], ports: [${ports.join(', ')}] }`);
export const policyArb = fc.record({
  ns: fc.constantFrom('x', 'y', 'z'),
  sel: selArb,
  types: fc.constantFrom('[Ingress]', '[Egress]', '[Ingress, Egress]'),
  ingress: fc.array(ruleArb('from'), { maxLength: 2 }),
  egress: fc.array(ruleArb('to'), { maxLength: 2 }),
});
export const policiesArb = fc
  .array(policyArb, { maxLength: 4 })
  .map((ps) =>
    ps
      .map((p, i) =>
        policy(
          p.ns,
          `p${i}`,
          `podSelector: ${p.sel}\npolicyTypes: ${p.types}\ningress: [${p.ingress.join(', ')}]\negress: [${p.egress.join(', ')}]`,
        ),
      )
      .join(''),
  );

export function ipOf(p: GenPod, i: number): string {
  return p.host ? nodeIp(p.node) : `10.244.${NODES.indexOf(p.node)}.${i + 2}`;
}
export function asSetPod(p: GenPod, i: number, node: string): PolicySetPod {
  return {
    namespace: p.ns,
    name: p.name,
    labels: p.labels,
    ip: ipOf(p, i),
    ports: p.ports,
    selectable: !p.host,
    local: p.node === node && !p.host,
  };
}
export function asReachPod(p: GenPod, i: number): ReachPod {
  return {
    namespace: p.ns,
    name: p.name,
    labels: p.labels,
    ip: ipOf(p, i),
    node: p.node,
    hostNetwork: p.host,
    ports: p.ports,
  };
}
