// Unit tests of the lab's kube-proxy wiring (./peer-kube-proxy.ts) that need no kernel: its command
// line. The real kube-proxy runs in test/services-kube-proxy.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LabPaths, type LabRecord } from './lab-state.js';
import { kubeProxyArgv } from './peer-kube-proxy.js';
import { parseLabUpOptions } from '../core/lab/lab-spec.js';

test("kube-proxy's command line: nftables mode as its ServiceAccount, its Node and address, the lab's pod network, no host-wide sysctl", () => {
  const paths = new LabPaths('/run/weft/labs', 'kp1');
  const record: LabRecord = {
    spec: parseLabUpOptions({ name: 'kp1', api: 'kube', services: 'kube-proxy', network: '10.240.0.0/16' }),
    state: 'up',
    created: 't',
    segmentNs: 'weft-lab-kp1-ul',
    nodes: [],
  };
  const n3 = { name: 'n3', ns: 'weft-lab-kp1-n3', ip: '10.99.0.3' };
  assert.deepEqual(kubeProxyArgv(paths, record, n3, '/bin/kube-proxy'), [
    '/bin/kube-proxy',
    '--kubeconfig=/run/weft/labs/kp1/kube/nodes/n3/kube-proxy.kubeconfig',
    '--proxy-mode=nftables',
    '--hostname-override=n3',
    '--bind-address=10.99.0.3',
    '--cluster-cidr=10.240.0.0/16',
    '--healthz-bind-address=0.0.0.0:10256',
    '--metrics-bind-address=127.0.0.1:10249',
    '--conntrack-max-per-core=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
    '--oom-score-adj=0',
  ]);
});
