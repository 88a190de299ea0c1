import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addedPod } from './main.js';

test("addedPod: the pod of an ADD from kubelet's CNI_ARGS and the result's first IPv4 address", () => {
  const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=x;K8S_POD_NAME=a;K8S_POD_INFRA_CONTAINER_ID=c1;K8S_POD_UID=u1';
  const out = JSON.stringify({ ips: [{ address: 'fd00::2/64' }, { address: '10.244.1.2/24' }] });
  assert.deepEqual(addedPod(args, out), { namespace: 'x', name: 'a', uid: 'u1', ip: '10.244.1.2' });
  assert.equal(addedPod('IgnoreUnknown=1', out), undefined, 'no pod named: nothing waits');
  assert.equal(addedPod(args, '{}'), undefined, 'no address: nothing waits');
  assert.equal(addedPod(args, 'not json'), undefined);
});
