/**
 * Set elements owned by CNI attachments: the bridge plugin's masquerade table (masq.ts) and its
 * pod guard (pod-guard.ts) keep, in tables shared by every pod of a node, elements whose comment
 * is the attachment's tag, so that ADD can replace and DEL can remove exactly one pod's share by
 * read-modify-write of the listed table. What the two have in common is here.
 */

import type { NftFamily } from './model.js';
import type { Element, Part } from './model.js';
import { parseTable } from './listing.js';
import { tableObj } from './model.js';
import { NftTx } from './tx.js';

/** One element: which set, its key, and its comment (the attachment tag). */
export interface TaggedElement {
  set: string;
  key: readonly Part[];
  comment?: string;
}

export interface TaggedTable {
  family: NftFamily;
  name: string;
}

export function toElement(e: TaggedElement): Element {
  return { key: e.key, ...(e.comment !== undefined ? { comment: e.comment } : {}) };
}

/** Adds or deletes `elements`, one operation per set. */
export function elementOps(
  tx: NftTx,
  t: TaggedTable,
  verb: 'add' | 'delete',
  elements: readonly TaggedElement[],
): void {
  const bySet = new Map<string, Element[]>();
  for (const e of elements) bySet.set(e.set, [...(bySet.get(e.set) ?? []), toElement(e)]);
  for (const [set, list] of bySet) {
    const object = { kind: 'element' as const, family: t.family, table: t.name, set, elements: list };
    if (verb === 'add') tx.add(object);
    else tx.delete(object);
  }
}

/**
 * DEL: removes the attachment's elements, or the whole table when nothing else is left in it.
 * Empty when the attachment has no element (nothing to do, table untouched).
 */
export function renderTaggedRemove(t: TaggedTable, tag: string, current: readonly TaggedElement[]): NftTx {
  const tx = new NftTx();
  const mine = current.filter((e) => e.comment === tag);
  if (mine.length === 0) return tx;
  if (mine.length === current.length) return tx.delete(tableObj(t));
  elementOps(tx, t, 'delete', mine);
  return tx;
}

/** The elements of every set of table `t` in a `nft -j list table` listing. */
export function parseTaggedElements(objects: readonly unknown[], t: TaggedTable): TaggedElement[] {
  const table = parseTable(objects, t.family, t.name);
  return (table?.sets ?? []).flatMap((s) =>
    s.elements.map((e) => ({ set: s.name, key: e.key, ...(e.comment !== undefined ? { comment: e.comment } : {}) })),
  );
}
