import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  dashboardMatrix,
  dashboardSnapshot,
  explainPair,
  overlayProbe,
  type DashboardInput,
  type KeptProbe,
} from './dashboard.js';
import { parseManifest } from '../k8s/parse.js';
import type { EndpointSlice, K8sObject, NetworkPolicy, Pod, Service } from '../k8s/objects.js';
import type { PolicyCluster } from '../policy/evaluate.js';

const pod = (
  ns: string,
  name: string,
  labels: string,
  node: string,
  ip: string | undefined,
  hostNetwork = false,
): Pod => {
  const [p] = parseManifest(`apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${ns}, labels: { ${labels} } }
spec:
  nodeName: ${node}
  hostNetwork: ${hostNetwork}
  containers: [{ name: c, image: weft-lab-echo, ports: [{ containerPort: 80, protocol: TCP }] }]
`) as [Pod];
  return ip === undefined ? p : { ...p, status: { phase: 'Running', podIP: ip } };
};

const objects = (text: string): K8sObject[] => parseManifest(text);

const PODS = [
  pod('x', 'a', 'app: web', 'n1', '10.244.1.2'),
  pod('x', 'b', 'app: db', 'n2', '10.244.2.2'),
  pod('x', 'pending', 'app: web', 'n2', undefined),
  pod('x', 'host', 'app: web', 'n1', '10.99.0.1', true),
  pod('y', 'a', 'app: web', 'n1', '10.244.1.3'),
  pod('kube-system', 'dns', 'app: dns', 'n1', '10.244.1.9'),
];

