import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { EndpointSlice, Service } from '../k8s/objects.js';
import { ClusterIndex } from './cluster-index.js';

interface SvcState {
  headless: boolean;
  ip: number;
  endpoints: number[];
}

function svc(ns: string, name: string, s: SvcState): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name, labels: {}, annotations: {} },
    spec: {
      type: 'ClusterIP',
      clusterIP: s.headless ? 'None' : `10.96.0.${s.ip}`,
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 80 }],
      sessionAffinity: 'None',
    },
  };
}

function slices(ns: string, name: string, s: SvcState): EndpointSlice[] {
  return [
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { namespace: ns, name: `${name}-1`, labels: {}, annotations: {} },
      addressType: 'IPv4',
      endpoints: s.endpoints.map((e) => ({ addresses: [`10.244.0.${e}`] })),
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    },
  ];
}

const op = fc.oneof(
  fc.record({
    kind: fc.constant('svc' as const),
    ns: fc.constantFrom('a', 'b'),
    name: fc.constantFrom('web', 'db', 'api'),
    state: fc.option(
      fc.record({
        headless: fc.boolean(),
        // Few addresses, so that Services share ClusterIPs and endpoints (PTRs with two owners).
        ip: fc.integer({ min: 1, max: 4 }),
        endpoints: fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 3 }),
      }),
      { nil: undefined },
    ),
  }),
  fc.record({ kind: fc.constant('ns' as const), ns: fc.constantFrom('a', 'b'), exists: fc.boolean() }),
);

test('an index updated one change at a time holds exactly what one built from the final state holds', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      const live = new ClusterIndex('cluster.local');
      const services = new Map<string, SvcState | undefined>();
      const namespaces = new Map<string, boolean>();
      for (const o of ops) {
        if (o.kind === 'svc') {
          live.setService(
            o.ns,
            o.name,
            o.state && svc(o.ns, o.name, o.state),
            o.state ? slices(o.ns, o.name, o.state) : [],
          );
          services.set(`${o.ns}/${o.name}`, o.state);
        } else {
          live.setNamespace(o.ns, o.exists);
          namespaces.set(o.ns, o.exists);
        }
      }
      const fresh = new ClusterIndex('cluster.local');
      for (const [ns, exists] of namespaces) if (exists) fresh.setNamespace(ns, true);
      for (const [key, state] of services) {
        if (!state) continue;
        const [ns, name] = key.split('/') as [string, string];
        fresh.setService(ns, name, svc(ns, name, state), slices(ns, name, state));
      }
      assert.deepEqual(live.dump(), fresh.dump());
      const owners = [...namespaces.values()].filter(Boolean).length + [...services.values()].filter(Boolean).length;
      assert.equal(live.size, owners);
    }),
  );
});

test('removing every owner leaves the index empty', () => {
  const index = new ClusterIndex('cluster.local');
  const s: SvcState = { headless: true, ip: 1, endpoints: [1, 2] };
  index.setNamespace('a', true);
  index.setService('a', 'web', svc('a', 'web', s), slices('a', 'web', s));
  assert.ok(index.exists('a.svc.cluster.local'));
  index.setService('a', 'web', undefined, []);
  index.setNamespace('a', false);
  assert.deepEqual(index.dump(), { names: [], ptrs: [], present: [] });
  assert.equal(index.size, 0);
});

test('10,000 Services: a deleted one is gone, its neighbours keep their records', () => {
  const index = new ClusterIndex('cluster.local');
  for (let i = 0; i < 10_000; i++) {
    const s: SvcState = { headless: i % 2 === 0, ip: i % 250, endpoints: [i % 200, (i + 1) % 200] };
    index.setService('load', `s${i}`, svc('load', `s${i}`, s), slices('load', `s${i}`, s));
  }
  assert.equal(index.size, 10_000);
  assert.deepEqual(index.lookup('s9999.load.svc.cluster.local')?.a, ['10.96.0.249']);
  index.setService('load', 's9999', undefined, []);
  assert.equal(index.lookup('s9999.load.svc.cluster.local'), undefined);
  assert.deepEqual(index.lookup('s9998.load.svc.cluster.local')?.a, ['10.244.0.198', '10.244.0.199']);
});
