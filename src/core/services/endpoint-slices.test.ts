import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Pod, Service } from '../k8s/objects.js';
import {
  desiredSlices,
  MANAGED_BY_LABEL,
  MAX_ENDPOINTS_PER_SLICE,
  sliceChanges,
  SLICE_CONTROLLER,
} from './endpoint-slices.js';

function pod(
  name: string,
  o: {
    ip?: string;
    labels?: Record<string, string>;
    ready?: boolean;
    node?: string;
    ports?: Array<[string, number]>;
    ns?: string;
    phase?: 'Running' | 'Pending' | 'Failed';
  } = {},
): Pod {
  const ready = o.ready ?? true;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: o.ns ?? 'default', labels: o.labels ?? { app: 'web' }, annotations: {} },
    spec: {
      hostNetwork: false,
      nodeName: o.node ?? 'n1',
      containers: [
        {
          name: 'c',
          ports: (o.ports ?? [['http', 8080]]).map(([n, p]) => ({
            name: n,
            containerPort: p,
            protocol: 'TCP' as const,
          })),
        },
      ],
    },
    status: {
      phase: o.phase ?? 'Running',
      ...(o.ip === undefined ? {} : { podIP: o.ip }),
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  };
}
const web: Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'default', labels: {}, annotations: {} },
  spec: {
    type: 'ClusterIP',
    clusterIP: '10.96.0.20',
    sessionAffinity: 'None',
    selector: { app: 'web' },
    ports: [
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' },
      { name: 'admin', protocol: 'TCP', port: 9000, targetPort: 9000 },
    ],
  },
};

test('named targetPorts resolve per pod; pods with the same ports share a slice, others get their own', () => {
  const slices = desiredSlices(web, [
    pod('a', { ip: '10.244.1.5' }),
    pod('b', { ip: '10.244.2.5', node: 'n2', ports: [['http', 8081]] }),
    pod('c', { ip: '10.244.1.6', ready: false }),
    pod('d', { ip: '10.244.1.7', ports: [['other', 1]] }),
    pod('pending', {}),
    pod('failed', { ip: '10.244.1.9', phase: 'Failed' }),
    pod('elsewhere', { ip: '10.244.1.8', ns: 'other' }),
    pod('unlabelled', { ip: '10.244.1.10', labels: {} }),
  ]);
  const view = slices.map((s) => ({
    ports: s.ports.map((p) => `${p.name}:${p.port}`),
    endpoints: s.endpoints.map(
      (e) => `${e.addresses[0]} ${e.nodeName} ready=${e.conditions?.ready} serving=${e.conditions?.serving}`,
    ),
  }));
  assert.deepEqual(
    view.sort((a, b) => a.ports.join().localeCompare(b.ports.join())),
    [
      { ports: ['admin:9000'], endpoints: ['10.244.1.7 n1 ready=true serving=true'] },
      {
        ports: ['http:8080', 'admin:9000'],
        endpoints: ['10.244.1.5 n1 ready=true serving=true', '10.244.1.6 n1 ready=false serving=false'],
      },
      { ports: ['http:8081', 'admin:9000'], endpoints: ['10.244.2.5 n2 ready=true serving=true'] },
    ],
  );
  for (const s of slices) {
    assert.equal(s.metadata.labels['kubernetes.io/service-name'], 'web');
    assert.equal(s.metadata.labels[MANAGED_BY_LABEL], SLICE_CONTROLLER);
  }
});

