/**
 * The NetworkPolicy scenarios of the 9-pod lab (namespaces x, y, z labelled ns=<name>; pods a, b,
 * c labelled pod=<name>, each serving 80 and 81 on TCP and UDP, examples/xyz), as data: the
 * policies to apply and the verdict each (from, to, port, protocol) must get. test/policy.test.ts
 * proves them with real traffic on a 3-node lab (`weft probe` and `weft reach`);
 * src/core/policy/policy-tracer.test.ts proves that the nftables tables the agents would program
 * give `weft reach`'s verdict for every packet (the tracer through each node's table).
 */

export type Proto = 'TCP' | 'UDP';
/** Whether from may open a connection to to on port/proto ("ns/name" refs; a pod to itself is decided by the caller). */
export type Expect = (from: string, to: string, port: number, proto: Proto) => boolean;
export const PORTS: Array<[number, Proto]> = [
  [80, 'TCP'],
  [81, 'TCP'],
  [80, 'UDP'],
];
/** For scenarios whose rules name ports or protocols: there 81/UDP is where a mistake would show. */
export const ALL_PORTS: Array<[number, Proto]> = [...PORTS, [81, 'UDP']];

export const nsOf = (p: string) => p.split('/')[0]!;
export const podOf = (p: string) => p.split('/')[1]!;
export const ALL: Expect = () => true;

export function policy(ns: string, name: string, spec: string): string {
  return `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec.replace(/^/gm, '  ')}\n---\n`;
}

export interface PolicyScenario {
  name: string;
  /** The policies, as YAML; a function when they name a pod's address ("ns/name" → its IP). */
  yaml: string | ((ipOf: (ref: string) => string) => string);
  expect: Expect;
  /** The ports checked (default PORTS). */
  ports?: Array<[number, Proto]>;
}

