import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { EndpointSlice, Service, ServiceSpec } from '../k8s/objects.js';
import { tracePacket, type TracePacket } from '../nft/trace.js';
import { planFullRebuild, planSync } from '../nft/sync.js';
import type { ChainDef, TableDef } from '../nft/model.js';
import { normalizeTable } from '../../testkit/nft-contract.js';
import { NftFake } from '../../testkit/nft-fake.js';
import { MASQUERADE_MARK, SERVICES_OBJECTS as O, SERVICES_TABLE } from '../names.js';
import { servicesTable, ServicesPlanner, usableEndpoints, endpointsOf, type ServicesInput } from './service-table.js';

const meta = (name: string, labels: Record<string, string> = {}) => ({
  name,
  namespace: 'default',
  labels,
  annotations: {},
});
function service(name: string, spec: Partial<ServiceSpec>): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(name),
    spec: {
      type: 'ClusterIP',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }],
      ...spec,
    },
  };
}
type Ep = { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean };
function slice(svc: string, eps: Ep[], port = 8080, portName = 'http', protocol: 'TCP' | 'UDP' = 'TCP'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: meta(`${svc}-${port}`, { 'kubernetes.io/service-name': svc }),
    addressType: 'IPv4',
    ports: [{ name: portName, protocol, port }],
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      ...(e.node ? { nodeName: e.node } : {}),
      conditions: {
        ready: e.ready ?? true,
        serving: e.serving ?? e.ready ?? true,
        terminating: e.terminating ?? false,
      },
    })),
  };
}
const input = (services: Service[], slices: EndpointSlice[], node = 'n1'): ServicesInput => ({
  node,
  clusterCidr: '10.244.0.0/16',
  services,
  slices,
});
const NODE_IP = '10.99.0.1';
const tcp = (saddr: string, daddr: string, dport: number, more: Partial<TracePacket> = {}): TracePacket => ({
  family: 4,
  saddr,
  daddr,
  protocol: 'tcp',
  sport: 40000,
  dport,
  localAddresses: [NODE_IP, '10.244.1.1'],
  ...more,
});

test('ClusterIP: every ready endpoint is one numgen value away, a not-ready one never', () => {
  const t = servicesTable(
    input(
      [service('web', { clusterIP: '10.96.0.20' })],
      [
        slice('web', [
          { ip: '10.244.1.5' },
          { ip: '10.244.2.5' },
          { ip: '10.244.3.5' },
          { ip: '10.244.3.6', ready: false },
        ]),
      ],
    ),
  );
  const seen = new Set<string>();
  for (let n = 0; n < 12; n++) {
    const r = tracePacket([t], 'prerouting', tcp('10.244.1.9', '10.96.0.20', 80, { numgen: n }));
    assert.equal(r.verdict, 'accept');
    assert.equal(r.nat.length, 1);
    seen.add(r.nat[0]!);
    assert.equal(r.packet.mark ?? 0, 0, 'a pod client keeps its address');
  }
  assert.deepEqual([...seen].sort(), ['dnat to 10.244.1.5:8080', 'dnat to 10.244.2.5:8080', 'dnat to 10.244.3.5:8080']);
});

test('ClusterIP from the node itself (outside the pod network) is marked and masqueraded', () => {
  const t = servicesTable(input([service('web', { clusterIP: '10.96.0.20' })], [slice('web', [{ ip: '10.244.2.5' }])]));
  const out = tracePacket([t], 'output', tcp(NODE_IP, '10.96.0.20', 80));
  assert.deepEqual(out.nat, ['dnat to 10.244.2.5:8080']);
  assert.equal(out.packet.mark, MASQUERADE_MARK);
  const post = tracePacket([t], 'postrouting', out.packet);
  assert.deepEqual(post.nat, ['masquerade']);
  assert.equal(post.packet.mark, 0, 'the mark is cleared, so nothing masquerades twice');
  const unmarked = tracePacket([t], 'postrouting', tcp('10.244.1.9', '10.244.2.5', 8080));
  assert.deepEqual(unmarked.nat, []);
});