test('publishNotReadyAddresses makes every endpoint ready; a hostname is set only when the subdomain names the Service', () => {
  const named = (p: Pod, hostname: string, subdomain: string): Pod => ({
    ...p,
    spec: { ...p.spec, hostname, subdomain },
  });
  const pods = [
    named(pod('a', { ip: '10.244.1.5' }), 'web-0', 'web'),
    named(pod('b', { ip: '10.244.1.6', ready: false }), 'web-1', 'other'),
  ];
  const cases: Array<{ name: string; publish?: boolean; want: string[] }> = [
    { name: 'absent: readiness decides', want: ['10.244.1.5 web-0 ready=true', '10.244.1.6 - ready=false'] },
    {
      name: 'false: readiness decides',
      publish: false,
      want: ['10.244.1.5 web-0 ready=true', '10.244.1.6 - ready=false'],
    },
    { name: 'true: all ready', publish: true, want: ['10.244.1.5 web-0 ready=true', '10.244.1.6 - ready=true'] },
  ];
  for (const c of cases) {
    const svc: Service = {
      ...web,
      spec: { ...web.spec, ...(c.publish === undefined ? {} : { publishNotReadyAddresses: c.publish }) },
    };
    const got = desiredSlices(svc, pods)
      .flatMap((s) => s.endpoints)
      .map((e) => `${e.addresses[0]} ${e.hostname ?? '-'} ready=${e.conditions?.ready}`);
    assert.deepEqual(got, c.want, c.name);
  }
});

test('at most 100 endpoints per slice; a Service with no pods keeps one empty slice; no selector, none', () => {
  const many = Array.from({ length: 250 }, (_, i) =>
    pod(`p${String(i).padStart(3, '0')}`, { ip: `10.244.${1 + Math.floor(i / 200)}.${(i % 200) + 2}` }),
  );
  const slices = desiredSlices(web, many);
  assert.deepEqual(
    slices.map((s) => s.endpoints.length),
    [100, 100, 50],
  );
  assert.ok(slices.every((s) => s.endpoints.length <= MAX_ENDPOINTS_PER_SLICE));
  const empty = desiredSlices(web, []);
  assert.equal(empty.length, 1);
  assert.deepEqual(empty[0]?.endpoints, []);
  const { selector: _, ...noSelector } = web.spec;
  assert.deepEqual(desiredSlices({ ...web, spec: noSelector }, many), []);
});

test("sliceChanges writes only what differs, removes managed slices of gone Services, never touches a user's slice", () => {
  const pods = [pod('a', { ip: '10.244.1.5' })];
  const first = sliceChanges([web], pods, []);
  assert.equal(first.put.length, 1);
  assert.deepEqual(sliceChanges([web], pods, first.put), { put: [], remove: [] });
  const userSlice = {
    ...first.put[0]!,
    metadata: { ...first.put[0]!.metadata, name: 'mine', labels: { 'kubernetes.io/service-name': 'web' } },
  };
  const gone = sliceChanges([], pods, [...first.put, userSlice]);
  assert.deepEqual(gone, { put: [], remove: [{ namespace: 'default', name: first.put[0]!.metadata.name }] });
  const moreReady = sliceChanges([web], [...pods, pod('b', { ip: '10.244.1.6' })], first.put);
  assert.equal(moreReady.put.length, 1);
  assert.equal(moreReady.put[0]?.metadata.name, first.put[0]?.metadata.name, 'the same ports keep the same slice name');
});

test('property: every selected running pod with an address is in exactly one slice, and nothing else is', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.record({
          host: fc.integer({ min: 2, max: 250 }),
          selected: fc.boolean(),
          ready: fc.boolean(),
          port: fc.constantFrom(8080, 8081),
        }),
        { selector: (p) => p.host, maxLength: 40 },
      ),
      (specs) => {
        const pods = specs.map((s) =>
          pod(`p${s.host}`, {
            ip: `10.244.1.${s.host}`,
            labels: s.selected ? { app: 'web' } : {},
            ready: s.ready,
            ports: [['http', s.port]],
          }),
        );
        const addresses = desiredSlices(web, pods).flatMap((s) => s.endpoints.map((e) => e.addresses[0]));
        assert.deepEqual(
          addresses.sort(),
          specs
            .filter((s) => s.selected)
            .map((s) => `10.244.1.${s.host}`)
            .sort(),
        );
      },
    ),
  );
});
