/**
 * ObjectStore: where the lab keeps the Kubernetes objects users apply (the API server's role),
 * the status the pod runners report for pods (the kubelet's status updates) and the nodes they
 * register. One transaction per `weft apply`, so a manifest is stored whole or not at all.
 *
 * Readers that need to follow object changes poll `revision()`: it increases with every commit
 * that changes an object (not with status or node writes), and costs one indexed read. Readers
 * that also follow statuses (the NetworkPolicy loop needs pod IPs) compare `changeToken()`.
 */

import type { K8sKind, K8sObject } from '../core/k8s/objects.js';

/** Identity of a stored object; `namespace` is "" for cluster-scoped kinds (Namespace). */
export interface ObjectKey {
  kind: K8sKind;
  namespace: string;
  name: string;
}

/** What the store adds to an object: who it is for ever (uid) and when it was made. */
export interface StoredMeta {
  uid: string;
  /** The store revision of the object's last change. */
  resourceVersion: number;
  /** ISO 8601, set when the object is created and kept by updates. */
  creationTimestamp: string;
}

export interface Stored<T extends K8sObject = K8sObject> {
  object: T;
  meta: StoredMeta;
}

export type PodPhase = 'Pending' | 'Running' | 'Failed';

/** What a pod runner reports about one pod it owns. */
export interface PodStatus {
  namespace: string;
  name: string;
  /** The uid of the pod object this status is about (a re-created pod has a new uid). */
  uid: string;
  node: string;
  phase: PodPhase;
  /** Why the pod is Pending or Failed, for `weft get` and errors. */
  message?: string;
  podIP?: string;
  hostIP?: string;
  /** The pod's network namespace name ("" for hostNetwork pods) and CNI container ID. */
  netns: string;
  containerId: string;
  startTime?: string;
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

export class RevisionConflictError extends Error {
  override readonly name = 'RevisionConflictError';
}

export interface ObjectStore {
  /** The current revision of the objects (0 for an empty store). */
  revision(): Promise<number>;
  /**
   * A value that differs after any change of objects or pod statuses, by anyone: equal tokens
   * mean neither changed in between (node heartbeats do not count). One indexed read.
   */
  changeToken(): Promise<string>;
  /** Every stored object of the kind (all kinds when omitted), in key order; [] when none. */
  list(kind?: K8sKind): Promise<Stored[]>;
  /** The object, or undefined when it is not stored. */
  get(key: ObjectKey): Promise<Stored | undefined>;
  /**
   * Stores the puts and removes the deletes in one transaction, returning one action per put
   * then per delete, in order. An object equal to the stored one is left alone ("unchanged").
   * With `ifRevision`, the commit fails with RevisionConflictError (changing nothing) when the
   * store has moved on since that revision was read. Deleting a missing key is "deleted" too.
   */
  commit(change: Change, ifRevision?: number): Promise<CommitAction[]>;
  /** Every pod status; [] when none. */
  podStatuses(): Promise<PodStatus[]>;
  /** Writes (or, with `undefined`, removes) the status of pod namespace/name. */
  setPodStatus(namespace: string, name: string, status: PodStatus | undefined): Promise<void>;
  /** Every registered node, by name; [] when none. */
  nodes(): Promise<NodeInfo[]>;
  putNode(node: NodeInfo): Promise<void>;
  close(): Promise<void>;
}

export function keyOf(obj: K8sObject): ObjectKey {
  return { kind: obj.kind, namespace: obj.kind === 'Namespace' ? '' : obj.metadata.namespace, name: obj.metadata.name };
}

export function sameKey(a: ObjectKey, b: ObjectKey): boolean {
  return a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}