export const SCENARIOS: PolicyScenario[] = [
  { name: 'no policy: everything connects', yaml: '', expect: ALL },
  { name: 'deny all ingress to x', yaml: policy('x', 'deny', 'podSelector: {}'), expect: (_f, t) => nsOf(t) !== 'x' },
  {
    name: 'deny all egress from x',
    yaml: policy('x', 'deny', 'podSelector: {}\npolicyTypes: [Egress]'),
    expect: (f) => nsOf(f) !== 'x',
  },
  {
    name: 'deny all ingress and egress in x',
    yaml: policy('x', 'deny', 'podSelector: {}\npolicyTypes: [Ingress, Egress]'),
    expect: (f, t) => nsOf(f) !== 'x' && nsOf(t) !== 'x',
  },
  {
    name: 'allow ingress to x from namespace y',
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }] }]'),
    expect: (f, t) => nsOf(t) !== 'x' || nsOf(f) === 'y',
  },
  {
    name: 'allow ingress to x/a from pods b of x',
    yaml: policy(
      'x',
      'p',
      'podSelector: { matchLabels: { pod: a } }\ningress: [{ from: [{ podSelector: { matchLabels: { pod: b } } }] }]',
    ),
    expect: (f, t) => t !== 'x/a' || f === 'x/b',
  },
  {
    name: 'both selectors in one peer: x/a only from y/b',
    yaml: policy(
      'x',
      'p',
      'podSelector: { matchLabels: { pod: a } }\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } }, podSelector: { matchLabels: { pod: b } } }] }]',
    ),
    expect: (f, t) => t !== 'x/a' || f === 'y/b',
  },
  {
    name: 'two peers: x/a from all of y, or from pods b of x',
    yaml: policy(
      'x',
      'p',
      'podSelector: { matchLabels: { pod: a } }\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }, { podSelector: { matchLabels: { pod: b } } }] }]',
    ),
    expect: (f, t) => t !== 'x/a' || nsOf(f) === 'y' || f === 'x/b',
  },
  {
    name: 'pods c of every namespace may reach x',
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\ningress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: c } } }] }]',
    ),
    expect: (f, t) => nsOf(t) !== 'x' || podOf(f) === 'c',
  },
  {
    name: 'matchExpressions In on pods of the same namespace',
    yaml: policy(
      'x',
      'p',
      'podSelector: { matchLabels: { pod: c } }\ningress: [{ from: [{ podSelector: { matchExpressions: [{ key: pod, operator: In, values: [a, b] }] } }] }]',
    ),
    expect: (f, t) => t !== 'x/c' || f === 'x/a' || f === 'x/b',
  },
  {
    name: 'matchExpressions NotIn on namespaces',
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: ns, operator: NotIn, values: [y] }] } }] }]',
    ),
    expect: (f, t) => nsOf(t) !== 'x' || nsOf(f) !== 'y',
  },
  {
    name: 'matchExpressions Exists',
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: ns, operator: Exists }] } }] }]',
    ),
    expect: ALL,
  },
  {
    name: 'matchExpressions DoesNotExist',
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: ns, operator: DoesNotExist }] } }] }]',
    ),
    expect: (_f, t) => nsOf(t) !== 'x',
  },
  {
    name: 'ipBlock with except: everyone but y/b reaches x',
    yaml: (ipOf) =>
      policy(
        'x',
        'p',
        `podSelector: {}\ningress: [{ from: [{ ipBlock: { cidr: 10.244.0.0/16, except: [${ipOf('y/b')}/32] } }] }]`,
      ),
    expect: (f, t) => nsOf(t) !== 'x' || f !== 'y/b',
  },
  {
    name: 'egress ipBlock: x may only reach y/c',
    yaml: (ipOf) =>
      policy(
        'x',
        'p',
        `podSelector: {}\npolicyTypes: [Egress]\negress: [{ to: [{ ipBlock: { cidr: ${ipOf('y/c')}/32 } }] }]`,
      ),
    expect: (f, t) => nsOf(f) !== 'x' || t === 'y/c',
  },
  {
    name: 'named port serve-81-tcp on x',
    ports: ALL_PORTS,
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ ports: [{ port: serve-81-tcp }] }]'),
    expect: (_f, t, port, proto) => nsOf(t) !== 'x' || (port === 81 && proto === 'TCP'),
  },
  {
    name: 'named port serve-80-udp on x',
    ports: ALL_PORTS,
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ ports: [{ port: serve-80-udp, protocol: UDP }] }]'),
    expect: (_f, t, port, proto) => nsOf(t) !== 'x' || (port === 80 && proto === 'UDP'),
  },
  {
    name: 'endPort 80-81 on TCP',
    ports: ALL_PORTS,
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ ports: [{ port: 80, endPort: 81 }] }]'),
    expect: (_f, t, _p, proto) => nsOf(t) !== 'x' || proto === 'TCP',
  },
  {
    name: 'endPort 81-90 excludes 80',
    ports: ALL_PORTS,
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ ports: [{ port: 81, endPort: 90 }] }]'),
    expect: (_f, t, port, proto) => nsOf(t) !== 'x' || (port === 81 && proto === 'TCP'),
  },
  {
    name: 'port 80 UDP only',
    ports: ALL_PORTS,
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ ports: [{ port: 80, protocol: UDP }] }]'),
    expect: (_f, t, port, proto) => nsOf(t) !== 'x' || (port === 80 && proto === 'UDP'),
  },
  {
    name: 'a port without protocol means TCP',
    ports: ALL_PORTS,
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ ports: [{ port: 80 }] }]'),
    expect: (_f, t, port, proto) => nsOf(t) !== 'x' || (port === 80 && proto === 'TCP'),
  },
  {
    name: 'an SCTP-only rule leaves x closed to TCP and UDP',
    ports: ALL_PORTS,
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ ports: [{ port: 80, protocol: SCTP }] }]'),
    expect: (_f, t) => nsOf(t) !== 'x',
  },
  {
    name: 'egress from x to namespace y only',
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\npolicyTypes: [Egress]\negress: [{ to: [{ namespaceSelector: { matchLabels: { ns: y } } }] }]',
    ),
    expect: (f, t) => nsOf(f) !== 'x' || nsOf(t) === 'y',
  },
  {
    name: 'egress from x on port 81 only',
    ports: ALL_PORTS,
    yaml: policy('x', 'p', 'podSelector: {}\npolicyTypes: [Egress]\negress: [{ ports: [{ port: 81 }] }]'),
    expect: (f, _t, port, proto) => nsOf(f) !== 'x' || (port === 81 && proto === 'TCP'),
  },
  {
    name: 'egress with a named port resolved on each destination',
    ports: ALL_PORTS,
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\npolicyTypes: [Egress]\negress: [{ to: [{ namespaceSelector: { matchLabels: { ns: y } } }], ports: [{ port: serve-81-tcp }] }]',
    ),
    expect: (f, t, port, proto) => nsOf(f) !== 'x' || (nsOf(t) === 'y' && port === 81 && proto === 'TCP'),
  },
  {
    name: 'egress and ingress combined: x may reach only y; y takes only x/a from x',
    yaml:
      policy(
        'x',
        'e',
        'podSelector: {}\npolicyTypes: [Egress]\negress: [{ to: [{ namespaceSelector: { matchLabels: { ns: y } } }] }]',
      ) +
      policy(
        'y',
        'i',
        'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }, { namespaceSelector: { matchLabels: { ns: z } } }, { namespaceSelector: { matchLabels: { ns: x } }, podSelector: { matchLabels: { pod: a } } }] }]',
      ),
    expect: (f, t) => (nsOf(f) !== 'x' || nsOf(t) === 'y') && (nsOf(t) !== 'y' || nsOf(f) !== 'x' || f === 'x/a'),
  },
  {
    name: 'overlapping policies add up: deny-all plus allow from z',
    yaml:
      policy('x', 'deny', 'podSelector: {}') +
      policy(
        'x',
        'allow-z',
        'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: z } } }] }]',
      ),
    expect: (f, t) => nsOf(t) !== 'x' || nsOf(f) === 'z',
  },
  {
    name: 'different pods, different rules: x/a from y, x/b from z',
    yaml:
      policy(
        'x',
        'pa',
        'podSelector: { matchLabels: { pod: a } }\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }] }]',
      ) +
      policy(
        'x',
        'pb',
        'podSelector: { matchLabels: { pod: b } }\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: z } } }] }]',
      ),
    expect: (f, t) => (t !== 'x/a' || nsOf(f) === 'y') && (t !== 'x/b' || nsOf(f) === 'z'),
  },
  {
    name: 'deny-all ingress in every namespace',
    yaml:
      policy('x', 'd', 'podSelector: {}') + policy('y', 'd', 'podSelector: {}') + policy('z', 'd', 'podSelector: {}'),
    expect: () => false,
  },
  {
    name: 'an empty ingress rule allows everything despite a deny-all',
    yaml: policy('x', 'deny', 'podSelector: {}') + policy('x', 'all', 'podSelector: {}\ningress: [{}]'),
    expect: ALL,
  },
  {
    name: 'egress deny to the pod network via ipBlock except',
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\npolicyTypes: [Egress]\negress: [{ to: [{ ipBlock: { cidr: 0.0.0.0/0, except: [10.244.0.0/16] } }] }]',
    ),
    expect: (f) => nsOf(f) !== 'x',
  },
  {
    name: "a podSelector peer stays in the policy's namespace",
    yaml: policy('x', 'p', 'podSelector: {}\ningress: [{ from: [{ podSelector: {} }] }]'),
    expect: (f, t) => nsOf(t) !== 'x' || nsOf(f) === 'x',
  },
  {
    name: 'egress rules are ignored without Egress in policyTypes',
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\npolicyTypes: [Ingress]\ningress: [{}]\negress: [{ to: [{ ipBlock: { cidr: 192.0.2.0/24 } }] }]',
    ),
    expect: ALL,
  },
  {
    name: 'namespace by name (kubernetes.io/metadata.name)',
    yaml: policy(
      'x',
      'p',
      'podSelector: {}\ningress: [{ from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: z } } }] }]',
    ),
    expect: (f, t) => nsOf(t) !== 'x' || nsOf(f) === 'z',
  },
  {
    name: 'egress within the same namespace only',
    yaml: policy('y', 'p', 'podSelector: {}\npolicyTypes: [Egress]\negress: [{ to: [{ podSelector: {} }] }]'),
    expect: (f, t) => nsOf(f) !== 'y' || nsOf(t) === 'y',
  },
  {
    name: 'ipBlock 0.0.0.0/0 on port 81 only',
    ports: ALL_PORTS,
    yaml: policy(
      'z',
      'p',
      'podSelector: {}\ningress: [{ from: [{ ipBlock: { cidr: 0.0.0.0/0 } }], ports: [{ port: 81 }] }]',
    ),
    expect: (_f, t, port, proto) => nsOf(t) !== 'z' || (port === 81 && proto === 'TCP'),
  },
  {
    name: 'a policy selecting pods b in y, ingress from x',
    yaml: policy(
      'y',
      'p',
      'podSelector: { matchLabels: { pod: b } }\ningress: [{ from: [{ namespaceSelector: { matchLabels: { ns: x } } }] }]',
    ),
    expect: (f, t) => t !== 'y/b' || nsOf(f) === 'x',
  },
];
