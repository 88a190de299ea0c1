/**
 * The bridge plugin's ipMasq against the node's nftables: read-modify-write of MASQ_TABLE under a
 * flock, so that concurrent ADDs and DELs on one node (the runtime runs them in parallel) never
 * lose each other's elements and never race "delete the empty table" against "add an element".
 * The rules themselves come from src/core/nft/masq.ts.
 */

import { MASQ_LOCK_FILE, MASQ_TABLE } from '../../core/names.js';
import {
  parseMasqElements,
  renderMasqAdd,
  renderMasqRemove,
  type MasqElement,
  type MasqTarget,
} from '../../core/nft/masq.js';
import type { PluginDeps } from '../deps.js';
import { underNodeLock } from './node-lock.js';

async function currentElements(deps: PluginDeps): Promise<MasqElement[]> {
  const objects = await deps.nft.listTable('inet', MASQ_TABLE);
  return objects ? parseMasqElements(objects) : [];
}

const underLock = <T>(deps: PluginDeps, fn: () => Promise<T>): Promise<T> => underNodeLock(deps, MASQ_LOCK_FILE, fn);

/** Masquerades the attachment's addresses (replacing any elements a previous ADD of it left). */
export async function addMasq(deps: PluginDeps, tag: string, targets: readonly MasqTarget[]): Promise<void> {
  if (targets.length === 0) return;
  await underLock(deps, async () => {
    const tx = renderMasqAdd(tag, targets, await currentElements(deps));
    await deps.nft.apply(tx, `ipMasq: add elements for ${tag} to table inet ${MASQ_TABLE}`);
  });
}

/**
 * Removes the attachment's elements, and the table when they were the last. Whatever the config
 * says now: elements carrying this tag can only come from this attachment's ADD.
 */
export async function removeMasq(deps: PluginDeps, tag: string): Promise<void> {
  // A lock-free look first: most DELs (ipMasq off, or already removed) have nothing to do.
  if (!(await currentElements(deps)).some((e) => e.comment === tag)) return;
  await underLock(deps, async () => {
    const tx = renderMasqRemove(tag, await currentElements(deps));
    await deps.nft.apply(tx, `ipMasq: remove elements of ${tag} from table inet ${MASQ_TABLE}`);
  });
}
