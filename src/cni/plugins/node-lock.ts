/**
 * Runs `fn` holding the node-wide flock `file` (under the plugin's lock dir): the read-modify-
 * writes of the bridge plugin's shared nftables tables (masquerade, pod guard) never interleave.
 */

import { join } from 'node:path';
import type { PluginDeps } from '../deps.js';

export async function underNodeLock<T>(deps: PluginDeps, file: string, fn: () => Promise<T>): Promise<T> {
  const lock = await deps.locker.acquire(join(deps.lockDir, file));
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