test('no endpoint: the VIP and the node port are refused (reject), not left to time out', () => {
  const t = servicesTable(
    input(
      [
        service('web', {
          type: 'NodePort',
          clusterIP: '10.96.0.20',
          externalTrafficPolicy: 'Cluster',
          ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
        }),
      ],
      [],
    ),
  );
  assert.deepEqual(tracePacket([t], 'prerouting', tcp('10.244.1.9', '10.96.0.20', 80)).nat, []);
  assert.equal(tracePacket([t], 'forward', tcp('10.244.1.9', '10.96.0.20', 80)).verdict, 'reject');
  assert.equal(tracePacket([t], 'output', tcp(NODE_IP, '10.96.0.20', 80)).verdict, 'reject');
  assert.equal(tracePacket([t], 'input', tcp('10.99.0.250', NODE_IP, 30080)).verdict, 'reject');
  // Replies and other traffic pass: only new connections are checked.
  assert.equal(
    tracePacket([t], 'forward', tcp('10.244.1.9', '10.96.0.20', 80, { ctState: 'established' })).verdict,
    'accept',
  );
  assert.equal(tracePacket([t], 'input', tcp('10.99.0.250', NODE_IP, 22)).verdict, 'accept');
});

test('a port the Service does not have is refused; its DNATed traffic is not', () => {
  const t = servicesTable(input([service('web', { clusterIP: '10.96.0.20' })], [slice('web', [{ ip: '10.244.2.5' }])]));
  assert.equal(tracePacket([t], 'forward', tcp('10.244.1.9', '10.96.0.20', 81)).verdict, 'reject');
  assert.equal(tracePacket([t], 'forward', tcp('10.244.1.9', '10.244.2.5', 8080)).verdict, 'accept');
});

test('terminating-but-serving endpoints serve only when no endpoint is ready', () => {
  const both = [{ ip: '10.244.1.5', ready: false, serving: true, terminating: true }, { ip: '10.244.2.5' }];
  const svc = service('web', { clusterIP: '10.96.0.20' });
  const eps = (s: EndpointSlice[]) => usableEndpoints(endpointsOf(svc, svc.spec.ports[0]!, s)).map((e) => e.ip);
  assert.deepEqual(eps([slice('web', both)]), ['10.244.2.5']);
  assert.deepEqual(eps([slice('web', [both[0]!])]), ['10.244.1.5']);
  assert.deepEqual(eps([slice('web', [{ ip: '10.244.1.5', ready: false, serving: false, terminating: true }])]), []);
});

test('named ports: a slice whose port name or protocol differs is not this Service port', () => {
  const svc = service('web', { clusterIP: '10.96.0.20' });
  const port = svc.spec.ports[0]!;
  assert.deepEqual(endpointsOf(svc, port, [slice('web', [{ ip: '10.244.1.5' }], 8080, 'metrics')]), []);
  assert.deepEqual(endpointsOf(svc, port, [slice('web', [{ ip: '10.244.1.5' }], 8080, 'http', 'UDP')]), []);
  assert.deepEqual(endpointsOf(svc, port, [slice('other', [{ ip: '10.244.1.5' }])]), []);
});

const nodePortService = (etp: 'Cluster' | 'Local') =>
  service('web', {
    type: 'NodePort',
    clusterIP: '10.96.0.20',
    externalTrafficPolicy: etp,
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http', nodePort: 30080 }],
  });

test('NodePort (Cluster): any node address, any endpoint, the outside client masqueraded', () => {
  const t = servicesTable(input([nodePortService('Cluster')], [slice('web', [{ ip: '10.244.2.5', node: 'n2' }])]));
  const r = tracePacket([t], 'prerouting', tcp('10.99.0.250', NODE_IP, 30080));
  assert.deepEqual(r.nat, ['dnat to 10.244.2.5:8080']);
  assert.equal(r.packet.mark, MASQUERADE_MARK);
  // Not a node address: no node port.
  assert.deepEqual(tracePacket([t], 'prerouting', tcp('10.99.0.250', '10.99.0.7', 30080)).nat, []);
  // Loopback is not a node port (kube-proxy's nftables mode does not serve 127.0.0.1).
  assert.deepEqual(
    tracePacket([t], 'output', tcp('127.0.0.1', '127.0.0.1', 30080, { localAddresses: ['127.0.0.1'] })).nat,
    [],
  );
});

