/**
 * The policy benchmark's big cluster: 10,000 pods in 100 namespaces spread over 100 nodes (100
 * pods on each), and 1,000 NetworkPolicies (ten per namespace, covering every kind of peer and
 * port: pod and namespace selectors, matchExpressions, ipBlocks with except, named ports on
 * ingress and egress, endPort ranges, UDP). Shared by bench/policy.ts's `render` part and by
 * anything else that wants a cluster of that size.
 */

import { parseManifest } from '../src/core/k8s/parse.js';
import type { NetworkPolicy, Pod } from '../src/core/k8s/objects.js';
import type { PolicyPod } from '../src/core/policy/evaluate.js';

/** The address prefix of node 0's pods (10.244.0.x): the node the benchmark plans. */
export const NODE0_PREFIX = '10.244.0.';

export function bigCluster(): {
  pods: PolicyPod[];
  namespaces: Map<string, Record<string, string>>;
  policies: NetworkPolicy[];
} {
  const NAMESPACES = 100;
  const PER_NS = 100;
  const NODES = 100;
  const namespaces = new Map<string, Record<string, string>>();
  const pods: PolicyPod[] = [];
  const perNode = new Array<number>(NODES).fill(0);
  const tiers = ['web', 'api', 'db'];
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns${n}`;
    namespaces.set(ns, { 'kubernetes.io/metadata.name': ns, team: `t${n % 10}`, env: n % 2 === 0 ? 'prod' : 'dev' });
    for (let j = 0; j < PER_NS; j++) {
      const node = (n * PER_NS + j) % NODES;
      const host = ++perNode[node]!;
      const pod = parseManifest(
        `apiVersion: v1\nkind: Pod\nmetadata: { name: p${j}, namespace: ${ns}, labels: { app: a${j % 10}, tier: ${tiers[j % 3]} } }\nspec: { containers: [{ name: s, ports: [{ containerPort: 80, name: http }, { containerPort: 9090, name: metrics }, { containerPort: 53, protocol: UDP, name: dns }] }] }\n`,
      )[0] as Pod;
      pods.push({
        namespace: ns,
        name: `p${j}`,
        labels: pod.metadata.labels,
        ip: `10.${244 + (node >> 8)}.${node & 255}.${host + 1}`,
        ports: pod.spec.containers.flatMap((c) => c.ports),
        selectable: true,
      });
    }
  }
  const texts: string[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns${n}`;
    const p = (name: string, spec: string) =>
      `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec: ${spec}\n`;
    texts.push(
      p('default-deny', '{ podSelector: {}, policyTypes: [Ingress, Egress] }'),
      p(
        'same-app',
        `{ podSelector: { matchLabels: { app: a${n % 10} } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: a${n % 10} } } }] }] }`,
      ),
      p(
        'team-web',
        `{ podSelector: { matchLabels: { tier: web } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: t${n % 10} } }, podSelector: { matchLabels: { tier: api } } }], ports: [{ port: http }] }] }`,
      ),
      p(
        'external',
        `{ podSelector: { matchLabels: { tier: web } }, ingress: [{ from: [{ ipBlock: { cidr: ${100 + (n % 50)}.0.0.0/8, except: [${100 + (n % 50)}.1.0.0/16, ${100 + (n % 50)}.2.0.0/16] } }], ports: [{ port: 80 }, { port: 443 }] }] }`,
      ),
      p(
        'prod-egress',
        '{ podSelector: { matchLabels: { tier: api } }, policyTypes: [Egress], egress: [{ to: [{ namespaceSelector: { matchLabels: { env: prod } } }], ports: [{ port: 8000, endPort: 8100 }] }] }',
      ),
      p(
        'internet-out',
        '{ podSelector: { matchLabels: { tier: web } }, policyTypes: [Egress], egress: [{ to: [{ ipBlock: { cidr: 0.0.0.0/0, except: [10.0.0.0/8] } }], ports: [{ port: 443 }] }] }',
      ),
      p(
        'expr',
        '{ podSelector: { matchExpressions: [{ key: tier, operator: In, values: [web, api] }, { key: app, operator: NotIn, values: [a0, a1] }] }, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: tier, operator: Exists }] } }], ports: [{ port: metrics }] }] }',
      ),
      p(
        'monitoring',
        '{ podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: t0 } } }], ports: [{ port: metrics }] }] }',
      ),
      p(
        'dns-out',
        '{ podSelector: {}, policyTypes: [Egress], egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: a9 } } }], ports: [{ port: dns, protocol: UDP }, { port: 53, protocol: TCP }] }] }',
      ),
      p(
        'db-in',
        `{ podSelector: { matchLabels: { tier: db } }, ingress: [{ from: [{ podSelector: { matchLabels: { tier: api } } }, { namespaceSelector: { matchExpressions: [{ key: team, operator: In, values: [t${n % 10}, t${(n + 1) % 10}] }] } }], ports: [{ port: 5432 }] }] }`,
      ),
    );
  }
  const policies = parseManifest(texts.join('---\n')) as NetworkPolicy[];
  if (pods.length !== 10_000 || policies.length !== 1000)
    throw new Error(`cluster is ${pods.length} pods, ${policies.length} policies`);
  return { pods, namespaces, policies };
}
