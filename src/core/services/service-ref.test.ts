// service/NS/NAME references and the port a --port picks, with the refusals of Services that have
// no VIP and of ports a Service does not have.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service, ServiceSpec } from '../k8s/objects.js';
import { findVipService, parseServiceRef, resolveServicePort } from './service-ref.js';

const svc = (name: string, spec: Partial<ServiceSpec>): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'web', labels: {}, annotations: {} },
  spec: {
    type: 'ClusterIP',
    sessionAffinity: 'None',
    clusterIP: '10.96.0.20',
    ports: [
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' },
      { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
      { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 },
    ],
    ...spec,
  },
});
const SERVICES = [
  svc('svc', {}),
  svc('headless', { clusterIP: 'None' }),
  svc('alias', { type: 'ExternalName', clusterIP: undefined, externalName: 'db.example.com', ports: [] }),
];

test('parseServiceRef: service/, svc/ and services/ with namespace and name; anything else names the argument', () => {
  for (const t of ['service/web/svc', 'svc/web/svc', 'services/web/svc'])
    assert.deepEqual(parseServiceRef(t, '--to'), { namespace: 'web', name: 'svc' });
  for (const t of ['web/svc', 'service/svc', 'service/web/svc/x', 'pod/web/svc', 'service//svc'])
    assert.throws(() => parseServiceRef(t, '--to'), new RegExp(`^Error: --to: "${t}" is not service/NAMESPACE/NAME$`));
});

const refusals: Array<[string, string, RegExp]> = [
  ['missing', 'nope', /^Error: --to: service "web\/nope" not found$/],
  ['headless', 'headless', /^Error: --to: service "web\/headless" is headless \(clusterIP: None\)/],
  [
    'ExternalName',
    'alias',
    /^Error: --to: service "web\/alias" is of type ExternalName \(a DNS alias of db\.example\.com\)/,
  ],
];
for (const [what, name, re] of refusals)
  test(`findVipService refuses a ${what} Service`, () => {
    assert.throws(() => findVipService(SERVICES, { namespace: 'web', name }, '--to'), re);
  });

test('findVipService: a Service with a VIP', () => {
  assert.equal(findVipService(SERVICES, { namespace: 'web', name: 'svc' }, '--to').spec.clusterIP, '10.96.0.20');
});

const picks: Array<[string, string | undefined, 'TCP' | 'UDP' | undefined, string]> = [
  ['no port: the first', undefined, undefined, 'http'],
  ['no port, a protocol: its first port', undefined, 'UDP', 'dns'],
  ['by number: the first with it', '53', undefined, 'dns'],
  ['by number and protocol', '53', 'TCP', 'dns-tcp'],
  ['by name', 'dns-tcp', undefined, 'dns-tcp'],
];
for (const [name, port, protocol, want] of picks)
  test(`resolveServicePort: ${name}`, () => {
    assert.equal(resolveServicePort(SERVICES[0]!, port, protocol).name, want);
  });

test('resolveServicePort: a port the Service lacks is refused with its ports listed', () => {
  assert.throws(
    () => resolveServicePort(SERVICES[0]!, '81', undefined),
    /^Error: --port: service "web\/svc" has no port 81 \(its ports: 80\/TCP \(http\), 53\/UDP \(dns\), 53\/TCP \(dns-tcp\)\)$/,
  );
  assert.throws(() => resolveServicePort(SERVICES[0]!, 'http', 'UDP'), /has no UDP port named "http"/);
  assert.throws(() => resolveServicePort(SERVICES[0]!, '80', 'UDP'), /has no UDP port 80/);
  assert.throws(
    () => resolveServicePort(svc('t', { ports: [{ protocol: 'TCP', port: 80, targetPort: 80 }] }), undefined, 'UDP'),
    /^Error: --protocol: service "web\/t" has no UDP port/,
  );
});