test('NodePort (Local): the client address is kept where an endpoint is local, dropped where none is', () => {
  const slices = [slice('web', [{ ip: '10.244.1.5', node: 'n1' }])];
  const here = servicesTable(input([nodePortService('Local')], slices, 'n1'));
  const r = tracePacket([here], 'prerouting', tcp('10.99.0.250', NODE_IP, 30080));
  assert.deepEqual(r.nat, ['dnat to 10.244.1.5:8080']);
  assert.equal(r.packet.mark ?? 0, 0, 'no masquerade: the pod sees the client');
  const there = servicesTable(input([nodePortService('Local')], slices, 'n2'));
  assert.equal(tracePacket([there], 'prerouting', tcp('10.99.0.250', NODE_IP, 30080)).verdict, 'drop');
  // A pod of the cluster reaching the node port gets the cluster-wide endpoints.
  assert.deepEqual(tracePacket([there], 'prerouting', tcp('10.244.2.9', NODE_IP, 30080)).nat, [
    'dnat to 10.244.1.5:8080',
  ]);
});

test('internalTrafficPolicy Local: pods reach only endpoints of their node; none there drops', () => {
  const svc = service('web', { clusterIP: '10.96.0.20', internalTrafficPolicy: 'Local' });
  const slices = [
    slice('web', [
      { ip: '10.244.1.5', node: 'n1' },
      { ip: '10.244.2.5', node: 'n2' },
    ]),
  ];
  const n1 = servicesTable(input([svc], slices, 'n1'));
  for (let n = 0; n < 4; n++)
    assert.deepEqual(tracePacket([n1], 'prerouting', tcp('10.244.1.9', '10.96.0.20', 80, { numgen: n })).nat, [
      'dnat to 10.244.1.5:8080',
    ]);
  const n3 = servicesTable(input([svc], slices, 'n3'));
  assert.equal(tracePacket([n3], 'prerouting', tcp('10.244.3.9', '10.96.0.20', 80)).verdict, 'accept');
  assert.equal(tracePacket([n3], 'forward', tcp('10.244.3.9', '10.96.0.20', 80)).verdict, 'drop');
});

test('hairpin: an endpoint reaching its own Service is marked for masquerade, another client is not', () => {
  const t = servicesTable(
    input([service('web', { clusterIP: '10.96.0.20' })], [slice('web', [{ ip: '10.244.1.5' }, { ip: '10.244.2.5' }])]),
  );
  const self = tracePacket([t], 'prerouting', tcp('10.244.1.5', '10.96.0.20', 80, { numgen: 0 }));
  assert.deepEqual(self.nat, ['dnat to 10.244.1.5:8080']);
  assert.equal(self.packet.mark, MASQUERADE_MARK);
  // The same pod sent to the other endpoint keeps its address (policy sees the client).
  const other = tracePacket([t], 'prerouting', tcp('10.244.1.5', '10.96.0.20', 80, { numgen: 1 }));
  assert.deepEqual(other.nat, ['dnat to 10.244.2.5:8080']);
  assert.equal(other.packet.mark ?? 0, 0);
});

test('sessionAffinity ClientIP: a timeout set per endpoint, updated on the way in, looked up first', () => {
  const svc = service('web', {
    clusterIP: '10.96.0.20',
    sessionAffinity: 'ClientIP',
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
  });
  const t = servicesTable(input([svc], [slice('web', [{ ip: '10.244.1.5' }, { ip: '10.244.2.5' }])]));
  const aff = t.sets.filter((s) => s.name.startsWith('aff/'));
  assert.deepEqual(
    aff.map((s) => [s.name, s.timeout, s.flags]),
    [
      ['aff/default/web/tcp/80/10.244.1.5/8080', 60, ['dynamic', 'timeout']],
      ['aff/default/web/tcp/80/10.244.2.5/8080', 60, ['dynamic', 'timeout']],
    ],
  );
  const r = tracePacket([t], 'prerouting', tcp('10.244.1.9', '10.96.0.20', 80, { numgen: 1 }));
  assert.deepEqual(r.nat, ['dnat to 10.244.2.5:8080']);
  assert.ok(r.steps.some((s) => s.action === 'update @aff/default/web/tcp/80/10.244.2.5/8080'));
});

