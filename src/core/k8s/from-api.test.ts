// API objects (as kube-apiserver v1.34 returns them) decoded into weft's types: server metadata,
// status, defaults, fields weft refuses in manifests, and objects it cannot read at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeInfoFromApi, objectFromApi, podStatusFromApi, podStatusToApi } from './from-api.js';

const meta = (name: string, namespace?: string, extra: Record<string, unknown> = {}) => ({
  name,
  ...(namespace ? { namespace } : {}),
  uid: `uid-${name}`,
  resourceVersion: '242',
  generation: 1,
  creationTimestamp: '2026-12-07T17:18:22Z',
  managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
  ...extra,
});

// A pod as the API server stores it: ServiceAccount volume, tolerations, defaults, a status.
const apiPod = {
  metadata: meta('a', 'x', { labels: { app: 'web' } }),
  spec: {
    volumes: [{ name: 'kube-api-access-1', projected: { sources: [], defaultMode: 420 } }],
    containers: [
      {
        name: 's',
        image: 'x',
        ports: [{ containerPort: 80, protocol: 'TCP' }],
        resources: {},
        volumeMounts: [
          { name: 'kube-api-access-1', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
        ],
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        imagePullPolicy: 'Always',
      },
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    serviceAccountName: 'default',
    serviceAccount: 'default',
    nodeName: 'n1',
    securityContext: {},
    schedulerName: 'default-scheduler',
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
    priority: 0,
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
  },
  status: {
    phase: 'Running',
    qosClass: 'BestEffort',
    podIP: '10.244.1.5',
    podIPs: [{ ip: '10.244.1.5' }],
    hostIP: '10.99.0.1',
    conditions: [
      { type: 'PodReadyToStartContainers', status: 'True' },
      { type: 'Ready', status: 'True', lastTransitionTime: '2026-12-07T17:18:25Z' },
    ],
    containerStatuses: [
      {
        name: 's',
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: '2026-12-07T17:18:24Z' } },
        imageID: 'x',
      },
    ],
  },
};

test('a Pod from the API: kind filled in for list items, server metadata to meta, status decoded, defaults kept', () => {
  const r = objectFromApi('Pod', apiPod);
  assert.ok('stored' in r, JSON.stringify(r));
  const { object: p, meta: m } = r.stored;
  assert.deepEqual(m, { uid: 'uid-a', resourceVersion: 242, creationTimestamp: '2026-12-07T17:18:22Z' });
  assert.equal(p.apiVersion, 'v1');
  assert.equal(p.kind, 'Pod');
  assert.deepEqual(p.metadata.labels, { app: 'web' });
  assert.equal('managedFields' in p.metadata, false, 'server-owned metadata is not in the object');
  assert.equal(p.spec.nodeName, 'n1');
  assert.equal(p.spec.containers[0]!.ports[0]!.containerPort, 80);
  assert.equal(p.spec.dnsPolicy, 'ClusterFirst');
  assert.deepEqual(p.status, {
    phase: 'Running',
    podIP: '10.244.1.5',
    podIPs: [{ ip: '10.244.1.5' }],
    hostIP: '10.99.0.1',
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-12-07T17:18:25Z' }],
    containerStatuses: [
      {
        name: 's',
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: '2026-12-07T17:18:24Z' } },
      },
    ],
  });
  assert.deepEqual(r.ignored, []);
  assert.equal(apiPod.metadata.managedFields.length, 1, 'the input is not changed');
});

test('deletionTimestamp and its grace period stay in metadata, where weft reads them', () => {
  const r = objectFromApi('Pod', {
    ...apiPod,
    metadata: { ...apiPod.metadata, deletionTimestamp: '2026-12-07T17:20:00Z', deletionGracePeriodSeconds: 30 },
  });
  assert.ok('stored' in r);
  assert.equal(r.stored.object.metadata.deletionTimestamp, '2026-12-07T17:20:00Z');
  assert.equal(r.stored.object.metadata.deletionGracePeriodSeconds, 30);
});

const cases: Array<{
  name: string;
  kind: 'Service' | 'EndpointSlice' | 'Namespace';
  raw: unknown;
  ignored: RegExp[];
  check?: (o: unknown) => void;
}> = [
  {
    name: 'a LoadBalancer Service: allocateLoadBalancerNodePorts (the API default) is left out and said',
    kind: 'Service',
    raw: {
      metadata: meta('lb', 'x'),
      spec: {
        type: 'LoadBalancer',
        selector: { app: 'web' },
        ports: [{ port: 80, protocol: 'TCP', targetPort: 80, nodePort: 31000 }],
        clusterIP: '10.96.0.20',
        clusterIPs: ['10.96.0.20'],
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'SingleStack',
        sessionAffinity: 'None',
        externalTrafficPolicy: 'Cluster',
        internalTrafficPolicy: 'Cluster',
        allocateLoadBalancerNodePorts: true,
      },
      status: { loadBalancer: { ingress: [{ ip: '192.0.2.10', ipMode: 'VIP' }, { hostname: 'lb.example' }] } },
    },
    ignored: [/^spec\.allocateLoadBalancerNodePorts: /],
    check: (o) => {
      const s = o as { spec: { clusterIP: string }; status: unknown };
      assert.equal(s.spec.clusterIP, '10.96.0.20');
      assert.deepEqual(s.status, { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } });
    },
  },
  {
    name: 'a dual-stack Service: the second family is left out and said',
    kind: 'Service',
    raw: {
      metadata: meta('ds', 'x'),
      spec: {
        type: 'ClusterIP',
        ports: [{ port: 53, protocol: 'UDP', targetPort: 53 }],
        clusterIP: '10.96.0.30',
        clusterIPs: ['10.96.0.30', 'fd00::30'],
        ipFamilies: ['IPv4', 'IPv6'],
        ipFamilyPolicy: 'PreferDualStack',
        sessionAffinity: 'None',
      },
      status: { loadBalancer: {} },
    },
    ignored: [/^spec\.ipFamilyPolicy: /, /^spec\.ipFamilies: /, /^spec\.clusterIPs: /],
  },
  {
    name: 'an EndpointSlice with topology hints: the hints are left out, the endpoint stays',
    kind: 'EndpointSlice',
    raw: {
      metadata: meta('web-abc', 'x', { labels: { 'kubernetes.io/service-name': 'web' } }),
      addressType: 'IPv4',
      endpoints: [
        {
          addresses: ['10.244.1.5'],
          conditions: { ready: true, serving: true, terminating: false },
          nodeName: 'n1',
          targetRef: { kind: 'Pod', namespace: 'x', name: 'a', uid: 'uid-a' },
          zone: 'z1',
          hints: { forZones: [{ name: 'z1' }] },
        },
      ],
      ports: [{ name: '', port: 80, protocol: 'TCP' }],
    },
    ignored: [/^endpoints\[0\]\.hints: /],
    check: (o) =>
      assert.deepEqual((o as { endpoints: Array<{ addresses: string[] }> }).endpoints[0]!.addresses, ['10.244.1.5']),
  },
  {
    name: 'a Namespace: spec.finalizers kept, status (its phase) not modelled',
    kind: 'Namespace',
    raw: {
      metadata: meta('x', undefined, { labels: { 'kubernetes.io/metadata.name': 'x' } }),
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    },
    ignored: [],
    check: (o) => assert.deepEqual((o as { spec: unknown }).spec, { finalizers: ['kubernetes'] }),
  },
];

