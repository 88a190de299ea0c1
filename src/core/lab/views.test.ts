import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatAge, nodeRows, podDocument, podRows, renderTable } from './views.js';
import type { Pod } from '../k8s/objects.js';
import type { Stored } from '../../ports/object-store.js';
import { nodePodStatus } from '../k8s/pod-status.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const ages: Array<[number, string]> = [
  [0, '0s'],
  [119, '119s'],
  [120, '2m'],
  [192, '3m12s'],
  [599, '9m59s'],
  [600, '10m'],
  [3 * 3600 - 1, '179m'],
  [3 * 3600, '3h'],
  [3 * 3600 + 300, '3h5m'],
  [8 * 3600, '8h'],
  [47 * 3600, '47h'],
  [48 * 3600, '2d'],
  [3 * 86400 + 4 * 3600, '3d4h'],
  [8 * 86400, '8d'],
  [729 * 86400, '729d'],
  [3 * 365 * 86400, '3y'],
];
for (const [seconds, want] of ages) {
  test(`formatAge ${seconds}s → ${want}`, () => {
    assert.equal(formatAge(new Date(T0).toISOString(), T0 + seconds * 1000), want);
  });
}

test('renderTable: upper-case header, columns padded to the widest cell plus 3, no trailing spaces', () => {
  assert.equal(
    renderTable(
      ['name', 'status'],
      [
        ['a', 'Running'],
        ['longer-name', 'Pending'],
      ],
    ),
    'NAME          STATUS\na             Running\nlonger-name   Pending\n',
  );
});

test("property: every cell starts at its header's column", () => {
  const cell = fc.stringMatching(/^[a-z0-9./-]{1,12}$/);
  fc.assert(
    fc.property(
      fc
        .integer({ min: 1, max: 5 })
        .chain((n) =>
          fc.tuple(
            fc.array(cell, { minLength: n, maxLength: n }),
            fc.array(fc.array(cell, { minLength: n, maxLength: n }), { maxLength: 6 }),
          ),
        ),
      ([header, rows]) => {
        const lines = renderTable(header, rows).trimEnd().split('\n');
        const starts = (line: string) => [...line.matchAll(/(?:^|(?<= ))\S/g)].map((m) => m.index);
        const want = starts(lines[0]!);
        return lines.every((l) => JSON.stringify(starts(l)) === JSON.stringify(want));
      },
    ),
  );
});

const pod: Stored<Pod> = {
  object: {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'a', namespace: 'x', labels: {}, annotations: {} },
    spec: { nodeName: 'n2', hostNetwork: false, containers: [{ name: 's', ports: [] }] },
  },
  meta: { uid: 'u1', resourceVersion: 4, creationTimestamp: '2026-01-01T00:00:00Z' },
};
const running = nodePodStatus({
  phase: 'Running',
  podIP: '10.244.1.2',
  hostIP: '10.99.0.2',
  startTime: '2026-01-01T00:00:01Z',
});
const runningPod: Stored<Pod> = { ...pod, object: { ...pod.object, status: running } };

test('pods: default and wide columns, -A adds NAMESPACE; a pod its node has not reported on is Pending', () => {
  assert.deepEqual(podRows([runningPod], T0 + 5000, {}), {
    header: ['name', 'ready', 'status', 'restarts', 'age'],
    rows: [['a', '1/1', 'Running', '0', '5s']],
  });
  assert.deepEqual(podRows([runningPod], T0 + 5000, { wide: true, allNamespaces: true }).rows, [
    ['x', 'a', '1/1', 'Running', '0', '5s', '10.244.1.2', 'n2'],
  ]);
  assert.deepEqual(podRows([pod], T0, { wide: true }).rows, [['a', '0/1', 'Pending', '0', '0s', '<none>', 'n2']]);
});

test('pods: READY follows the Ready condition (probes); STATUS is Terminating while a graceful deletion runs', () => {
  const notReady: Stored<Pod> = {
    ...pod,
    object: { ...pod.object, status: nodePodStatus({ phase: 'Running', ready: false }) },
  };
  assert.deepEqual(podRows([notReady], T0, {}).rows, [['a', '0/1', 'Running', '0', '0s']]);
  const terminating: Stored<Pod> = {
    ...runningPod,
    object: {
      ...runningPod.object,
      metadata: { ...pod.object.metadata, deletionTimestamp: '2026-01-01T00:00:30Z', deletionGracePeriodSeconds: 30 },
    },
  };
  assert.deepEqual(podRows([terminating], T0, {}).rows, [['a', '1/1', 'Terminating', '0', '0s']]);
  const doc = podDocument(terminating) as { metadata: Record<string, unknown> };
  assert.equal(doc.metadata.deletionTimestamp, '2026-01-01T00:00:30Z');
  assert.equal(doc.metadata.deletionGracePeriodSeconds, 30);
});

