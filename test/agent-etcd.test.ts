// The agent scenario on a real etcd (Debian's etcd-server), with Flannel's key layout, starting
// on host-gw (see test/support/agent-suite.ts). etcd runs in the cluster's segment namespace on
// the segment's .254 address, so the agents in the node namespaces reach it over the underlay.
import { agentSuite } from './support/agent-suite.js';
import { EtcdServer } from './support/etcd.js';

const etcd = new EtcdServer({ host: '10.99.0.254' });
agentSuite({
  title: 'weft agent on three nodes, etcd store',
  prefix: 'weft-age-',
  first: 'host-gw',
  storeArgs: () => ['--store', 'etcd', '--etcd-endpoints', etcd.clientUrl, '--etcd-prefix', '/weft-test/network'],
  setup: (segmentNs) => {
    etcd.bindTo(segmentNs);
    return etcd.start();
  },
  teardown: () => etcd.destroy(),
  describeStore: () => `etcd at ${etcd.clientUrl}`,
});