for (const c of cases)
  test(c.name, () => {
    const r = objectFromApi(c.kind, c.raw);
    assert.ok('stored' in r, JSON.stringify(r));
    assert.equal(r.ignored.length, c.ignored.length, r.ignored.join('\n'));
    for (const re of c.ignored)
      assert.ok(
        r.ignored.some((i) => re.test(i)),
        `${re} in ${r.ignored.join('\n')}`,
      );
    c.check?.(r.stored.object);
  });

test('objects weft cannot read are refused whole, with their problems', () => {
  const rows: Array<[string, unknown, RegExp]> = [
    ['no metadata', { spec: {} }, /metadata: missing/],
    [
      'no uid',
      { metadata: { name: 'a', namespace: 'x', resourceVersion: '3' }, spec: { containers: [] } },
      /uid and a numeric resourceVersion/,
    ],
    [
      'an opaque resourceVersion',
      { metadata: { ...meta('a', 'x'), resourceVersion: 'abc' }, spec: {} },
      /numeric resourceVersion/,
    ],
    [
      'a metadata problem',
      { metadata: { ...meta('a', 'x'), labels: { 'bad key!': 'v' } }, spec: { containers: [{ name: 's' }] } },
      /metadata\.labels/,
    ],
  ];
  for (const [name, raw, want] of rows) {
    const r = objectFromApi('Pod', raw);
    assert.ok('problems' in r, name);
    assert.match(r.problems.join('\n'), want, name);
  }
});

test('pod status: an unknown phase is Unknown, conditions weft does not model are left out', () => {
  assert.deepEqual(podStatusFromApi({ phase: 'Weird', conditions: [{ type: 'Ready', status: 'Maybe' }] }), {
    phase: 'Unknown',
    conditions: [],
  });
  assert.equal(podStatusFromApi(undefined), undefined);
});

test('a pod status for the API reports every container (ready with the pod), keeps the ones the kubelet reported, and adds image fields', () => {
  const status = podStatusToApi(
    {
      phase: 'Running',
      podIP: '10.244.0.7',
      hostIP: '10.99.0.1',
      startTime: '2026-12-07T00:00:00Z',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [
        {
          name: 'prog',
          ready: false,
          started: true,
          restartCount: 2,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
        },
      ],
    },
    ['serve', 'prog'],
  );
  assert.deepEqual(status.hostIPs, [{ ip: '10.99.0.1' }]);
  assert.deepEqual(status.containerStatuses, [
    {
      image: 'weft-lab',
      imageID: '',
      name: 'serve',
      ready: true,
      restartCount: 0,
      started: true,
      state: { running: { startedAt: '2026-12-07T00:00:00Z' } },
    },
    {
      image: 'weft-lab',
      imageID: '',
      name: 'prog',
      ready: false,
      started: true,
      restartCount: 2,
      state: { waiting: { reason: 'CrashLoopBackOff' } },
    },
  ]);
  assert.equal(podStatusToApi({ phase: 'Pending' }, ['serve']).containerStatuses, undefined, 'none before it runs');
});

test('a Node as NodeInfo: podCIDR, InternalIP, Flannel backend, readiness and its message only when not ready', () => {
  const node = (status: string, message?: string) =>
    nodeInfoFromApi({
      metadata: { name: 'n1', annotations: { 'flannel.alpha.coreos.com/backend-type': 'vxlan' } },
      spec: { podCIDR: '10.244.1.0/24' },
      status: {
        addresses: [{ type: 'InternalIP', address: '10.99.0.1' }],
        conditions: [{ type: 'Ready', status, lastHeartbeatTime: 't', ...(message ? { message } : {}) }],
      },
    });
  assert.deepEqual(node('True', 'fine'), {
    name: 'n1',
    internalIP: '10.99.0.1',
    podCIDR: '10.244.1.0/24',
    backend: 'vxlan',
    ready: true,
    heartbeat: 't',
  });
  assert.equal(node('False', 'no CNI config yet').message, 'no CNI config yet');
});
