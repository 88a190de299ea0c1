import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../k8s/parse.js';
import type { NetworkPolicy } from '../k8s/objects.js';
import { evaluate, type PolicyCluster, type PolicyPod } from './evaluate.js';
import { explainVerdict } from './explain.js';

// The e2e cluster: namespaces x, y, z (labelled ns=<name>), pods a, b, c (labelled pod=<name>),
// each serving 80 and 81 on TCP and UDP with e2e-style port names.
const NS = ['x', 'y', 'z'];
const PODS: PolicyPod[] = NS.flatMap((ns, i) =>
  ['a', 'b', 'c'].map((name, j) => ({
    namespace: ns,
    name,
    labels: { pod: name },
    ip: `10.244.${i}.${j + 2}`,
    ports: [80, 81].flatMap((port) =>
      (['TCP', 'UDP'] as const).map((protocol) => ({
        containerPort: port,
        protocol,
        name: `serve-${port}-${protocol.toLowerCase()}`,
      })),
    ),
  })),
);
const pod = (ref: string) => PODS.find((p) => `${p.namespace}/${p.name}` === ref)!;

function cluster(yaml: string, nsLabels: Record<string, Record<string, string>> = {}): PolicyCluster {
  const policies = yaml === '' ? [] : (parseManifest(yaml) as NetworkPolicy[]);
  return {
    namespaces: new Map(NS.map((n) => [n, { ns: n, 'kubernetes.io/metadata.name': n, ...nsLabels[n] }])),
    policies,
  };
}

function policy(ns: string, name: string, spec: string): string {
  return `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec.replace(/^/gm, '  ')}\n---\n`;
}

/** Pairs (from>to) allowed on port/protocol, over all 81, minus self pairs (always allowed). */
function allowed(c: PolicyCluster, port = 80, protocol: 'TCP' | 'UDP' | 'SCTP' = 'TCP'): string[] {
  const out: string[] = [];
  for (const f of PODS)
    for (const t of PODS)
      if (f !== t && evaluate(c, f, t, port, protocol).allowed)
        out.push(`${f.namespace}/${f.name}>${t.namespace}/${t.name}`);
  return out;
}
const ALL = PODS.flatMap((f) =>
  PODS.filter((t) => t !== f).map((t) => `${f.namespace}/${f.name}>${t.namespace}/${t.name}`),
);
const only = (keep: (from: string, to: string) => boolean) =>
  ALL.filter((p) => keep(p.split('>')[0]!, p.split('>')[1]!));

