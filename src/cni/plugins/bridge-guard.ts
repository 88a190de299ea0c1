/**
 * The bridge plugin's pod guard against the node's nftables: read-modify-write of GUARD_TABLE
 * under a flock, so that concurrent ADDs and DELs on one node never lose each other's elements
 * and never race "delete the empty table" against "add an element". The table itself, and why it
 * exists, is in src/core/nft/pod-guard.ts. The node's agent also deletes pending elements, without
 * the lock: a transaction that finds an element already gone fails whole, so DEL re-reads and
 * tries once more.
 */

import { GUARD_LOCK_FILE, GUARD_TABLE } from '../../core/names.js';
import {
  parseGuardElements,
  renderGuardAdd,
  renderGuardRemove,
  type GuardElement,
  type GuardTarget,
} from '../../core/nft/pod-guard.js';
import type { PluginDeps } from '../deps.js';
import { underNodeLock } from './node-lock.js';

async function currentElements(deps: PluginDeps): Promise<GuardElement[]> {
  const objects = await deps.nft.listTable('bridge', GUARD_TABLE);
  return objects ? parseGuardElements(objects) : [];
}

const underLock = <T>(deps: PluginDeps, fn: () => Promise<T>): Promise<T> => underNodeLock(deps, GUARD_LOCK_FILE, fn);

/** Runs `attempt` on a fresh listing; once more on a second fresh listing if the first failed. */
async function twice(deps: PluginDeps, attempt: (current: GuardElement[]) => Promise<void>): Promise<void> {
  try {
    await attempt(await currentElements(deps));
  } catch {
    // The agent may have lifted a pending element between our listing and our transaction:
    // the transaction changed nothing, and a fresh listing shows what is there now.
    await attempt(await currentElements(deps));
  }
}

/** Guards the attachment's port (replacing whatever a previous ADD of it left). */
export async function addGuard(deps: PluginDeps, tag: string, target: GuardTarget): Promise<void> {
  await underLock(deps, () =>
    twice(deps, (current) =>
      deps.nft.apply(
        renderGuardAdd(tag, target, current),
        `pod guard: add elements for ${tag} to table bridge ${GUARD_TABLE}`,
      ),
    ),
  );
}

/** Removes the attachment's elements, and the table when they were the last. */
export async function removeGuard(deps: PluginDeps, tag: string): Promise<void> {
  if (!(await currentElements(deps)).some((e) => e.comment === tag)) return;
  await underLock(deps, () =>
    twice(deps, async (current) => {
      const tx = renderGuardRemove(tag, current);
      if (!tx.empty) await deps.nft.apply(tx, `pod guard: remove elements of ${tag} from table bridge ${GUARD_TABLE}`);
    }),
  );
}