test('LoadBalancer ingress addresses lead to the external chain; headless and ExternalName Services get nothing', () => {
  const lb: Service = {
    ...service('lb', {
      type: 'LoadBalancer',
      clusterIP: '10.96.0.21',
      externalTrafficPolicy: 'Cluster',
      ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30081 }],
    }),
    status: { loadBalancer: { ingress: [{ ip: '10.99.0.240' }] } },
  };
  const t = servicesTable(
    input(
      [
        lb,
        service('h', { clusterIP: 'None' }),
        service('x', { type: 'ExternalName', externalName: 'db.example.com', ports: [] }),
      ],
      [{ ...slice('lb', [{ ip: '10.244.2.5' }], 8080, ''), ports: [{ protocol: 'TCP', port: 8080 }] }],
    ),
  );
  const r = tracePacket([t], 'prerouting', tcp('10.99.0.250', '10.99.0.240', 80));
  assert.deepEqual(r.nat, ['dnat to 10.244.2.5:8080']);
  assert.equal(r.packet.mark, MASQUERADE_MARK);
  assert.deepEqual(
    t.sets.find((s) => s.name === O.clusterIps)?.elements.map((e) => e.key[0]),
    ['10.96.0.21'],
  );
});

const lbService = (more: Partial<ServiceSpec> = {}, ingress = '10.99.0.224'): Service => ({
  ...service('lb', {
    type: 'LoadBalancer',
    clusterIP: '10.96.0.21',
    externalTrafficPolicy: 'Cluster',
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http', nodePort: 30081 }],
    ...more,
  }),
  status: { loadBalancer: { ingress: [{ ip: ingress }] } },
});

test('externalIPs: EXTERNAL_IP:port goes like LB traffic (Cluster masquerades, Local keeps the client)', () => {
  const slices = [slice('web', [{ ip: '10.244.1.5', node: 'n1' }])];
  const cluster = servicesTable(
    input(
      [service('web', { clusterIP: '10.96.0.20', externalIPs: ['10.99.0.2'], externalTrafficPolicy: 'Cluster' })],
      slices,
    ),
  );
  const r = tracePacket([cluster], 'prerouting', tcp('10.99.0.250', '10.99.0.2', 80));
  assert.deepEqual(r.nat, ['dnat to 10.244.1.5:8080']);
  assert.equal(r.packet.mark, MASQUERADE_MARK);
  assert.deepEqual(tracePacket([cluster], 'prerouting', tcp('10.99.0.250', '10.99.0.2', 81)).nat, [], 'another port');
  const local = servicesTable(
    input(
      [service('web', { clusterIP: '10.96.0.20', externalIPs: ['10.99.0.2'], externalTrafficPolicy: 'Local' })],
      slices,
    ),
  );
  const l = tracePacket([local], 'prerouting', tcp('10.99.0.250', '10.99.0.2', 80));
  assert.deepEqual(l.nat, ['dnat to 10.244.1.5:8080']);
  assert.equal(l.packet.mark ?? 0, 0, 'Local: the pod sees the client');
  const elsewhere = servicesTable(
    input(
      [service('web', { clusterIP: '10.96.0.20', externalIPs: ['10.99.0.2'], externalTrafficPolicy: 'Local' })],
      slices,
      'n2',
    ),
  );
  assert.equal(tracePacket([elsewhere], 'prerouting', tcp('10.99.0.250', '10.99.0.2', 80)).verdict, 'drop');
  // No endpoint: refused where the packet is delivered (an external IP that is a node address reaches input).
  const none = servicesTable(input([service('web', { clusterIP: '10.96.0.20', externalIPs: ['10.99.0.2'] })], []));
  assert.equal(
    tracePacket([none], 'input', tcp('10.99.0.250', '10.99.0.2', 80, { localAddresses: ['10.99.0.2'] })).verdict,
    'reject',
  );
});

