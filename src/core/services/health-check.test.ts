import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Service, ServiceSpec } from '../k8s/objects.js';
import { healthCheckReply, healthChecksOf } from './health-check.js';

const meta = (name: string, labels: Record<string, string> = {}) => ({
  name,
  namespace: 'web',
  labels,
  annotations: {},
});
function service(name: string, spec: Partial<ServiceSpec>): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(name),
    spec: {
      type: 'LoadBalancer',
      clusterIP: '10.96.0.30',
      sessionAffinity: 'None',
      externalTrafficPolicy: 'Local',
      internalTrafficPolicy: 'Cluster',
      healthCheckNodePort: 31000,
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 },
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353, nodePort: 30053 },
      ],
      ...spec,
    },
  };
}
function slice(svc: string, eps: Array<{ ip: string; node: string; ready?: boolean }>): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: meta(`${svc}-x`, { 'kubernetes.io/service-name': svc }),
    addressType: 'IPv4',
    ports: [
      { name: 'http', protocol: 'TCP', port: 8080 },
      { name: 'dns', protocol: 'UDP', port: 5353 },
    ],
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      nodeName: e.node,
      conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: e.ready === false },
    })),
  };
}

const SLICES = [
  slice('lb', [
    { ip: '10.244.1.5', node: 'n1' },
    { ip: '10.244.1.6', node: 'n1' },
    { ip: '10.244.2.5', node: 'n2', ready: false },
  ]),
];

const cases: Array<[string, string, Service[], Array<[number, number, 200 | 503]>]> = [
  ['a node with two ready endpoints (counted once over both ports): 200', 'n1', [service('lb', {})], [[31000, 2, 200]]],
  ['a node whose only endpoint is terminating: 503', 'n2', [service('lb', {})], [[31000, 0, 503]]],
  ['a node with none: 503', 'n3', [service('lb', {})], [[31000, 0, 503]]],
  [
    'externalTrafficPolicy Cluster or not a LoadBalancer: no health check',
    'n1',
    [
      service('lb', { externalTrafficPolicy: 'Cluster', healthCheckNodePort: undefined }),
      service('np', { type: 'NodePort', healthCheckNodePort: undefined }),
    ],
    [],
  ],
  [
    'several Services: one port each, in port order',
    'n1',
    [service('lb', { healthCheckNodePort: 31002 }), service('other', { healthCheckNodePort: 31001 })],
    [
      [31001, 0, 503],
      [31002, 2, 200],
    ],
  ],
];

for (const [name, node, services, want] of cases)
  test(`health checks: ${name}`, () => {
    const got = healthChecksOf({ node, services, slices: SLICES });
    assert.deepEqual(
      got.map((h) => [h.port, h.localEndpoints, healthCheckReply(h).status]),
      want,
    );
  });

test("health check body: kube-proxy's JSON", () => {
  const [h] = healthChecksOf({ node: 'n1', services: [service('lb', {})], slices: SLICES });
  assert.deepEqual(JSON.parse(healthCheckReply(h!).body), {
    service: { namespace: 'web', name: 'lb' },
    localEndpoints: 2,
    serviceProxyHealthy: true,
  });
  // A node whose Services table is not in step answers 503 even with local endpoints.
  const stale = healthCheckReply(h!, false);
  assert.equal(stale.status, 503);
  assert.equal((JSON.parse(stale.body) as { serviceProxyHealthy: boolean }).serviceProxyHealthy, false);
});