const POLICIES = objects(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: web-only, namespace: x }
spec:
  podSelector: { matchLabels: { app: web } }
  policyTypes: [Ingress]
  ingress: [{ from: [{ podSelector: { matchLabels: { app: web } } }] }]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny-all, namespace: y }
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
`) as NetworkPolicy[];

const SERVICE = objects(`apiVersion: v1
kind: Service
metadata: { name: web, namespace: x }
spec:
  type: NodePort
  clusterIP: 10.96.0.20
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080, nodePort: 30080, protocol: TCP }]
`) as Service[];

const SLICE: EndpointSlice = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { ...SERVICE[0]!.metadata, name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: [
    { addresses: ['10.244.2.7'], conditions: { ready: false }, nodeName: 'n2' },
    { addresses: ['10.244.1.2'], nodeName: 'n1' },
  ],
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
};

const CLUSTER: PolicyCluster = {
  namespaces: new Map([
    ['x', {}],
    ['y', {}],
  ]),
  policies: POLICIES,
};

const INPUT: DashboardInput = {
  lab: { name: 'lab', backend: 'vxlan', network: '10.244.0.0/16', segments: ['10.99.0.0/24'] },
  revision: 7,
  nodes: [
    { name: 'n2', internalIP: '10.99.0.2', ready: false, message: 'no lease', heartbeat: '' },
    { name: 'n1', internalIP: '10.99.0.1', podCIDR: '10.244.1.0/24', backend: 'vxlan', ready: true, heartbeat: '' },
  ],
  pods: PODS,
  services: SERVICE,
  slices: [SLICE],
  cluster: CLUSTER,
};

test('snapshot: nodes by name with subnet, backend and health; the heartbeat left out', () => {
  assert.deepEqual(dashboardSnapshot(INPUT).nodes, [
    { name: 'n1', internalIP: '10.99.0.1', podCIDR: '10.244.1.0/24', backend: 'vxlan', ready: true },
    { name: 'n2', internalIP: '10.99.0.2', ready: false, message: 'no lease' },
  ]);
});

test('snapshot: pods by namespace/name with node, address and phase (Pending until a node reports)', () => {
  const pods = dashboardSnapshot(INPUT).pods;
  assert.deepEqual(
    pods.map((p) => `${p.namespace}/${p.name} ${p.node} ${p.ip ?? '-'} ${p.phase}`),
    [
      'kube-system/dns n1 10.244.1.9 Running',
      'x/a n1 10.244.1.2 Running',
      'x/b n2 10.244.2.2 Running',
      'x/host n1 10.99.0.1 Running',
      'x/pending n2 - Pending',
      'y/a n1 10.244.1.3 Running',
    ],
  );
});

const selectCases: Array<[string, string, string[]]> = [
  [
    'a pod selector selects the labelled pods of its namespace, not hostNetwork ones, not other namespaces',
    'x/web-only',
    ['x/a', 'x/pending'],
  ],
  ['an empty selector selects every pod of its namespace', 'y/deny-all', ['y/a']],
];
for (const [name, policy, want] of selectCases)
  test(`snapshot policies: ${name}`, () => {
    const p = dashboardSnapshot(INPUT).policies.find((q) => `${q.namespace}/${q.name}` === policy)!;
    assert.deepEqual(p.selects, want);
  });

test('snapshot policies: types and rule counts as written', () => {
  assert.deepEqual(
    dashboardSnapshot(INPUT).policies.map((p) => [p.name, p.policyTypes, p.ingressRules, p.egressRules]),
    [
      ['web-only', ['Ingress'], 1, 0],
      ['deny-all', ['Ingress', 'Egress'], 0, 0],
    ],
  );
});

test('snapshot services: VIP, ports with the NodePort, endpoints ready (absent = ready) or not, with their pods', () => {
  assert.deepEqual(dashboardSnapshot(INPUT).services, [
    {
      namespace: 'x',
      name: 'web',
      type: 'NodePort',
      clusterIP: '10.96.0.20',
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 30080 }],
      endpoints: [
        { address: '10.244.1.2', pod: 'x/a', node: 'n1', ready: true },
        { address: '10.244.2.7', node: 'n2', ready: false },
      ],
    },
  ]);
});

test('property: the snapshot does not depend on the order the store lists things in', () => {
  const want = JSON.stringify(dashboardSnapshot(INPUT));
  fc.assert(
    fc.property(
      fc.shuffledSubarray(PODS, { minLength: PODS.length }),
      fc.shuffledSubarray([...INPUT.nodes], { minLength: 2 }),
      fc.shuffledSubarray(POLICIES, { minLength: 2 }),
      (pods, nodes, policies) =>
        JSON.stringify(dashboardSnapshot({ ...INPUT, pods, nodes, cluster: { ...CLUSTER, policies } })) === want,
    ),
  );
});

test("matrix: weft reach -A's pods (kube-system left out), row-major, verdicts from the policies", () => {
  const m = dashboardMatrix(CLUSTER, PODS, 80, 'TCP');
  assert.deepEqual(m.pods, ['x/a', 'x/b', 'x/host', 'x/pending', 'y/a']);
  assert.equal(m.results.length, 25);
  const allowed = (from: string, to: string) => m.results.find((r) => r.from === from && r.to === to)!.allowed;
  assert.equal(allowed('x/b', 'x/a'), false, 'x/a admits only app=web');
  assert.equal(allowed('y/a', 'x/a'), false, 'y/a may not send at all');
  assert.equal(allowed('x/a', 'x/b'), true, 'x/b is not isolated');
  assert.equal(allowed('x/a', 'x/pending'), false, 'a pod with no address is not reachable');
  assert.equal(allowed('x/a', 'x/a'), true, 'a pod reaches itself');
});

test('matrix: the namespaces asked for only', () => {
  assert.deepEqual(dashboardMatrix(CLUSTER, PODS, 80, 'TCP', ['kube-system']).pods, ['kube-system/dns']);
});

test('explain: a denied pair names the policy that isolates the destination', () => {
  const e = explainPair(CLUSTER, PODS, 'x/b', 'x/a', 80, 'TCP');
  assert.equal(e.allowed, false);
  assert.match(e.text, /^x\/b -> x\/a on 80\/TCP: DENIED/);
  assert.match(e.text, /x\/web-only/);
});

test('explain: a pod without an address gets the fixed reason', () => {
  const e = explainPair(CLUSTER, PODS, 'x/a', 'x/pending', 80, 'TCP');
  assert.deepEqual(e, {
    allowed: false,
    text: 'x/a -> x/pending on 80/TCP: DENIED\n  x/pending has no address (it is not Running)\n',
  });
});

for (const [from, to, want] of [
  ['x/nope', 'x/a', 'from: pod "x/nope" not found'],
  ['x/a', 'nope', 'to: pod "nope" not found'],
] as const)
  test(`explain: an unknown pod is an error naming the argument (${from} -> ${to})`, () => {
    assert.throws(() => explainPair(CLUSTER, PODS, from, to, 80, 'TCP'), { message: want });
  });

test("snapshot: a node's processes and its failing controllers, with why", () => {
  const health = new Map([
    [
      'n1',
      {
        agent: true,
        runner: false,
        controllers: [
          { name: 'subnet', ready: true, state: 'ready' },
          { name: 'policy', ready: false, state: 'failing', lastError: 'nft: table busy' },
        ],
      },
    ],
  ]);
  const nodes = dashboardSnapshot({ ...INPUT, health }).nodes;
  assert.deepEqual(
    nodes.map((n) => [n.name, n.agent, n.runner, n.failing]),
    [
      ['n1', true, false, ['policy failing (nft: table busy)']],
      ['n2', undefined, undefined, undefined],
    ],
  );
});

/** A kept probe of x/a, x/b and y/a on 80/TCP: what `connected` says, every other pair not connected. */
const probeOf = (connected: string[], port = 80): KeptProbe => {
  const pods = ['x/a', 'x/b', 'y/a'];
  return {
    time: 1_000,
    revision: 7,
    port,
    protocol: 'TCP',
    pods,
    results: pods.flatMap((from) => pods.map((to) => ({ from, to, connected: connected.includes(`${from} ${to}`) }))),
  };
};

test('overlay: each pair the probe covered gets what it measured and whether the model agrees', () => {
  const m = dashboardMatrix(CLUSTER, PODS, 80, 'TCP');
  // The model: x/a admits app=web only (x/a, not x/b); y/a sends nothing; x/b admits everyone.
  const agreeing = probeOf(['x/a x/a', 'x/a x/b', 'x/b x/b', 'y/a y/a']);
  const o = overlayProbe(m, agreeing, PODS);
  assert.deepEqual(o.disagreements, []);
  assert.deepEqual(o.probe, { time: 1_000, revision: 7, pods: 3 });
  const cell = (from: string, to: string) => o.results.find((r) => r.from === from && r.to === to)!;
  const cases: Array<[string, string, string, Partial<ReturnType<typeof cell>>]> = [
    ['allowed and connected', 'x/a', 'x/b', { allowed: true, connected: true, agrees: true }],
    ['denied and not connected', 'x/b', 'x/a', { allowed: false, connected: false, agrees: true }],
    ['a pair the probe did not cover has no probe value', 'x/a', 'x/pending', { allowed: false }],
  ];
  for (const [name, from, to, want] of cases) assert.deepEqual(cell(from, to), { from, to, ...want }, name);
  assert.deepEqual(o.pods, m.pods, 'the matrix is the model');
  assert.deepEqual(
    o.results.map((r) => r.allowed),
    m.results.map((r) => r.allowed),
  );
});

test('overlay: a disagreement is marked on the cell and listed, both ways', () => {
  const m = dashboardMatrix(CLUSTER, PODS, 80, 'TCP');
  // x/b -> x/a connected although denied; x/a -> x/b not connected although allowed.
  const o = overlayProbe(m, probeOf(['x/a x/a', 'x/b x/a', 'x/b x/b', 'y/a y/a']), PODS);
  assert.deepEqual(o.disagreements, [
    'x/a -> x/b: weft reach says allowed, weft probe did not connect',
    'x/b -> x/a: weft reach says denied, weft probe connected',
  ]);
  const bad = o.results.filter((r) => r.agrees === false).map((r) => `${r.from} ${r.to}`);
  assert.deepEqual(bad, ['x/a x/b', 'x/b x/a']);
});

test('overlay: a pod that declares no such port is named as the likely cause', () => {
  const m = dashboardMatrix(CLUSTER, PODS, 8080, 'TCP');
  const o = overlayProbe(m, probeOf(['x/a x/a'], 8080), PODS);
  const cell = o.results.find((r) => r.from === 'x/a' && r.to === 'x/b')!;
  assert.equal(cell.agrees, false);
  assert.equal(cell.hint, 'x/b declares no container port 8080/TCP');
});

test('overlay: no probe, or one of another port, leaves the matrix bare', () => {
  const m = dashboardMatrix(CLUSTER, PODS, 80, 'TCP');
  for (const probe of [undefined, probeOf(['x/a x/b'], 81)]) {
    const o = overlayProbe(m, probe, PODS);
    assert.equal(o.probe, undefined);
    assert.deepEqual(o.disagreements, []);
    assert.ok(o.results.every((r) => r.connected === undefined && r.agrees === undefined));
  }
});
