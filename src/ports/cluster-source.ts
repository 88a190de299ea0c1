/**
 * ClusterSource: the cluster's objects as a list-then-watch stream, the shape of the Kubernetes
 * API's LIST + WATCH and of client-go / @kubernetes/client-node informers. Consumers (the agent's
 * cluster cache, the lab pod runner) never poll a store: they list each kind once, then receive
 * every change after that revision exactly once and in order.
 *
 * Guarantees every implementation keeps (src/testkit/cluster-source-contract.ts checks them):
 * - `list(kind)` is one consistent snapshot: its items are exactly the kind's objects at
 *   `revision`.
 * - `watch(kinds, from, handler)` delivers every change of those kinds with a revision > `from`,
 *   each once, in revision order, one batch at a time (the next batch waits for the handler's
 *   promise). A change is the whole object after it (for DELETED, its last state) with its
 *   revision. A batch also says the revision the source has been read up to, so a consumer
 *   knows how current it is even when only other kinds changed (Kubernetes' BOOKMARK).
 * - Resuming: a consumer that stops after revision r and watches again from r sees nothing twice
 *   and misses nothing. When r is older than what the source still keeps (its change log was
 *   compacted), `onError` receives RevisionTooOldError (src/core/k8s/object-key.ts) and the watch
 *   ends: the consumer must list again, as on the API server's 410 Gone.
 * - Other errors (the store unreadable) also end the watch through `onError`; the consumer
 *   decides whether to retry.
 *
 * Mapping for a later Kubernetes-API adapter (@kubernetes/client-node): list(kind) is the
 * kind's LIST call (`metadata.resourceVersion` of the list is `revision`); watch is one
 * `Watch.watch(path, { resourceVersion, allowWatchBookmarks: true })` per kind, ADDED / MODIFIED /
 * DELETED passed through, BOOKMARK giving the batch revision, and the 410 Gone status (or an
 * ERROR event with code 410) turned into RevisionTooOldError. resourceVersions are numbers here:
 * etcd's revisions are, and an adapter over an API server that made them opaque would keep a
 * per-kind order only, which is all the consumers rely on (they index per kind).
 */

import type { K8sKind, ObjectOfKind } from '../core/k8s/objects.js';
import type { Stored } from './object-store.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change of one object. Distributes over K, so narrowing on `kind` narrows `object`. */
export type WatchEvent<K extends K8sKind = K8sKind> = K extends K8sKind
  ? {
      type: WatchEventType;
      kind: K;
      /** The object after the change (DELETED: its last state). */
      object: Stored<ObjectOfKind<K>>;
      /** The revision of this change; strictly increasing along a watch. */
      revision: number;
    }
  : never;

export interface WatchBatch<K extends K8sKind = K8sKind> {
  /** In revision order; may be empty when only changes of other kinds were read. */
  events: WatchEvent<K>[];
  /** The source has been read up to this revision: nothing of the kinds is pending at or below it. */
  revision: number;
}

export interface WatchHandler<K extends K8sKind = K8sKind> {
  /** Called once per batch; the next one waits for the returned promise. */
  onBatch(batch: WatchBatch<K>): void | Promise<void>;
  /** The watch has ended with this error (RevisionTooOldError: list again). Not called after stop(). */
  onError(err: Error): void;
}

export interface WatchSubscription {
  /** Ends the watch: no batch is delivered after the returned promise resolves. */
  stop(): Promise<void>;
}

export interface ListResult<K extends K8sKind> {
  /** In key order (namespace, name); [] when there are none. */
  items: Stored<ObjectOfKind<K>>[];
  /** The revision the list is a snapshot of: watch from here. */
  revision: number;
}

export interface ClusterSource {
  list<K extends K8sKind>(kind: K): Promise<ListResult<K>>;
  /** Watches the kinds (a non-empty list) from `fromRevision`, exclusive (see the file comment). */
  watch<K extends K8sKind>(kinds: readonly K[], fromRevision: number, handler: WatchHandler<K>): WatchSubscription;
}
