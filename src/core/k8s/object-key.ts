/**
 * Object identity and the two store errors every object store and cluster source share. They are
 * here (pure core) and not in src/ports/, because ports hold only types: a function or class there
 * would make every adapter and consumer depend on code in the interface layer.
 */

import { namespaceOf, type K8sKind, type K8sObject } from './objects.js';

/** Identity of a stored object; `namespace` is "" for cluster-scoped kinds (Namespace). */
export interface ObjectKey {
  kind: K8sKind;
  namespace: string;
  name: string;
}

export function keyOf(obj: K8sObject): ObjectKey {
  return { kind: obj.kind, namespace: namespaceOf(obj), name: obj.metadata.name };
}

export function sameKey(a: ObjectKey, b: ObjectKey): boolean {
  return a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}

/** "Kind/namespace/name": one string per key, for maps. */
export function keyText(k: ObjectKey): string {
  return `${k.kind}/${k.namespace}/${k.name}`;
}

/** A commit with `ifRevision` found that objects changed after that revision (nothing was written). */
export class RevisionConflictError extends Error {
  override readonly name = 'RevisionConflictError';
}

/**
 * A watch asked to resume from a revision whose changes are no longer kept (the log was
 * compacted past it): the API server's "410 Gone / too old resource version". The consumer must
 * list again and watch from the list's revision.
 */
export class RevisionTooOldError extends Error {
  override readonly name = 'RevisionTooOldError';
  constructor(
    readonly requested: number,
    /** The oldest revision a watch can still start from. */
    readonly oldest: number,
  ) {
    super(`watch from revision ${requested}: too old, the change log starts after revision ${oldest}; list again`);
  }
}
