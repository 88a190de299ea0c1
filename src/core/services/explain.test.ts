// `weft explain FROM service/...` computed from objects: table-driven cases (balance, no endpoint,
// traffic policy Local, terminating endpoints, affinity, backends, policy, hairpin) and a property:
// over random endpoint sets the traced table and the Service's endpoint rules never disagree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { EndpointSlice, NetworkPolicy, Service, ServiceSpec } from '../k8s/objects.js';
import { parseManifest } from '../k8s/parse.js';
import type { ReachPod } from '../policy/reach.js';
import { explainServiceJourney, renderServiceJourney, type JourneyInput } from './explain.js';

function service(spec: Partial<ServiceSpec> = {}): Service & { spec: { clusterIP: string } } {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'svc', namespace: 'web', labels: {}, annotations: {} },
    spec: {
      type: 'ClusterIP',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      clusterIP: '10.96.0.20',
      selector: { app: 'web' },
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }],
      ...spec,
    },
  } as Service & { spec: { clusterIP: string } };
}

type Ep = { ip: string; port: number; node: string; ready?: boolean; serving?: boolean; terminating?: boolean };
function slices(eps: Ep[]): EndpointSlice[] {
  // One slice per target port, as the controller makes them for pods whose named port differs.
  const ports = [...new Set(eps.map((e) => e.port))];
  return ports.map((port) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `svc-${port}`,
      namespace: 'web',
      labels: { 'kubernetes.io/service-name': 'svc' },
      annotations: {},
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port }],
    endpoints: eps
      .filter((e) => e.port === port)
      .map((e) => ({
        addresses: [e.ip],
        nodeName: e.node,
        conditions: {
          ready: e.ready ?? true,
          serving: e.serving ?? e.ready ?? true,
          terminating: e.terminating ?? false,
        },
      })),
  }));
}

const pod = (ns: string, name: string, ip: string, node: string, labels: Record<string, string>): ReachPod => ({
  namespace: ns,
  name,
  ip,
  node,
  labels,
  hostNetwork: false,
  ports: [],
});
const CLIENT = pod('cl', 'client', '10.244.1.9', 'n1', { app: 'client' });
const W1 = pod('web', 'w1', '10.244.1.5', 'n1', { app: 'web' });
const W2 = pod('web', 'w2', '10.244.2.5', 'n2', { app: 'web' });
const TWO: Ep[] = [
  { ip: W1.ip!, port: 8080, node: 'n1' },
  { ip: W2.ip!, port: 9090, node: 'n2' },
];

function input(over: Partial<JourneyInput> & { eps?: Ep[]; spec?: Partial<ServiceSpec> } = {}): JourneyInput {
  const svc = service(over.spec);
  const { eps, spec: _spec, ...rest } = over;
  return {
    client: CLIENT,
    service: svc,
    port: svc.spec.ports[0]!,
    services: [svc],
    slices: slices(eps ?? TWO),
    clusterCidr: '10.244.0.0/16',
    nodes: [
      { name: 'n1', internalIP: '10.99.0.1', podCIDR: '10.244.1.0/24' },
      { name: 'n2', internalIP: '10.99.0.2', podCIDR: '10.244.2.0/24' },
    ],
    backend: { type: 'vxlan', vni: 1, port: 8472, directRouting: false, underlayDevice: 'eth0' },
    pods: [CLIENT, W1, W2],
    policy: {
      namespaces: new Map([
        ['web', {}],
        ['cl', {}],
      ]),
      policies: [],
    },
    ...rest,
  };
}

const policies = (yaml: string) => parseManifest(yaml) as NetworkPolicy[];
const DENY_ALL_INGRESS = policies(
  'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: deny, namespace: web }\nspec: { podSelector: {}, policyTypes: [Ingress] }\n',
);

