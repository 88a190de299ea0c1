// Unit tests of the lab's flanneld wiring (./peer-flannel.ts) that need no kernel: its command line
// and the CNI config a flannel node gets once flanneld wrote subnet.env. The real flanneld runs in
// test/lab-peers.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabPaths, type LabRecord } from './lab-state.js';
import { ensureFlannelConflist, flanneldArgv, flanneldMissing, flanneldPath } from './peer-flannel.js';
import { CONFLIST_FILE, renderConflist } from '../agent/cni-files.js';
import { parseLabUpOptions } from '../core/lab/lab-spec.js';

const paths = new LabPaths('/run/weft/labs', 'pe1');
const record = (tls: boolean): LabRecord => ({
  spec: parseLabUpOptions({ name: 'pe1', store: 'etcd', peer: ['flannel=n2'] }),
  state: 'up',
  created: 't',
  segmentNs: 'weft-lab-pe1-ul',
  etcdEndpoints: ['https://10.99.0.254:2379'],
  ...(tls ? { etcdTls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' } } : {}),
  nodes: [],
});
const n2 = { name: 'n2', ns: 'weft-lab-pe1-n2', ip: '10.99.0.2', peer: 'flannel' as const };

test("flanneld's command line: etcd mode with the lab's certificate, eth0, ip-masq, the agent's subnet.env and /healthz", () => {
  assert.deepEqual(flanneldArgv(paths, record(true), n2, '/bin/flanneld'), [
    '/bin/flanneld',
    '--etcd-endpoints=https://10.99.0.254:2379',
    '--etcd-prefix=/coreos.com/network',
    '--etcd-cafile=/ca.pem',
    '--etcd-certfile=/c.pem',
    '--etcd-keyfile=/k.pem',
    '--iface=eth0',
    '--ip-masq',
    '--subnet-file=/run/weft/labs/pe1/nodes/n2/run/subnet.env',
    '--healthz-ip=127.0.0.1',
    '--healthz-port=9777',
  ]);
  assert.equal(
    flanneldArgv(paths, record(false), n2, 'f').some((a) => a.startsWith('--etcd-cafile')),
    false,
    "a user's plain-HTTP etcd: no TLS flags",
  );
});

test("flanneld's command line with --api kube: kube-subnet-mgr mode with its own kubeconfig and the lab's net-conf.json file, no etcd", () => {
  const kube: LabRecord = {
    spec: parseLabUpOptions({ name: 'pe1', api: 'kube', peer: ['flannel=n2'] }),
    state: 'up',
    created: 't',
    segmentNs: 'weft-lab-pe1-ul',
    nodes: [],
    api: {
      controlPlane: {
        dir: '/run/weft/labs/pe1/kube',
        logDir: '/run/weft/labs/pe1/log',
        url: 'https://127.0.0.1:40000',
        apiPort: 40000,
        etcdPort: 40001,
        etcdPeerPort: 40002,
        caFile: '/ca.pem',
        adminKubeconfig: '/admin.kubeconfig',
        pids: { etcd: 1, apiserver: 2 },
        apiserverArgv: [],
        serviceAccountKey: '/sa.key',
      },
      gatewayPid: 3,
      nodeUrl: 'https://10.99.0.254:6443',
      adminKubeconfig: '/admin.kubeconfig',
    },
  };
  assert.deepEqual(flanneldArgv(paths, kube, n2, '/bin/flanneld'), [
    '/bin/flanneld',
    '--kube-subnet-mgr',
    '--kubeconfig-file=/run/weft/labs/pe1/kube/nodes/n2/flanneld.kubeconfig',
    '--net-config-path=/run/weft/labs/pe1/net-conf.json',
    '--iface=eth0',
    '--ip-masq',
    '--subnet-file=/run/weft/labs/pe1/nodes/n2/run/subnet.env',
    '--healthz-ip=127.0.0.1',
    '--healthz-port=9777',
  ]);
});

test('flanneld is looked for in the peers cache, and its absence is said with the script to run', () => {
  assert.equal(flanneldPath({ WEFT_PEERS_CACHE: '/c' }), '/c/flannel-v0.28.11/bin/flanneld');
  assert.match(flanneldMissing({ WEFT_PEERS_CACHE: '/nonexistent' }) ?? '', /not built .*run scripts\/build-peers\.sh/);
});

test("a flannel node's conflist: none before flanneld wrote subnet.env, then exactly weft's agent's", () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-peer-flannel-'));
  try {
    const p = new LabPaths(root, 'pe1');
    mkdirSync(p.runDir('n2'), { recursive: true });
    assert.equal(ensureFlannelConflist(p, n2), false);
    assert.equal(existsSync(join(p.cniConfDir('n2'), CONFLIST_FILE)), false);
    writeFileSync(join(p.runDir('n2'), 'subnet.env'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\n');
    assert.equal(ensureFlannelConflist(p, n2), true);
    const written = JSON.parse(readFileSync(join(p.cniConfDir('n2'), CONFLIST_FILE), 'utf8')) as unknown;
    assert.deepEqual(
      written,
      renderConflist({
        runDir: p.runDir('n2'),
        cniConfDir: p.cniConfDir('n2'),
        pluginPrefix: 'weft-',
        ipamDataDir: p.ipamDir('n2'),
        networkName: 'weft',
      }),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
