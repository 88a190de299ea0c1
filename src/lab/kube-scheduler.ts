/**
 * The lab's scheduler with `--api kube`: a pod created without spec.nodeName (by `kubectl apply`)
 * is bound to a node with a Binding, as kube-scheduler does (POST pods/NAME/binding). The choice is
 * the lab's own spreading: among the Ready nodes, the one with the fewest pods (by name on a tie),
 * the same rule `weft apply` uses when it places pods itself. No resources, affinities or taints:
 * the lab's pods have none that could differ between its nodes.
 */

import type { ClusterCache } from '../agent/cluster-cache.js';
import type { Logger } from '../ports/logger.js';
import type { NodeInfo } from '../ports/object-store.js';
import { KubeApiError, type KubeClient } from '../adapters/kube-api.js';

/** The node for a new pod: the Ready node with the fewest pods, by name on a tie; undefined when none is Ready. */
export function pickNode(nodes: readonly NodeInfo[], podsPerNode: ReadonlyMap<string, number>): string | undefined {
  return nodes
    .filter((n) => n.ready)
    .map((n) => ({ name: n.name, pods: podsPerNode.get(n.name) ?? 0 }))
    .sort((a, b) => a.pods - b.pods || a.name.localeCompare(b.name))[0]?.name;
}

export interface SchedulerOptions {
  /** Follows Pods (all of them: the count per node is part of the choice). */
  cache: ClusterCache;
  client: KubeClient;
  nodes: () => Promise<NodeInfo[]>;
  log: Logger;
}

/** One pass: binds every unscheduled, undeleted pod. */
export function reconcileScheduling(o: SchedulerOptions): () => Promise<void> {
  // The bindings made, by pod uid, until the cache shows them: a pass that comes before the
  // cache has seen the last pass's bindings still counts them (or it would place pods twice on
  // the same node, and bind a pod twice).
  const bound = new Map<string, string>();
  return async () => {
    const pods = o.cache.list('Pod');
    const nodeOf = (p: (typeof pods)[number]) => p.object.spec.nodeName || bound.get(p.meta.uid);
    for (const p of pods) if (p.object.spec.nodeName) bound.delete(p.meta.uid);
    const live = new Set(pods.map((p) => p.meta.uid));
    for (const uid of bound.keys()) if (!live.has(uid)) bound.delete(uid);
    const waiting = pods.filter((p) => !nodeOf(p) && !p.object.metadata.deletionTimestamp);
    if (waiting.length === 0) return;
    const perNode = new Map<string, number>();
    for (const p of pods) {
      const n = nodeOf(p);
      if (n) perNode.set(n, (perNode.get(n) ?? 0) + 1);
    }
    const nodes = await o.nodes();
    for (const p of waiting) {
      const { namespace, name } = p.object.metadata;
      const node = pickNode(nodes, perNode);
      if (!node) {
        o.log.warn('no Ready node for a pod: it stays Pending', { pod: `${namespace}/${name}` });
        return;
      }
      try {
        await o.client.request(
          'POST',
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/binding`,
          {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name, namespace, uid: p.meta.uid },
            target: { apiVersion: 'v1', kind: 'Node', name: node },
          },
        );
        perNode.set(node, (perNode.get(node) ?? 0) + 1);
        bound.set(p.meta.uid, node);
        o.log.info('pod bound', { pod: `${namespace}/${name}`, node });
      } catch (err) {
        // Bound meanwhile (409) or gone (404): the next pass sees the pod as it is now.
        if (!(err instanceof KubeApiError && (err.code === 409 || err.code === 404))) throw err;
      }
    }
  };
}
