/**
 * Opens the cluster source an agent is told to follow (`--cluster KIND:ARG`) and the agent's one
 * cluster cache over it: `sqlite:PATH`, a weft lab's object store (the lab's `--objects-file PATH`
 * is an alias), or `kube`, the Kubernetes API server (--kubeconfig or in-cluster config; implied by
 * --kube-subnet-mgr). Nothing that reads the cache knows which.
 */

import { SqliteObjectStore } from '../adapters/object-store-sqlite.js';
import { SqliteClusterSource } from '../adapters/cluster-source-sqlite.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { K8sKind } from '../core/k8s/objects.js';
import { ClusterCache } from './cluster-cache.js';
import { KubeClusterSource } from '../adapters/cluster-source-kube.js';
import type { KubeClient } from '../adapters/kube-api.js';

export interface OpenedCluster {
  cache: ClusterCache;
  /** Stops the cache and closes the source. */
  close(): Promise<void>;
}

export type ClusterSpec = { kind: 'sqlite'; path: string } | { kind: 'kube' };

/** Parses `sqlite:PATH` or `kube` (the API server of --kubeconfig, or in-cluster); throws naming the flag and the value. */
export function parseClusterSpec(spec: string, flag = '--cluster'): ClusterSpec {
  if (spec === 'kube') return { kind: 'kube' };
  const m = /^([a-z]+):(.+)$/.exec(spec);
  if (!m) throw new Error(`${flag}: "${spec}" is not KIND:ARG (expected sqlite:PATH or kube)`);
  if (m[1] === 'kube')
    throw new Error(
      `${flag}: "${spec}": kube takes no argument (the kubeconfig is --kubeconfig PATH, else in-cluster)`,
    );
  if (m[1] !== 'sqlite')
    throw new Error(`${flag}: unknown cluster source kind "${m[1]}" in "${spec}" (expected sqlite:PATH or kube)`);
  return { kind: 'sqlite', path: m[2]! };
}

export function openCluster(
  spec: string,
  kinds: readonly K8sKind[],
  deps: { clock: Clock; log: Logger; kube?: () => Promise<KubeClient> },
): OpenedCluster {
  const parsed = parseClusterSpec(spec);
  if (parsed.kind === 'kube') {
    if (!deps.kube) throw new Error('--cluster kube: needs the Kubernetes API (--kube-subnet-mgr, --kubeconfig)');
    const source = new KubeClusterSource({ client: deps.kube, clock: deps.clock, log: deps.log });
    const cache = new ClusterCache({ source, kinds, clock: deps.clock, log: deps.log });
    return { cache, close: () => cache.stop() };
  }
  const { path } = parsed;
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