test('pod document: store metadata and the status kubectl shows', () => {
  const doc = podDocument(runningPod) as { metadata: Record<string, unknown>; status: Record<string, unknown> };
  assert.equal(doc.metadata.uid, 'u1');
  assert.equal(doc.metadata.resourceVersion, '4');
  assert.deepEqual(doc.status, {
    phase: 'Running',
    hostIP: '10.99.0.2',
    podIP: '10.244.1.2',
    podIPs: [{ ip: '10.244.1.2' }],
    conditions: [
      { type: 'PodScheduled', status: 'True' },
      { type: 'Ready', status: 'True' },
    ],
    startTime: '2026-01-01T00:00:01Z',
  });
  assert.deepEqual((podDocument(pod) as { status: unknown }).status, { phase: 'Pending' });
});

test('nodes: natural order, Ready/NotReady, <none> for a node without a lease yet', () => {
  const rows = nodeRows(
    [
      { name: 'n10', internalIP: '10.99.0.10', ready: false, heartbeat: 't', message: 'no lease' },
      { name: 'n2', internalIP: '10.99.0.2', podCIDR: '10.244.7.0/24', backend: 'vxlan', ready: true, heartbeat: 't' },
    ],
    T0,
    {},
  ).rows;
  assert.deepEqual(rows, [
    ['n2', 'Ready', '10.244.7.0/24', '10.99.0.2', 'vxlan'],
    ['n10', 'NotReady', '<none>', '10.99.0.10', '<none>'],
  ]);
});

test('nodes of a lab of several segments: a SEGMENT column after PUBLIC-IP; one segment: none', () => {
  const nodes = [
    { name: 'n1', internalIP: '10.99.0.1', podCIDR: '10.244.1.0/24', backend: 'vxlan', ready: true, heartbeat: 't' },
    { name: 'n2', internalIP: '10.99.1.2', podCIDR: '10.244.2.0/24', backend: 'vxlan', ready: true, heartbeat: 't' },
    { name: 'n9', internalIP: '192.0.2.9', ready: false, heartbeat: 't' },
  ];
  const two = nodeRows(nodes, T0, { segments: 2 });
  assert.deepEqual(two.header, ['name', 'status', 'subnet', 'public-ip', 'segment', 'backend']);
  assert.deepEqual(
    two.rows.map((r) => [r[0], r[4]]),
    [
      ['n1', '10.99.0.0/24'],
      ['n2', '10.99.1.0/24'],
      ['n9', '<none>'],
    ],
  );
  assert.deepEqual(nodeRows(nodes, T0, { segments: 1 }), nodeRows(nodes, T0, {}));
  assert.equal(nodeRows(nodes, T0, {}).header.includes('segment'), false);
  assert.deepEqual(nodeRows(nodes, T0, { segments: 2, wide: true }).header.slice(4), [
    'segment',
    'backend',
    'heartbeat',
    'message',
  ]);
});

test('nodes of a lab with peers: an AGENT column after BACKEND says which daemon each node runs', () => {
  const nodes = [
    { name: 'n1', internalIP: '10.99.0.1', podCIDR: '10.244.1.0/24', backend: 'vxlan', ready: true, heartbeat: 't' },
    { name: 'n2', internalIP: '10.99.0.2', podCIDR: '10.244.2.0/24', backend: 'vxlan', ready: true, heartbeat: 't' },
    { name: 'n3', internalIP: '10.99.0.3', ready: false, heartbeat: 't' },
  ];
  const t = nodeRows(nodes, T0, { daemons: { n1: 'weft', n2: 'flanneld' } });
  assert.deepEqual(t.header, ['name', 'status', 'subnet', 'public-ip', 'backend', 'agent']);
  assert.deepEqual(
    t.rows.map((r) => [r[0], r[5]]),
    [
      ['n1', 'weft'],
      ['n2', 'flanneld'],
      ['n3', '<unknown>'],
    ],
  );
  assert.equal(nodeRows(nodes, T0, {}).header.includes('agent'), false);
});