test('externalIPs two Services claim, or that equal a ClusterIP, are in the map once (the ClusterIP, else the first by name)', () => {
  const t = servicesTable(
    input(
      [
        service('b', { clusterIP: '10.96.0.21', externalIPs: ['192.0.2.9', '10.96.0.20'] }),
        service('a', { clusterIP: '10.96.0.20', externalIPs: ['192.0.2.9'] }),
      ],
      [slice('a', [{ ip: '10.244.1.5' }]), slice('b', [{ ip: '10.244.2.5' }])],
    ),
  );
  // Every map holds a key once: the endpoint maps follow the claims of service-ips.
  for (const set of t.sets) {
    const keys = set.elements.map((e) => e.key.join(' '));
    assert.equal(new Set(keys).size, keys.length, `${set.name}: ${keys.join(', ')}`);
  }
  assert.deepEqual(tracePacket([t], 'prerouting', tcp('10.99.0.250', '192.0.2.9', 80)).nat, [
    'dnat to 10.244.1.5:8080',
  ]);
  assert.deepEqual(tracePacket([t], 'prerouting', tcp('10.244.3.9', '10.96.0.20', 80)).nat, [
    'dnat to 10.244.1.5:8080',
  ]);
});

test('loadBalancerSourceRanges: the LB address from outside the ranges is dropped before DNAT; node ports and external IPs are not guarded', () => {
  const svc = lbService({
    loadBalancerSourceRanges: [' 10.99.0.250/32', '10.98.0.0/16', '10.98.1.0/24'],
    externalIPs: ['10.99.0.3'],
  });
  const t = servicesTable(input([svc], [slice('lb', [{ ip: '10.244.2.5' }])]));
  const admitted = tracePacket([t], 'prerouting', tcp('10.99.0.250', '10.99.0.224', 80));
  assert.equal(admitted.verdict, 'accept');
  assert.deepEqual(admitted.nat, ['dnat to 10.244.2.5:8080']);
  assert.equal(tracePacket([t], 'prerouting', tcp('10.98.7.7', '10.99.0.224', 80)).verdict, 'accept');
  const blocked = tracePacket([t], 'prerouting', tcp('10.99.0.249', '10.99.0.224', 80));
  assert.equal(blocked.verdict, 'drop');
  assert.deepEqual(blocked.nat, [], 'dropped before DNAT');
  assert.equal(blocked.decidedBy?.chain, 'fw/default/lb');
  assert.equal(tracePacket([t], 'output', tcp(NODE_IP, '10.99.0.224', 80)).verdict, 'drop', "the node's own too");
  assert.deepEqual(tracePacket([t], 'prerouting', tcp('10.99.0.249', NODE_IP, 30081)).nat, ['dnat to 10.244.2.5:8080']);
  assert.deepEqual(tracePacket([t], 'prerouting', tcp('10.99.0.249', '10.99.0.3', 80)).nat, [
    'dnat to 10.244.2.5:8080',
  ]);
  // Replies and established connections are never checked.
  assert.equal(
    tracePacket([t], 'prerouting', tcp('10.99.0.249', '10.99.0.224', 80, { ctState: 'established' })).verdict,
    'accept',
  );
  // The nested range is folded into its container (nft refuses overlapping intervals).
  const fw = t.chains.find((c) => c.name === 'fw/default/lb')!;
  assert.deepEqual(fw.rules[0]!.exprs[0], {
    kind: 'match',
    left: ['ip saddr'],
    op: '!=',
    right: {
      anon: [[{ prefix: { addr: '10.98.0.0', len: 16 } }], [{ prefix: { addr: '10.99.0.250', len: 32 } }]],
    },
  });
  // Without ranges: no firewall at all.
  const open = servicesTable(input([lbService()], [slice('lb', [{ ip: '10.244.2.5' }])]));
  assert.equal(tracePacket([open], 'prerouting', tcp('10.99.0.249', '10.99.0.224', 80)).verdict, 'accept');
  assert.deepEqual(open.sets.find((x) => x.name === O.firewallIps)?.elements, []);
});

test('LoadBalancer with external IPs and source ranges loads into the fake kernel', async () => {
  const t = servicesTable(
    input(
      [
        lbService({ loadBalancerSourceRanges: ['10.99.0.250/32'], externalIPs: ['10.99.0.3', '10.99.0.224'] }),
        service('web', { clusterIP: '10.96.0.20', externalIPs: ['10.99.0.3'] }),
      ],
      [slice('lb', [{ ip: '10.244.2.5' }])],
    ),
  );
  await new NftFake().apply(planFullRebuild(t), 'services');
});

// ---- the whole table against the fake kernel, and its invariants -----------------------------