const cases: Array<{
  name: string;
  yaml: string;
  port?: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  nsLabels?: Record<string, Record<string, string>>;
  want: string[];
}> = [
  { name: 'no policies: everything', yaml: '', want: ALL },
  {
    name: 'deny all ingress to x',
    yaml: policy('x', 'deny', 'podSelector: {}'),
    want: only((_f, t) => !t.startsWith('x/')),
  },
  {
    name: 'deny all egress from x',
    yaml: policy('x', 'deny', 'podSelector: {}\npolicyTypes: [Egress]'),
    want: only((f) => !f.startsWith('x/')),
  },
  {
    name: 'allow ingress to x/a from namespace y only',
    yaml: policy(
      'x',
      'p',
      'podSelector: { matchLabels: { pod: a } }\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }] }]',
    ),
    want: only((f, t) => t !== 'x/a' || f.startsWith('y/')),
  },
  {
    name: 'both selectors in one peer: only y/b may reach x/a',
    yaml: policy(
      'x',
      'p',
      'podSelector: { matchLabels: { pod: a } }\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } }, podSelector: { matchLabels: { pod: b } } }] }]',
    ),
    want: only((f, t) => t !== 'x/a' || f === 'y/b'),
  },
  {
    name: 'two peers: all of y, and pods b in x',
    yaml: policy(
      'x',
      'p',
      'podSelector: { matchLabels: { pod: a } }\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }, { podSelector: { matchLabels: { pod: b } } }] }]',
    ),
    want: only((f, t) => t !== 'x/a' || f.startsWith('y/') || f === 'x/b'),
  },
  {
    name: 'matchExpressions NotIn on namespaces',
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: ns, operator: NotIn, values: [y] }] } }] }]',
    ),
    want: only((f, t) => !t.startsWith('x/') || !f.startsWith('y/')),
  },
  {
    name: 'ipBlock with except: z/a reaches x, not z/b',
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\ningress: [{ from: [{ ipBlock: { cidr: 10.244.2.0/24, except: [10.244.2.3/32] } }] }]',
    ),
    want: only((f, t) => !t.startsWith('x/') || f === 'z/a' || f === 'z/c'),
  },
  {
    name: 'named port serve-81-tcp: 80 denied to x/a',
    yaml: policy('x', 'p', 'podSelector: { matchLabels: { pod: a } }\ningress: [{ ports: [{ port: serve-81-tcp }] }]'),
    want: only((_f, t) => t !== 'x/a'),
  },
  {
    name: 'named port serve-81-tcp: 81 allowed to x/a',
    yaml: policy('x', 'p', 'podSelector: { matchLabels: { pod: a } }\ningress: [{ ports: [{ port: serve-81-tcp }] }]'),
    port: 81,
    want: ALL,
  },
  {
    name: 'a TCP port rule does not open UDP',
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ ports: [{ port: 80 }] }]'),
    protocol: 'UDP',
    want: only((_f, t) => !t.startsWith('x/')),
  },
  {
    name: 'endPort range 79-80 includes 80',
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ ports: [{ port: 79, endPort: 80 }] }]'),
    want: ALL,
  },
  {
    name: 'endPort range 81-90 excludes 80',
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ ports: [{ port: 81, endPort: 90 }] }]'),
    want: only((_f, t) => !t.startsWith('x/')),
  },
  {
    name: 'egress to y only, plus ingress deny in y from x/b: both ends must allow',
    yaml:
      policy(
        'x',
        'e',
        'podSelector: {}\npolicyTypes: [Egress]\negress: [{ to: [{ namespaceSelector: { matchLabels: { ns: y } } }] }]',
      ) +
      policy(
        'y',
        'i',
        'podSelector: {}\ningress: [{ from: [{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: pod, operator: NotIn, values: [b] }] } }] }]',
      ),
    want: only((f, t) => (!f.startsWith('x/') || t.startsWith('y/')) && (!t.startsWith('y/') || !f.endsWith('/b'))),
  },
  {
    name: 'overlapping policies add up: deny-all plus allow-from-z',
    yaml:
      policy('x', 'deny', 'podSelector: {}') +
      policy(
        'x',
        'allow-z',
        'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: z } } }] }]',
      ),
    want: only((f, t) => !t.startsWith('x/') || f.startsWith('z/')),
  },
  {
    name: 'namespace label selected (role=prod on y)',
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { role: prod } } }] }]',
    ),
    nsLabels: { y: { role: 'prod' } },
    want: only((f, t) => !t.startsWith('x/') || f.startsWith('y/')),
  },
  {
    name: 'SCTP rules allow SCTP only',
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ ports: [{ protocol: SCTP, port: 80 }] }]'),
    protocol: 'SCTP',
    want: ALL,
  },
];

for (const c of cases) {
  test(`policy semantics: ${c.name}`, () => {
    assert.deepEqual(allowed(cluster(c.yaml, c.nsLabels), c.port, c.protocol), c.want);
  });
}

test('a pod can always reach itself, even when isolated both ways', () => {
  const c = cluster(policy('x', 'deny', 'podSelector: {}\npolicyTypes: [Ingress, Egress]'));
  const v = evaluate(c, pod('x/a'), pod('x/a'), 80, 'TCP');
  assert.equal(v.allowed, true);
  assert.equal(v.self, true);
  assert.equal(evaluate(c, pod('x/a'), pod('x/b'), 80, 'TCP').allowed, false);
});

test('explain names the isolating policies and the allowing rule, or that none allows', () => {
  const c = cluster(
    policy('x', 'deny', 'podSelector: {}') +
      policy(
        'x',
        'allow-z',
        'podSelector: {}\ningress: [{ ports: [{ port: 81 }] }, { from: [{ namespaceSelector: { matchLabels: { ns: z } } }] }]',
      ),
  );
  const ok = explainVerdict('z/a', 'x/b', 80, 'TCP', evaluate(c, pod('z/a'), pod('x/b'), 80, 'TCP'));
  assert.match(ok, /^z\/a -> x\/b on 80\/TCP: ALLOWED/);
  assert.match(ok, /egress from z\/a: allowed \(no policy selects z\/a for Egress/);
  assert.match(
    ok,
    /ingress to x\/b: allowed; x\/b is isolated for Ingress by x\/deny, x\/allow-z\n {4}allowed by x\/allow-z spec\.ingress\[1\]/,
  );
  const no = explainVerdict('y/a', 'x/b', 80, 'TCP', evaluate(c, pod('y/a'), pod('x/b'), 80, 'TCP'));
  assert.match(no, /DENIED/);
  assert.match(no, /no ingress rule of those policies matches this peer and port/);
});