const cases: Array<{
  name: string;
  input: JourneyInput;
  outcome: string;
  candidates: string[];
  check?: (j: ReturnType<typeof explainServiceJourney>) => void;
}> = [
  {
    name: 'two ready endpoints on two nodes: both candidates, numgen over 2, the map and chain named',
    input: input(),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 web/w1 n1 same-node', '10.244.2.5:9090 web/w2 n2 vxlan'],
    check: (j) => {
      assert.deepEqual(
        j.steps.map((s) => `${s.chain} ${s.map ?? ''} ${s.action}`),
        [
          'filter-prerouting-pre-dnat  jump firewall-check',
          'nat-prerouting  jump services',
          'services service-ips goto cluster-2',
        ],
      );
      assert.equal(j.serviceChain, 'cluster-2');
      assert.deepEqual(j.choice, { endpoints: 2, local: false });
      assert.equal(j.key, '10.96.0.20 . tcp . 80');
      const remote = j.candidates.find((c) => c.pod === 'web/w2')!;
      assert.equal(remote.chain, 'pick-1');
      assert.equal(remote.nat, 'dnat to 10.244.2.5:9090');
      assert.equal(remote.path.kind === 'vxlan' && remote.path.route, '10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink');
      // Each numgen value leads to exactly one endpoint, and every endpoint has one.
      assert.deepEqual(j.candidates.flatMap((c) => c.numgen).sort(), [0, 1]);
      assert.ok(j.candidates.every((c) => c.numgen.length === 1));
      assert.ok(j.candidates.every((c) => c.policy.allowed === true));
    },
  },
  {
    name: 'host-gw: the route to the other node goes via its address on the underlay',
    input: input({ backend: { type: 'host-gw', vni: 1, port: 8472, directRouting: false, underlayDevice: 'eth0' } }),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 web/w1 n1 same-node', '10.244.2.5:9090 web/w2 n2 host-gw'],
    check: (j) => {
      const p = j.candidates.find((c) => c.node === 'n2')!.path;
      assert.equal(p.kind === 'host-gw' && p.route, '10.244.2.0/24 via 10.99.0.2 dev eth0');
    },
  },
  {
    name: "udp: the whole network goes into weft0, the agent's forwarder carries it to the other node",
    input: input({ backend: { type: 'udp', vni: 1, port: 8285, directRouting: false, underlayDevice: 'eth0' } }),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 web/w1 n1 same-node', '10.244.2.5:9090 web/w2 n2 udp'],
    check: (j) => {
      const p = j.candidates.find((c) => c.node === 'n2')!.path;
      assert.equal(p.kind === 'udp' && p.route, '10.244.0.0/16 dev weft0');
      assert.match(p.text, /UDP datagram \(port 8285\) to 10\.99\.0\.2/);
    },
  },
  {
    name: 'bgp: the route to the other node is the one BIRD learnt, plain IP over the underlay',
    input: input({ backend: { type: 'bgp', vni: 1, port: 179, directRouting: false, underlayDevice: 'eth0' } }),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 web/w1 n1 same-node', '10.244.2.5:9090 web/w2 n2 bgp'],
    check: (j) => {
      const p = j.candidates.find((c) => c.node === 'n2')!.path;
      assert.equal(p.kind === 'bgp' && p.route, '10.244.2.0/24 proto bird');
      assert.match(p.text, /learnt over BGP .* to 10\.99\.0\.2/);
    },
  },
  {
    name: 'no endpoint: refused at once by the endpoints check (reject)',
    input: input({ eps: [] }),
    outcome: 'rejected',
    candidates: [],
    check: (j) => {
      assert.match(j.reason!, /refused at once/);
      assert.deepEqual(
        j.steps.map((s) => `${s.hook} ${s.chain} ${s.map ?? ''}`),
        [
          'prerouting filter-prerouting-pre-dnat ',
          'prerouting nat-prerouting ',
          'prerouting services service-ips',
          'forward filter-forward ',
          'forward endpoints-check no-endpoint-services',
          'forward reject-chain ',
        ],
      );
      assert.ok(j.steps.some((s) => s.action === 'reject'));
    },
  },
  {
    name: 'only not-ready endpoints: the same as none',
    input: input({ eps: TWO.map((e) => ({ ...e, ready: false, serving: false })) }),
    outcome: 'rejected',
    candidates: [],
  },
  {
    name: 'terminating but serving endpoints serve when none is ready',
    input: input({ eps: [{ ...TWO[1]!, ready: false, serving: true, terminating: true }] }),
    outcome: 'balanced',
    candidates: ['10.244.2.5:9090 web/w2 n2 vxlan'],
    check: (j) => assert.equal(j.candidates[0]!.state, 'terminating'),
  },
  {
    name: 'a ready endpoint wins over a terminating one',
    input: input({ eps: [TWO[0]!, { ...TWO[1]!, ready: false, serving: true, terminating: true }] }),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 web/w1 n1 same-node'],
  },
  {
    name: 'internalTrafficPolicy Local: only the client node endpoints',
    input: input({ spec: { internalTrafficPolicy: 'Local' } }),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 web/w1 n1 same-node'],
    check: (j) => {
      assert.equal(j.serviceChain, 'local-1');
      assert.equal(j.choice?.local, true);
    },
  },
  {
    name: 'internalTrafficPolicy Local with no endpoint on the client node: dropped',
    input: input({ spec: { internalTrafficPolicy: 'Local' }, eps: [TWO[1]!] }),
    outcome: 'dropped',
    candidates: [],
    check: (j) => assert.match(j.reason!, /internalTrafficPolicy Local and no endpoint on n1/),
  },
  {
    name: 'session affinity: the timeout is named',
    input: input({
      spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } },
    }),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 web/w1 n1 same-node', '10.244.2.5:9090 web/w2 n2 vxlan'],
    check: (j) => assert.deepEqual(j.choice?.affinity, { timeoutSeconds: 60 }),
  },
  {
    name: 'a policy denying ingress to the backends: every candidate is denied, on its target port',
    input: input({ policy: { namespaces: new Map(), policies: DENY_ALL_INGRESS } }),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 web/w1 n1 same-node', '10.244.2.5:9090 web/w2 n2 vxlan'],
    check: (j) => {
      assert.ok(j.candidates.every((c) => c.policy.allowed === false));
      assert.match(j.candidates.find((c) => c.pod === 'web/w2')!.policy.text, /on 9090\/TCP: DENIED/);
      assert.match(j.candidates[0]!.policy.text, /isolated for Ingress by web\/deny/);
    },
  },
  {
    name: 'hairpin: the client is one of the endpoints',
    input: input({ client: W1 }),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 web/w1 n1 same-node', '10.244.2.5:9090 web/w2 n2 vxlan'],
    check: (j) =>
      assert.deepEqual(
        j.candidates.map((c) => c.hairpin),
        [true, false],
      ),
  },
  {
    name: 'a hostNetwork client: the node own traffic (output hook), masqueraded',
    input: input({ client: { ...CLIENT, name: 'host', ip: '10.99.0.1', hostNetwork: true } }),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 web/w1 n1 same-node', '10.244.2.5:9090 web/w2 n2 vxlan'],
    check: (j) => {
      assert.equal(j.hook, 'output');
      assert.equal(j.masqueraded, true);
      assert.deepEqual(
        j.steps.slice(0, 2).map((s) => s.chain),
        ['filter-output-pre-dnat', 'nat-output'],
      );
    },
  },
  {
    name: 'a pod client is not masqueraded',
    input: input(),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 web/w1 n1 same-node', '10.244.2.5:9090 web/w2 n2 vxlan'],
    check: (j) => assert.equal(j.masqueraded, undefined),
  },
  {
    name: 'an endpoint that is not a pod of the lab: the route is known, policy is not evaluated',
    input: input({ pods: [CLIENT] }),
    outcome: 'balanced',
    candidates: ['10.244.1.5:8080 - n1 same-node', '10.244.2.5:9090 - n2 vxlan'],
    check: (j) => assert.ok(j.candidates.every((c) => c.policy.allowed === undefined)),
  },
];