const arbEndpoint = fc.record({
  ip: fc.integer({ min: 1, max: 3 }).chain((n) => fc.integer({ min: 2, max: 9 }).map((h) => `10.244.${n}.${h}`)),
  node: fc.constantFrom('n1', 'n2', 'n3'),
  ready: fc.boolean(),
  serving: fc.boolean(),
  terminating: fc.boolean(),
});
const arbService = fc.record({
  type: fc.constantFrom('ClusterIP' as const, 'NodePort' as const),
  affinity: fc.boolean(),
  itp: fc.constantFrom('Cluster' as const, 'Local' as const),
  etp: fc.constantFrom('Cluster' as const, 'Local' as const),
  eps: fc.uniqueArray(arbEndpoint, { maxLength: 5, selector: (e) => e.ip }),
});

test('property: the table loads into the fake kernel, and every Service port is either balanced or refused', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(arbService, { maxLength: 6 }), async (specs) => {
      const { services, slices } = cluster(specs);
      const t = servicesTable(input(services, slices));
      const fake = new NftFake();
      await fake.apply(planFullRebuild(t), 'services');
      const balanced = new Set(t.sets.find((x) => x.name === O.serviceIps)!.elements.map((e) => String(e.key[0])));
      const refused = new Set(
        t.sets.find((x) => x.name === O.noEndpointServices)!.elements.map((e) => String(e.key[0])),
      );
      services.forEach((svc, i) => {
        const vip = svc.spec.clusterIP!;
        assert.notEqual(balanced.has(vip), refused.has(vip), `${vip}: exactly one of balanced or refused`);
        const r = tracePacket([t], 'prerouting', tcp('10.244.1.99', vip, 80, { numgen: i }));
        if (balanced.has(vip)) {
          assert.equal(r.nat.length, 1);
          const ep = r.nat[0]!.replace('dnat to ', '').replace(':8080', '');
          const e = slices[i]!.endpoints.find((x) => x.addresses[0] === ep)!;
          const anyReady = slices[i]!.endpoints.some(
            (x) => x.conditions?.ready && (svc.spec.internalTrafficPolicy !== 'Local' || x.nodeName === 'n1'),
          );
          assert.ok(
            e.conditions?.ready || (!anyReady && e.conditions?.serving && e.conditions.terminating),
            `${ep} may serve`,
          );
          if (svc.spec.internalTrafficPolicy === 'Local') assert.equal(e.nodeName, 'n1');
        } else assert.deepEqual(r.nat, []);
      });
    }),
    { numRuns: 150 },
  );
});

type ArbService = typeof arbService extends fc.Arbitrary<infer T> ? T : never;

/** Services s0, s1, ... and their slices from generated specs. */
function cluster(specs: readonly ArbService[]): { services: Service[]; slices: EndpointSlice[] } {
  const services = specs.map((s, i) =>
    service(`s${i}`, {
      type: s.type,
      clusterIP: `10.96.0.${20 + i}`,
      internalTrafficPolicy: s.itp,
      ...(s.type === 'NodePort' ? { externalTrafficPolicy: s.etp } : {}),
      ...(s.affinity
        ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } }
        : {}),
      ports: [
        {
          name: 'http',
          protocol: 'TCP',
          port: 80,
          targetPort: 'http',
          ...(s.type === 'NodePort' ? { nodePort: 30000 + i } : {}),
        },
      ],
    }),
  );
  return { services, slices: specs.map((s, i) => slice(`s${i}`, s.eps)) };
}

