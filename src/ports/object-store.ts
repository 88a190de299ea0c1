/**
 * ObjectStore: where the lab keeps the Kubernetes objects users apply (the API server's role),
 * the status each pod's node reports for it (the kubelet's status updates: `Pod.status`, as in
 * Kubernetes) and the nodes the pod runners register. One transaction per `weft apply`, so a
 * manifest is stored whole or not at all.
 *
 * Followers of changes do not poll this port: they watch a ClusterSource (cluster-source.ts),
 * which the SQLite store backs with a change log written in the same transaction as each change.
 */

import type { K8sKind, K8sObject, ObjectOfKind, PodStatus } from '../core/k8s/objects.js';
import type { ObjectKey } from '../core/k8s/object-key.js';

export type { ObjectKey } from '../core/k8s/object-key.js';

/** What the store adds to an object: who it is for ever (uid) and when it was made. */
export interface StoredMeta {
  uid: string;
  /** The store revision of the object's last change (of its spec, metadata or status). */
  resourceVersion: number;
  /** ISO 8601, set when the object is created and kept by updates. */
  creationTimestamp: string;
}

export interface Stored<T extends K8sObject = K8sObject> {
  object: T;
  meta: StoredMeta;
}

/** A node as its pod runner registers it (kubelet's Node status). */
export interface NodeInfo {
  name: string;
  /** The node's address on the underlay. */
  internalIP: string;
  /** The node's pod subnet from its agent's lease, when it has one. */
  podCIDR?: string;
  backend?: string;
  ready: boolean;
  /** Why the node is not ready. */
  message?: string;
  /** When the runner last wrote this (ISO 8601); a stale heartbeat means the runner is gone. */
  heartbeat: string;
}

export type CommitAction = 'created' | 'configured' | 'unchanged' | 'deleted';

export interface Change {
  put: K8sObject[];
  delete: ObjectKey[];
}

export interface ObjectStore {
  /**
   * The store's current revision (0 for an empty store): it increases with every commit that
   * changes an object and with every pod status write that changes a status; node heartbeats
   * leave it alone.
   */
  revision(): Promise<number>;
  /** Every stored object of the kind (all kinds when omitted), in key order; [] when none. */
  list<K extends K8sKind>(kind: K): Promise<Stored<ObjectOfKind<K>>[]>;
  list(): Promise<Stored[]>;
  /** The object, or undefined when it is not stored. */
  get(key: ObjectKey): Promise<Stored | undefined>;
  /**
   * Stores the puts and removes the deletes in one transaction, returning one action per put
   * then per delete, in order. An object equal to the stored one is left alone ("unchanged");
   * a pod's `status` in a put is ignored (only setPodStatus writes it, as the API server's status
   * subresource has it). With `ifRevision`, the commit fails with RevisionConflictError (changing
   * nothing) when an object was changed after that revision (status writes do not conflict).
   * Deleting a missing key is "deleted" too.
   */
  commit(change: Change, ifRevision?: number): Promise<CommitAction[]>;
  /**
   * Writes (or, with `undefined`, clears) the status of pod namespace/name, but only while the
   * stored pod is the one with `uid` (a re-created pod has a new uid): false, changing nothing,
   * when there is no such pod. Writing the status it already has changes nothing.
   */
  setPodStatus(namespace: string, name: string, uid: string, status: PodStatus | undefined): Promise<boolean>;
  /**
   * Removes pod namespace/name, but only while the stored pod is the one with `uid`: what the
   * kubelet's final delete does once a gracefully deleted pod's sandbox is gone. False, changing
   * nothing, when there is no such pod.
   */
  removePod(namespace: string, name: string, uid: string): Promise<boolean>;
  /** Every registered node, by name; [] when none. */
  nodes(): Promise<NodeInfo[]>;
  /** Registers or refreshes a node; wakes no watcher (a heartbeat is not a cluster change). */
  putNode(node: NodeInfo): Promise<void>;
  /** Unregisters a node (the lab's remove-node); false when there was none. Wakes no watcher. */
  removeNode(name: string): Promise<boolean>;
  close(): Promise<void>;
}
