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

test('checkFlags: the Kubernetes datastore flags, refused in combinations that cannot take effect', async () => {
  const { checkFlags } = await import('./main.js');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'weft-flags-'));
  try {
    const netConf = join(dir, 'net-conf.json');
    writeFileSync(netConf, '{"Network":"10.244.0.0/16"}');
    const base = {
      store: 'embedded',
      storeFile: join(dir, 'store.db'),
      etcdEndpoints: '',
      etcdPrefix: '/coreos.com/network',
      runDir: dir,
      cniConfDir: dir,
      ipamDataDir: dir,
      pluginPrefix: 'weft-',
      nodeName: 'n1',
      ipMasq: true,
      leaseTtl: '24h',
      resync: '30s',
      metricsAddr: '127.0.0.1:9777',
    };
    assert.throws(() => checkFlags({ ...base, kubeSubnetMgr: true }), /--kube-subnet-mgr: needs --net-conf FILE/);
    assert.throws(
      () => checkFlags({ ...base, kubeSubnetMgr: true, netConf, store: 'etcd' }),
      /--store etcd: not with --kube-subnet-mgr/,
    );
    assert.throws(
      () => checkFlags({ ...base, kubeconfig: '/k' }),
      /--kubeconfig: only with --kube-subnet-mgr or --cluster kube/,
    );
    assert.equal(checkFlags({ ...base, kubeSubnetMgr: true, netConf }).netConfText, '{"Network":"10.244.0.0/16"}');
    assert.doesNotThrow(() => checkFlags({ ...base, cluster: 'kube', kubeconfig: '/k' }));
    // --no-services leaves Services to another proxy: only meaningful where the agent follows a cluster.
    assert.throws(
      () => checkFlags({ ...base, services: false }),
      /--no-services: the agent programs Services only when it follows a cluster/,
    );
    for (const follow of [{ kubeSubnetMgr: true, netConf }, { cluster: 'kube' }, { objectsFile: join(dir, 'o.db') }])
      assert.doesNotThrow(() => checkFlags({ ...base, ...follow, services: false }), JSON.stringify(follow));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