test('property: the planner with memory plans what servicesTable plans, and its diffs reach that table', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(arbService, { maxLength: 5 }), { minLength: 2, maxLength: 4 }),
      async (steps) => {
        const planner = new ServicesPlanner();
        const fake = new NftFake();
        let last: TableDef | undefined;
        // As the agent's cache does: an object unchanged since the last step is the same object.
        let prior = new Map<string, Service | EndpointSlice>();
        for (const specs of steps) {
          const c = cluster(specs);
          const now = new Map<string, Service | EndpointSlice>();
          const reused = new Set<Service | EndpointSlice>();
          const keep = <T extends Service | EndpointSlice>(o: T): T => {
            const k = `${o.kind} ${o.metadata.name}`;
            const p = prior.get(k);
            const same = p !== undefined && JSON.stringify(p) === JSON.stringify(o) ? (p as T) : o;
            now.set(k, same);
            if (same === p) reused.add(same);
            return same;
          };
          const step = input(c.services.map(keep), c.slices.map(keep));
          prior = now;
          const t = planner.plan(step);
          assert.deepEqual(t, servicesTable(step));
          if (last) {
            // A Service whose object and slice are the same objects as last time keeps its chains.
            const unchanged = step.services.filter((svc, i) => reused.has(svc) && reused.has(step.slices[i]!));
            for (const svc of unchanged) {
              const name = `svc/default/${svc.metadata.name}/tcp/80`;
              const before: ChainDef | undefined = last.chains.find((x) => x.name === name);
              if (before)
                assert.equal(
                  t.chains.find((x) => x.name === name),
                  before,
                  `${name} kept`,
                );
            }
          }
          await fake.apply(planSync(t, last).tx, 'services');
          assert.deepEqual(normalizeTable(fake.table('ip', SERVICES_TABLE)!), normalizeTable(t));
          last = t;
        }
      },
    ),
    { numRuns: 100 },
  );
});

test('shared balancing: the chains do not grow with Services, and an endpoint change edits elements only', () => {
  const ten = (i: number, moved = false) =>
    slice(
      `s${i}`,
      Array.from({ length: 10 }, (_, j) => ({ ip: `10.244.${i}.${j === 0 && moved ? 200 : j + 10}` })),
    );
  const many = (n: number) => Array.from({ length: n }, (_, i) => service(`s${i}`, { clusterIP: `10.96.1.${i}` }));
  const small = servicesTable(input(many(1), [ten(0)]));
  const planner = new ServicesPlanner();
  const services = many(200);
  const slices = services.map((_, i) => ten(i));
  const big = planner.plan(input(services, slices));
  assert.deepEqual(
    big.chains.map((c) => c.name),
    small.chains.map((c) => c.name),
    '200 Services of 10 endpoints have the chains of one',
  );
  const after = planner.plan(
    input(
      services,
      slices.map((s, i) => (i === 7 ? ten(7, true) : s)),
    ),
  );
  const ops = planSync(after, big).tx.ops;
  assert.ok(ops.length > 0);
  for (const op of ops) assert.equal(op.object.kind, 'element', `${op.verb} ${op.object.kind}: not an element edit`);
  // Every numgen value of the changed Service leads to one of its new endpoints, the moved one included.
  const reached = new Set(
    Array.from(
      { length: 10 },
      (_, n) => tracePacket([after], 'prerouting', tcp('10.244.9.9', '10.96.1.7', 80, { numgen: n })).nat[0],
    ),
  );
  assert.equal(reached.size, 10);
  assert.ok(reached.has('dnat to 10.244.7.200:8080'));
  assert.ok(!reached.has('dnat to 10.244.7.10:8080'));
});

// ---- the incremental planner: planChanged reaches the table servicesTable plans ----------------

const arbChangingService = fc.record({
  present: fc.boolean(),
  base: arbService,
  /** A LoadBalancer whose address may be another's (claims settled over the whole table). */
  lb: fc.option(fc.integer({ min: 1, max: 2 }), { nil: undefined }),
  udp: fc.boolean(),
});
type ChangingService = typeof arbChangingService extends fc.Arbitrary<infer T> ? T : never;

/** Services s0..s4 of a step (absent ones left out) and their slices. */
function changingCluster(specs: readonly ChangingService[]): { services: Service[]; slices: EndpointSlice[] } {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  specs.forEach((s, i) => {
    if (!s.present) return;
    const protocol = s.udp ? ('UDP' as const) : ('TCP' as const);
    const type = s.lb !== undefined ? ('LoadBalancer' as const) : s.base.type;
    services.push({
      ...service(`s${i}`, {
        type,
        clusterIP: `10.96.0.${20 + i}`,
        internalTrafficPolicy: s.base.itp,
        ...(type !== 'ClusterIP' ? { externalTrafficPolicy: s.base.etp } : {}),
        ...(s.base.affinity
          ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } }
          : {}),
        ports: [
          {
            name: 'http',
            protocol,
            port: 80,
            targetPort: 'http',
            ...(type !== 'ClusterIP' ? { nodePort: 30000 + i } : {}),
          },
        ],
      }),
      ...(s.lb !== undefined ? { status: { loadBalancer: { ingress: [{ ip: `10.99.200.${s.lb}` }] } } } : {}),
    });
    slices.push(slice(`s${i}`, s.base.eps, 8080, 'http', protocol));
  });
  return { services, slices };
}

