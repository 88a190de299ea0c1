import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Service, ServiceType } from '../k8s/objects.js';
import { planLoadBalancerAddresses, type AgedService, type LbStatusChange } from './lb-addresses.js';

const POOL = '10.99.0.224/30';

function svc(name: string, type: ServiceType, ingress: string[] = [], created = '2026-12-07T00:00:00Z'): AgedService {
  const service: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'd', labels: {}, annotations: {} },
    spec: {
      type,
      clusterIP: '10.96.0.40',
      sessionAffinity: 'None',
      ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }],
    },
    ...(ingress.length > 0 ? { status: { loadBalancer: { ingress: ingress.map((ip) => ({ ip })) } } } : {}),
  };
  return { service, creationTimestamp: created };
}

const cases: Array<{ name: string; services: AgedService[]; want: LbStatusChange[] }> = [
  {
    name: 'a new LoadBalancer gets the lowest free address',
    services: [svc('a', 'LoadBalancer', ['10.99.0.224']), svc('b', 'LoadBalancer')],
    want: [{ namespace: 'd', name: 'b', ip: '10.99.0.225' }],
  },
  {
    name: 'an address it has is kept: nothing to do',
    services: [svc('a', 'LoadBalancer', ['10.99.0.226'])],
    want: [],
  },
  {
    name: 'an address outside the pool is replaced',
    services: [svc('a', 'LoadBalancer', ['192.0.2.1'])],
    want: [{ namespace: 'd', name: 'a', ip: '10.99.0.224' }],
  },
  {
    name: 'a contested address stays with the older Service; the younger gets another',
    services: [
      svc('young', 'LoadBalancer', ['10.99.0.224'], '2026-12-07T00:00:09Z'),
      svc('old', 'LoadBalancer', ['10.99.0.224'], '2026-12-07T00:00:01Z'),
    ],
    want: [{ namespace: 'd', name: 'young', ip: '10.99.0.225' }],
  },
  {
    name: 'the pool exhausted: the last one stays pending (no change while it has none)',
    services: ['a', 'b', 'c', 'd', 'e'].map((n, i) =>
      svc(n, 'LoadBalancer', i < 4 ? [`10.99.0.${224 + i}`] : [], `2026-12-07T00:00:0${i}Z`),
    ),
    want: [],
  },
  {
    name: 'a Service no longer a LoadBalancer gives its address back',
    services: [svc('a', 'ClusterIP', ['10.99.0.224'])],
    want: [{ namespace: 'd', name: 'a', ip: undefined }],
  },
  {
    name: "a ClusterIP Service's status outside the pool is not ours to clear",
    services: [svc('a', 'NodePort', ['192.0.2.7'])],
    want: [],
  },
  {
    name: 'two ingress entries (one ours) become the one address',
    services: [svc('a', 'LoadBalancer', ['10.99.0.225', '10.99.0.226'])],
    want: [{ namespace: 'd', name: 'a', ip: '10.99.0.225' }],
  },
];

for (const c of cases)
  test(`LB addresses: ${c.name}`, () => {
    assert.deepEqual(planLoadBalancerAddresses(c.services, POOL), c.want);
  });

/** Applies the changes to the Services, as the controller's status writes do. */
function applied(services: AgedService[], changes: LbStatusChange[]): AgedService[] {
  return services.map((a) => {
    const c = changes.find((x) => x.name === a.service.metadata.name);
    if (!c) return a;
    const { status: _old, ...rest } = a.service;
    return {
      ...a,
      service: { ...rest, ...(c.ip ? { status: { loadBalancer: { ingress: [{ ip: c.ip }] } } } : {}) },
    };
  });
}

test('LB addresses (property): after the changes, LoadBalancers hold distinct pool addresses, as many as the pool allows, and a second plan changes nothing', () => {
  const anyIp = fc.oneof(
    fc.integer({ min: 220, max: 230 }).map((i) => `10.99.0.${i}`),
    fc.constant('192.0.2.1'),
  );
  const arb = fc.array(
    fc.record({
      type: fc.constantFrom<ServiceType>('LoadBalancer', 'LoadBalancer', 'ClusterIP', 'NodePort'),
      ingress: fc.array(anyIp, { maxLength: 2 }),
      second: fc.integer({ min: 0, max: 5 }),
    }),
    { maxLength: 8 },
  );
  fc.assert(
    fc.property(arb, (rows) => {
      const services = rows.map((r, i) => svc(`s${i}`, r.type, r.ingress, `2026-12-07T00:00:0${r.second}Z`));
      const after = applied(services, planLoadBalancerAddresses(services, POOL));
      const lbs = after.filter((a) => a.service.spec.type === 'LoadBalancer');
      const held = lbs.flatMap((a) => a.service.status?.loadBalancer.ingress?.map((i) => i.ip) ?? []);
      assert.equal(new Set(held).size, held.length, 'no address is held twice');
      for (const ip of held) assert.match(ip, /^10\.99\.0\.22[4-7]$/);
      assert.equal(held.length, Math.min(lbs.length, 4), 'every LoadBalancer has one while the pool lasts');
      for (const a of lbs) assert.ok((a.service.status?.loadBalancer.ingress?.length ?? 0) <= 1);
      // A Service that kept a valid address it had before is never moved.
      for (const [i, a] of services.entries()) {
        const before = a.service.status?.loadBalancer.ingress ?? [];
        const now = after[i]!.service.status?.loadBalancer.ingress ?? [];
        if (a.service.spec.type === 'LoadBalancer' && before.length === 1 && now.length === 1)
          if (/^10\.99\.0\.22[4-7]$/.test(before[0]!.ip) && before[0]!.ip !== now[0]!.ip)
            assert.ok(
              services.some(
                (o) =>
                  o !== a &&
                  o.service.spec.type === 'LoadBalancer' &&
                  o.service.status?.loadBalancer.ingress?.[0]?.ip === before[0]!.ip,
              ),
              'moved only when another Service held the same address',
            );
      }
      assert.deepEqual(planLoadBalancerAddresses(after, POOL), []);
    }),
  );
});