for (const c of cases)
  test(`explain service: ${c.name}`, () => {
    const j = explainServiceJourney(c.input);
    assert.equal(j.outcome, c.outcome);
    assert.equal(j.disagreement, undefined);
    assert.deepEqual(
      j.candidates.map((x) => `${x.address}:${x.port} ${x.pod ?? '-'} ${x.node ?? '-'} ${x.path.kind}`).sort(),
      c.candidates,
    );
    c.check?.(j);
    // The words name what the journey holds.
    const text = renderServiceJourney(j);
    assert.match(text, new RegExp(`^${j.from} -> service web/svc 10\\.96\\.0\\.20:80/TCP`));
    for (const x of j.candidates) assert.ok(text.includes(x.chain), `${x.chain} in:\n${text}`);
  });

test('explain service: a client that is not running is refused with the argument named', () => {
  const { ip: _ip, ...stopped } = CLIENT;
  assert.throws(() => explainServiceJourney(input({ client: stopped })), /^Error: FROM: pod cl\/client is not running/);
});

test('explain service: the traced table and the Service endpoint rules agree on random endpoint sets', () => {
  const ep = fc.record({
    host: fc.integer({ min: 2, max: 30 }),
    node: fc.constantFrom('n1', 'n2'),
    port: fc.constantFrom(8080, 9090),
    state: fc.constantFrom('ready', 'terminating-serving', 'terminating', 'not-ready'),
  });
  fc.assert(
    fc.property(fc.array(ep, { maxLength: 8 }), fc.boolean(), (raw, local) => {
      const seen = new Set<string>();
      const eps: Ep[] = raw
        .filter((e) => !seen.has(`${e.host}`) && seen.add(`${e.host}`))
        .map((e) => ({
          ip: `10.244.${e.node === 'n1' ? 1 : 2}.${e.host}`,
          port: e.port,
          node: e.node,
          ready: e.state === 'ready',
          serving: e.state === 'ready' || e.state === 'terminating-serving',
          terminating: e.state.startsWith('terminating'),
        }));
      const j = explainServiceJourney(input({ eps, spec: local ? { internalTrafficPolicy: 'Local' } : {} }));
      assert.equal(j.disagreement, undefined);
      const pool = local ? eps.filter((e) => e.node === 'n1') : eps;
      const ready = pool.filter((e) => e.ready);
      const want = (ready.length > 0 ? ready : pool.filter((e) => e.serving && e.terminating))
        .map((e) => `${e.ip}:${e.port}`)
        .sort();
      assert.deepEqual(j.candidates.map((c) => `${c.address}:${c.port}`).sort(), want);
      if (want.length === 0) assert.notEqual(j.outcome, 'balanced');
    }),
    { numRuns: 200 },
  );
});