test('property: planChanged over the changed Services only moves the kernel to the table servicesTable plans', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(arbChangingService, { minLength: 5, maxLength: 5 }), { minLength: 2, maxLength: 5 }),
      async (steps) => {
        const planner = new ServicesPlanner();
        const fake = new NftFake();
        let prior = new Map<string, Service | EndpointSlice>();
        let udpBefore = new Set<string>();
        for (const [n, specs] of steps.entries()) {
          const c = changingCluster(specs);
          // As the agent's cache does: an unchanged object is the same object; the changed keys are known.
          const now = new Map<string, Service | EndpointSlice>();
          const keep = <T extends Service | EndpointSlice>(o: T): T => {
            const k = `${o.kind} ${o.metadata.name}`;
            const p = prior.get(k);
            const same = p !== undefined && JSON.stringify(p) === JSON.stringify(o) ? (p as T) : o;
            now.set(k, same);
            return same;
          };
          const step = input(c.services.map(keep), c.slices.map(keep));
          const changed = new Map<string, { service: Service | undefined; slices: EndpointSlice[] }>();
          for (const k of new Set([...prior.keys(), ...now.keys()]))
            if (prior.get(k) !== now.get(k)) {
              const name = k.split(' ')[1]!.replace(/-8080$/, '');
              changed.set(`default/${name}`, {
                service: step.services.find((s) => s.metadata.name === name),
                slices: step.slices.filter((s) => s.metadata.labels['kubernetes.io/service-name'] === name),
              });
            }
          prior = now;
          const plan = n === 0 ? planner.planAll(step) : planner.planChanged(step, changed);
          await fake.apply(planSync(plan.desired, plan.before).tx, `step ${n}`);
          const whole = servicesTable(step);
          assert.deepEqual(normalizeTable(fake.table('ip', SERVICES_TABLE)!), normalizeTable(whole));
          assert.deepEqual(normalizeTable(planner.table()), normalizeTable(whole));
          const udpNow = planner.udpEndpoints();
          assert.deepEqual(
            [...planner.udpEndpointsGone()].sort(),
            [...udpBefore].filter((u) => !udpNow.has(u)).sort(),
            'the UDP endpoints that went',
          );
          udpBefore = udpNow;
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('planChanged: one endpoint change among many is element edits of that Service only, with no pass over the others', () => {
  const ten = (i: number, moved = false) =>
    slice(
      `s${i}`,
      Array.from({ length: 10 }, (_, j) => ({ ip: `10.244.${i}.${j === 0 && moved ? 200 : j + 10}` })),
    );
  const services = Array.from({ length: 200 }, (_, i) => service(`s${i}`, { clusterIP: `10.96.1.${i}` }));
  const planner = new ServicesPlanner();
  planner.planAll(
    input(
      services,
      services.map((_, i) => ten(i)),
    ),
  );
  const plan = planner.planChanged(
    input([], []),
    new Map([['default/s7', { service: services[7], slices: [ten(7, true)] }]]),
  );
  assert.equal(plan.partial, true);
  const elements = (t: TableDef) => t.sets.reduce((n, s) => n + s.elements.length, 0);
  // s7's own: its VIP key, its ClusterIP, 10 endpoints and 10 hairpin entries (not 200 Services' worth).
  assert.equal(elements(plan.desired), 22);
  // Endpoints are indexed in address order, so the moved one shifts the others: s7's keys only.
  const ops = planSync(plan.desired, plan.before).tx.ops;
  assert.ok(ops.length > 0);
  for (const op of ops) {
    assert.equal(op.object.kind, 'element', `${op.verb} ${op.object.kind}: not an element edit`);
    if (op.object.kind === 'element')
      for (const e of op.object.elements) assert.ok(e.key.includes('10.96.1.7'), `${e.key.join(' . ')}: not s7's`);
  }
  assert.equal(planner.ownerOfSlice('default', 's7-8080'), 'default/s7');
  assert.throws(() => new ServicesPlanner().planChanged(input([], []), new Map()), /plan everything first/);
});
