/**
 * Opens the cluster source an agent is told to follow (`--cluster KIND:ARG`) and the agent's one
 * cluster cache over it. Today the only kind is `sqlite:PATH`, a weft lab's object store (the
 * lab's `--objects-file PATH` is an alias); a Kubernetes API source (`kube:` with a kubeconfig)
 * would be added here and nothing that reads the cache would change.
 */

import { SqliteObjectStore } from '../adapters/object-store-sqlite.js';
import { SqliteClusterSource } from '../adapters/cluster-source-sqlite.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { K8sKind } from '../core/k8s/objects.js';
import { ClusterCache } from './cluster-cache.js';

export interface OpenedCluster {
  cache: ClusterCache;
  /** Stops the cache and closes the source. */
  close(): Promise<void>;
}

/** Parses `sqlite:PATH`; throws naming the flag and the value. */
export function parseClusterSpec(spec: string, flag = '--cluster'): { kind: 'sqlite'; path: string } {
  const m = /^([a-z]+):(.+)$/.exec(spec);
  if (!m) throw new Error(`${flag}: "${spec}" is not KIND:ARG (expected sqlite:PATH)`);
  if (m[1] !== 'sqlite')
    throw new Error(`${flag}: unknown cluster source kind "${m[1]}" in "${spec}" (expected sqlite:PATH)`);
  return { kind: 'sqlite', path: m[2]! };
}

export function openCluster(
  spec: string,
  kinds: readonly K8sKind[],
  deps: { clock: Clock; log: Logger },
): OpenedCluster {
  const { path } = parseClusterSpec(spec);
  const store = new SqliteObjectStore(path, deps.clock);
  const source = new SqliteClusterSource({ store, path, clock: deps.clock });
  const cache = new ClusterCache({ source, kinds, clock: deps.clock, log: deps.log });
  return {
    cache,
    async close() {
      await cache.stop();
      await store.close();
    },
  };
}
