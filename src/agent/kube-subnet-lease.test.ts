// Flannel's Node annotations both ways: what weft publishes, and which Nodes are peers (a
// flanneld-annotated Node is one; a Node without podCIDR, annotations or readable data is not).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLANNEL_ANNOTATIONS as A, flannelAnnotations, leaseOfNode } from './kube-subnet-lease.js';

test('the annotations weft publishes are flanneld’s: backend-data JSON (null for host-gw), kube-subnet-manager "true"', () => {
  assert.deepEqual(
    flannelAnnotations({
      publicIp: '10.99.0.1',
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:ff' },
      nodeName: 'n1',
    }),
    {
      [A.publicIp]: '10.99.0.1',
      [A.backendType]: 'vxlan',
      [A.backendData]: '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}',
      [A.kubeSubnetManager]: 'true',
    },
  );
  assert.equal(
    flannelAnnotations({ publicIp: '10.99.0.2', backendType: 'host-gw', backendData: {}, nodeName: 'n2' })[
      A.backendData
    ],
    'null',
  );
});

const node = (annotations: Record<string, string>, podCIDR?: string) => ({
  metadata: { name: 'n2', annotations },
  spec: podCIDR ? { podCIDR } : {},
});
const full = {
  [A.publicIp]: '10.99.0.2',
  [A.backendType]: 'vxlan',
  [A.backendData]: '{"VNI":1,"VtepMAC":"02:00:00:00:00:02"}',
  [A.kubeSubnetManager]: 'true',
};

test('leaseOfNode: which Nodes are peers', () => {
  const now = 1_000;
  const rows: Array<[string, ReturnType<typeof node>, string | RegExp]> = [
    ['a weft or flanneld node', node(full, '10.244.2.0/24'), '10.244.2.0/24 10.99.0.2 vxlan 02:00:00:00:00:02'],
    [
      'a podCIDR in non-canonical form is made canonical',
      node(full, '10.244.2.7/24'),
      '10.244.2.0/24 10.99.0.2 vxlan 02:00:00:00:00:02',
    ],
    [
      'host-gw with null data',
      node({ ...full, [A.backendType]: 'host-gw', [A.backendData]: 'null' }, '10.244.3.0/24'),
      '10.244.3.0/24 10.99.0.2 host-gw -',
    ],
    ['no podCIDR', node(full), /no spec\.podCIDR yet/],
    ['no annotations', node({}, '10.244.2.0/24'), /no Flannel annotations/],
    [
      'backend-data that is not JSON',
      node({ ...full, [A.backendData]: '{' }, '10.244.2.0/24'),
      /flannel\.alpha\.coreos\.com\/backend-data: /,
    ],
    ['backend-data that is a list', node({ ...full, [A.backendData]: '[1]' }, '10.244.2.0/24'), /not a JSON object/],
    ['a podCIDR that is not a CIDR', node(full, 'nope'), /spec\.podCIDR "nope"/],
  ];
  for (const [name, n, want] of rows) {
    const l = leaseOfNode(n, now);
    if (typeof want === 'string') {
      assert.ok(!('skip' in l), `${name}: ${JSON.stringify(l)}`);
      assert.equal(`${l.subnet} ${l.publicIp} ${l.backendType} ${l.backendData.VtepMAC ?? '-'}`, want, name);
      assert.equal(l.nodeName, 'n2');
      assert.ok(l.expiresAt > now, 'a podCIDR does not expire');
    } else {
      assert.ok('skip' in l, name);
      assert.match(l.skip, want, name);
    }
  }
});
