// The ClusterSource contract against the in-memory fake.
import { FakeCluster } from './cluster-source-fake.js';
import { runClusterSourceContract } from './cluster-source-contract.js';

runClusterSourceContract('fake', async (opts) => {
  const cluster = new FakeCluster(opts);
  return { store: cluster, source: cluster.source(), close: async () => undefined };
});
