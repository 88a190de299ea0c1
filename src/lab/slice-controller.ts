/**
 * The lab's EndpointSlice controller (kube-controller-manager's part): follows Services, Pods and
 * EndpointSlices through the supervisor's cluster cache over the lab's store and writes the
 * managed slices src/core/services/endpoint-slices.ts computes, in one commit per run. It runs
 * inside the lab's supervisor process (`weft lab supervise`), one per lab, on a CacheLoop
 * (./cache-loop.ts): a burst of pod status writes is one commit, and a failed commit is retried
 * on the next change or the next resync (every 10 s).
 */

import type { SqliteObjectStore } from '../adapters/object-store-sqlite.js';
import type { ClusterCache } from '../agent/cluster-cache.js';
import type { Logger } from '../ports/logger.js';
import type { K8sKind } from '../core/k8s/objects.js';
import { sliceChanges } from '../core/services/endpoint-slices.js';

/** The kinds the EndpointSlice controller reads. */
export const SLICE_KINDS: readonly K8sKind[] = ['Service', 'Pod', 'EndpointSlice'];

/** One run: the managed slices the cache's Services and Pods call for, written when they differ. */
export function reconcileSlices(o: {
  cache: ClusterCache;
  store: SqliteObjectStore;
  log: Logger;
}): () => Promise<void> {
  return async () => {
    const changes = sliceChanges(
      o.cache.list('Service').map((s) => s.object),
      o.cache.list('Pod').map((s) => s.object),
      o.cache.list('EndpointSlice').map((s) => s.object),
    );
    if (changes.put.length === 0 && changes.remove.length === 0) return;
    await o.store.commit({
      put: changes.put,
      delete: changes.remove.map((k) => ({ kind: 'EndpointSlice', ...k })),
    });
    o.log.info('endpoint slices written', { put: changes.put.length, removed: changes.remove.length });
  };
}
