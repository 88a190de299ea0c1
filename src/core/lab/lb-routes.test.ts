import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Service, ServiceSpec } from '../k8s/objects.js';
import { announcedRoutes, loadBalancerRouteCommands, loadBalancerRoutes, splitBySegment } from './lb-routes.js';

const NODES = [
  { name: 'n1', ip: '10.99.0.1' },
  { name: 'n2', ip: '10.99.0.2' },
  { name: 'n3', ip: '10.99.0.3' },
];
const meta = (name: string, labels: Record<string, string> = {}) => ({ name, namespace: 'd', labels, annotations: {} });
function lb(name: string, ingress: string | undefined, spec: Partial<ServiceSpec> = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(name),
    spec: {
      type: 'LoadBalancer',
      clusterIP: '10.96.0.40',
      sessionAffinity: 'None',
      externalTrafficPolicy: 'Cluster',
      ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
      ...spec,
    },
    ...(ingress ? { status: { loadBalancer: { ingress: [{ ip: ingress }] } } } : {}),
  };
}
const slice = (svc: string, eps: Array<[string, string, boolean]>): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: meta(`${svc}-a`, { 'kubernetes.io/service-name': svc }),
  addressType: 'IPv4',
  ports: [{ protocol: 'TCP', port: 8080 }],
  endpoints: eps.map(([ip, node, ready]) => ({ addresses: [ip], nodeName: node, conditions: { ready } })),
});

test('LB routes: Cluster via every node; Local via nodes with a ready local endpoint; none: not routed', () => {
  const routes = loadBalancerRoutes({
    services: [
      lb('all', '10.99.0.224'),
      lb('local', '10.99.0.225', { externalTrafficPolicy: 'Local' }),
      lb('nobody', '10.99.0.226', { externalTrafficPolicy: 'Local' }),
      lb('pending', undefined),
      { ...lb('np', undefined, { type: 'NodePort' }) },
    ],
    slices: [
      slice('local', [
        ['10.244.3.5', 'n3', true],
        ['10.244.1.5', 'n1', true],
        ['10.244.2.5', 'n2', false],
      ]),
      slice('nobody', [['10.244.2.6', 'n2', false]]),
    ],
    nodes: NODES,
  });
  assert.deepEqual(Object.fromEntries(routes), {
    '10.99.0.224': ['10.99.0.1', '10.99.0.2', '10.99.0.3'],
    '10.99.0.225': ['10.99.0.1', '10.99.0.3'],
  });
});

test('LB route commands: replace what differs (whatever the nexthop order), delete what is no longer announced', () => {
  const actual = new Map([
    ['10.99.0.224', ['10.99.0.2', '10.99.0.1']],
    ['10.99.0.225', ['10.99.0.1']],
    ['10.99.0.227', ['10.99.0.3']],
  ]);
  const wanted = new Map([
    ['10.99.0.224', ['10.99.0.1', '10.99.0.2']],
    ['10.99.0.225', ['10.99.0.1', '10.99.0.3']],
    ['10.99.0.226', ['10.99.0.2']],
  ]);
  assert.deepEqual(loadBalancerRouteCommands(actual, wanted), [
    'route replace 10.99.0.225/32 nexthop via 10.99.0.1 nexthop via 10.99.0.3',
    'route replace 10.99.0.226/32 nexthop via 10.99.0.2',
    'route del 10.99.0.227/32',
  ]);
  assert.deepEqual(loadBalancerRouteCommands(wanted, wanted), [], 'in step: nothing to do');
});

test('announced routes from `ip -j route show`: single and ECMP host routes in the pool; nothing else', () => {
  const routes = [
    { dst: '10.99.0.0/24', dev: 'ul0', protocol: 'kernel', scope: 'link', prefsrc: '10.99.0.254' },
    { dst: '10.99.0.224/28', nexthops: [{ gateway: '10.99.0.1' }] },
    { dst: '10.99.0.225', gateway: '10.99.0.1', dev: 'ul0', flags: [] },
    {
      dst: '10.99.0.226',
      flags: [],
      nexthops: [{ gateway: '10.99.0.1', dev: 'ul0', weight: 1, flags: [] }, { gateway: '10.99.0.2' }],
    },
    { dst: '10.99.0.7', gateway: '10.99.0.1' },
    { dst: 'default', gateway: '10.99.0.254' },
  ];
  assert.deepEqual(Object.fromEntries(announcedRoutes(routes, '10.99.0.224/28')), {
    '10.99.0.225': ['10.99.0.1'],
    '10.99.0.226': ['10.99.0.1', '10.99.0.2'],
  });
});

test('LB routes over segments: the gateway reaches its own segment directly, the rest through the router', () => {
  const router = { ip: '10.99.0.253', gatewayCidr: '10.99.0.0/24' };
  const cases: Array<[string, Array<[string, string[]]>, Array<[string, string[]]>, Array<[string, string[]]>]> = [
    [
      'all near: the router has nothing',
      [['10.99.0.224', ['10.99.0.1', '10.99.0.3']]],
      [['10.99.0.224', ['10.99.0.1', '10.99.0.3']]],
      [],
    ],
    [
      'near and far: the router once per far node (its weight)',
      [['10.99.0.224', ['10.99.0.1', '10.99.1.2', '10.99.1.4']]],
      [['10.99.0.224', ['10.99.0.1', '10.99.0.253', '10.99.0.253']]],
      [['10.99.0.224', ['10.99.1.2', '10.99.1.4']]],
    ],
    [
      'only far, several: the router alone, unweighted',
      [['10.99.0.226', ['10.99.1.2', '10.99.2.3']]],
      [['10.99.0.226', ['10.99.0.253']]],
      [['10.99.0.226', ['10.99.1.2', '10.99.2.3']]],
    ],
    [
      'only far (a Local policy with far endpoints)',
      [['10.99.0.225', ['10.99.2.3']]],
      [['10.99.0.225', ['10.99.0.253']]],
      [['10.99.0.225', ['10.99.2.3']]],
    ],
  ];
  for (const [name, wanted, gateway, behind] of cases) {
    const split = splitBySegment(new Map(wanted), router);
    assert.deepEqual([...split.gateway], gateway, name);
    assert.deepEqual([...split.router], behind, name);
  }
});

test('weighted next hops: rendered with their weight, read back the same (no churn)', () => {
  const wanted = new Map([['10.99.0.224', ['10.99.0.1', '10.99.0.253', '10.99.0.253']]]);
  assert.deepEqual(loadBalancerRouteCommands(new Map(), wanted), [
    'route replace 10.99.0.224/32 nexthop via 10.99.0.1 nexthop via 10.99.0.253 weight 2',
  ]);
  const read = announcedRoutes(
    [
      {
        dst: '10.99.0.224',
        nexthops: [
          { gateway: '10.99.0.1', weight: 1 },
          { gateway: '10.99.0.253', weight: 2 },
        ],
      },
    ],
    '10.99.0.224/28',
  );
  assert.deepEqual(loadBalancerRouteCommands(read, wanted), []);
});
