// `weft get services` and `weft get endpointslices` cells against kubectl's printers, and whole
// tables (default and -o wide) as kubectl lays them out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Service, ServiceSpec, ServiceStatus } from './objects.js';
import type { Stored } from '../../ports/object-store.js';
import { serviceExternalIp, servicePorts, sliceEndpointPorts, sliceEndpoints } from './printers.js';
import { objectRows, renderTable } from '../lab/views.js';

const svc = (spec: Partial<ServiceSpec> & Record<string, unknown>, status?: ServiceStatus): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'svc', namespace: 'web', labels: {}, annotations: {} },
  spec: {
    type: 'ClusterIP',
    sessionAffinity: 'None',
    clusterIP: '10.96.0.20',
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
    ...spec,
  } as ServiceSpec,
  ...(status ? { status } : {}),
});
const lb = (...ips: string[]): ServiceStatus => ({ loadBalancer: { ingress: ips.map((ip) => ({ ip })) } });

const externalCases: Array<[string, Service, boolean, string]> = [
  ['ClusterIP', svc({}), false, '<none>'],
  ['ClusterIP with externalIPs', svc({ externalIPs: ['192.0.2.9', '192.0.2.10'] }), false, '192.0.2.9,192.0.2.10'],
  ['NodePort', svc({ type: 'NodePort' }), false, '<none>'],
  ['LoadBalancer without ingress', svc({ type: 'LoadBalancer' }), false, '<pending>'],
  ['LoadBalancer with an ingress', svc({ type: 'LoadBalancer' }, lb('10.99.0.200')), false, '10.99.0.200'],
  [
    'LoadBalancer: ingress sorted and deduplicated, then externalIPs',
    svc({ type: 'LoadBalancer', externalIPs: ['192.0.2.9'] }, lb('10.99.0.201', '10.99.0.200', '10.99.0.201')),
    true,
    '10.99.0.200,10.99.0.201,192.0.2.9',
  ],
  [
    'LoadBalancer: past 16 characters cut unless wide',
    svc({ type: 'LoadBalancer' }, lb('10.99.0.201', '10.99.0.200')),
    false,
    '10.99.0.200,1...',
  ],
  [
    'LoadBalancer: -o wide shows it all',
    svc({ type: 'LoadBalancer' }, lb('10.99.0.201', '10.99.0.200')),
    true,
    '10.99.0.200,10.99.0.201',
  ],
  [
    'ExternalName shows the name',
    svc({ type: 'ExternalName', clusterIP: undefined, externalName: 'db.example.com' }),
    false,
    'db.example.com',
  ],
];
for (const [name, s, wide, want] of externalCases)
  test(`EXTERNAL-IP: ${name}`, () => assert.equal(serviceExternalIp(s, wide), want));

test('PORT(S): port[:nodePort]/protocol, <none> without ports', () => {
  assert.equal(
    servicePorts(
      svc({
        ports: [
          { name: 'a', protocol: 'TCP', port: 80, targetPort: 80, nodePort: 30080 },
          { name: 'b', protocol: 'UDP', port: 53, targetPort: 53 },
        ],
      }),
    ),
    '80:30080/TCP,53/UDP',
  );
  assert.equal(servicePorts(svc({ ports: [] })), '<none>');
});

const slice = (ports: EndpointSlice['ports'], addresses: string[][]): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'svc-abc', namespace: 'web', labels: {}, annotations: {} },
  addressType: 'IPv4',
  ports,
  endpoints: addresses.map((a) => ({ addresses: a })),
});

test('EndpointSlice PORTS: numbers, a name or * for a port without one, three then "+ N more..."', () => {
  assert.equal(sliceEndpointPorts(slice([], [])), '<unset>');
  assert.equal(sliceEndpointPorts(slice([{ name: 'http', protocol: 'TCP', port: 8080 }], [])), '8080');
  assert.equal(sliceEndpointPorts(slice([{ name: 'http', protocol: 'TCP' }, { protocol: 'TCP' }], [])), 'http,*');
  const five = [1, 2, 3, 4, 5].map((port) => ({ protocol: 'TCP' as const, port }));
  assert.equal(sliceEndpointPorts(slice(five, [])), '1,2,3 + 2 more...');
});

test('EndpointSlice ENDPOINTS: every address of every endpoint, three then "+ N more..."', () => {
  assert.equal(sliceEndpoints(slice([], [])), '<unset>');
  assert.equal(sliceEndpoints(slice([], [['10.0.0.1'], ['10.0.0.2']])), '10.0.0.1,10.0.0.2');
  assert.equal(
    sliceEndpoints(slice([], [['10.0.0.1', '10.0.0.2'], ['10.0.0.3'], ['10.0.0.4'], ['10.0.0.5']])),
    '10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...',
  );
});

const T0 = Date.parse('2026-01-01T00:00:00Z');
const stored = <T extends Service | EndpointSlice>(object: T): Stored<T> => ({
  object,
  meta: { uid: 'u', resourceVersion: 1, creationTimestamp: new Date(T0).toISOString() },
});

test('get services: kubectl columns, SELECTOR with -o wide', () => {
  const items = [
    stored(svc({ selector: { app: 'web', tier: 'fe' } })),
    stored({ ...svc({ type: 'LoadBalancer' }), metadata: { ...svc({}).metadata, name: 'lb' } }),
  ];
  const r = objectRows('Service', items, T0 + 90_000, {});
  assert.equal(
    renderTable(r.header, r.rows),
    [
      'NAME   TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE',
      'svc    ClusterIP      10.96.0.20   <none>        80/TCP    90s',
      'lb     LoadBalancer   10.96.0.20   <pending>     80/TCP    90s',
      '',
    ].join('\n'),
  );
  const wide = objectRows('Service', items, T0 + 90_000, { wide: true });
  assert.deepEqual(wide.header, ['name', 'type', 'cluster-ip', 'external-ip', 'port(s)', 'age', 'selector']);
  assert.deepEqual(
    wide.rows.map((x) => x[6]),
    ['app=web,tier=fe', '<none>'],
  );
});

test('get endpointslices: kubectl columns', () => {
  const r = objectRows(
    'EndpointSlice',
    [stored(slice([{ name: 'http', protocol: 'TCP', port: 8080 }], [['10.244.1.5'], ['10.244.2.5']]))],
    T0 + 5_000,
    {},
  );
  assert.equal(
    renderTable(r.header, r.rows),
    'NAME      ADDRESSTYPE   PORTS   ENDPOINTS               AGE\nsvc-abc   IPv4          8080    10.244.1.5,10.244.2.5   5s\n',
  );
});
