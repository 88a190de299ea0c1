// What `weft trace outside service/NS/NAME` expects: the Service's load-balancer address and
// port, the nodes the gateway routes it to (all for Cluster, those with a ready endpoint for
// Local) and the endpoints a node may pick; and the refusals, each naming TO or --port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../k8s/parse.js';
import type { EndpointSlice, Service } from '../k8s/objects.js';
import { loadBalancerTarget } from './lb-trace.js';

const objects = parseManifest(`
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: n}
spec: {type: LoadBalancer, clusterIP: 10.96.0.30, externalTrafficPolicy: Local, ports: [{name: http, port: 80, targetPort: 8080}, {name: dns, port: 53, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: cluster, namespace: n}
spec: {type: LoadBalancer, clusterIP: 10.96.0.31, ports: [{port: 443, targetPort: 8443}]}
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: n}
spec: {clusterIP: 10.96.0.32, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: pending, namespace: n}
spec: {type: LoadBalancer, clusterIP: 10.96.0.33, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: lb-1, namespace: n, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
endpoints:
- {addresses: [10.244.1.5], nodeName: n2, conditions: {ready: true}}
- {addresses: [10.244.2.5], nodeName: n3, conditions: {ready: false}}
ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: cluster-1, namespace: n, labels: {kubernetes.io/service-name: cluster}}
addressType: IPv4
endpoints:
- {addresses: [10.244.0.7], nodeName: n1, conditions: {ready: true}}
ports: [{port: 8443}]
`);
// Status is the cluster's to write (apply refuses it): the addresses the lab's allocator gave.
const lbAddress: Record<string, string> = { lb: '10.99.0.224', cluster: '10.99.0.225' };
const input = {
  services: objects
    .filter((o): o is Service => o.kind === 'Service')
    .map((s) => {
      const ip = lbAddress[s.metadata.name];
      return ip === undefined ? s : { ...s, status: { loadBalancer: { ingress: [{ ip }] } } };
    }),
  slices: objects.filter((o): o is EndpointSlice => o.kind === 'EndpointSlice'),
  nodes: [
    { name: 'n1', ip: '10.99.0.1' },
    { name: 'n2', ip: '10.99.0.2' },
    { name: 'n3', ip: '10.99.0.3' },
  ],
};

test('lb trace: a Local Service goes to the nodes with a ready endpoint, and to their endpoints', () => {
  assert.deepEqual(loadBalancerTarget({ ...input, to: 'service/n/lb', port: undefined }), {
    address: '10.99.0.224',
    port: 80,
    service: 'n/lb',
    nodes: ['n2'],
    candidates: ['10.244.1.5:8080'],
  });
  // By its address, the same.
  assert.equal(loadBalancerTarget({ ...input, to: '10.99.0.224', port: 80 })?.service, 'n/lb');
});

test('lb trace: a Cluster Service goes to every node; any ready endpoint', () => {
  assert.deepEqual(loadBalancerTarget({ ...input, to: 'service/n/cluster', port: 443 }), {
    address: '10.99.0.225',
    port: 443,
    service: 'n/cluster',
    nodes: ['n1', 'n2', 'n3'],
    candidates: ['10.244.0.7:8443'],
  });
});

test('lb trace: an address no Service has is not a load-balancer target (a node address, for a NodePort)', () => {
  assert.equal(loadBalancerTarget({ ...input, to: '10.99.0.2', port: 30080 }), undefined);
});

test('lb trace: refusals name TO or --port and the reason', () => {
  const cases: Array<[string, number | undefined, RegExp]> = [
    ['service/n/nope', undefined, /^TO: services "nope" not found in namespace "n"$/],
    ['service/n', undefined, /^TO: "service\/n" is not service\/NAMESPACE\/NAME$/],
    [
      'service/n/plain',
      undefined,
      /^TO: from outside a Service is reached by its load-balancer address; n\/plain is of type ClusterIP/,
    ],
    ['service/n/pending', undefined, /^TO: service n\/pending has no load-balancer address yet$/],
    ['service/n/lb', 53, /^--port: service n\/lb has no TCP port 53 \(its ports: 80\/TCP, 53\/UDP\)$/],
  ];
  for (const [to, port, want] of cases)
    assert.throws(() => loadBalancerTarget({ ...input, to, port }), { message: want }, to);
});
