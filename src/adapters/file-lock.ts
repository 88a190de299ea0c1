/**
 * flock(2)-based FileLocker. Node has no flock of its own, so this uses the small native fs-ext
 * module. The lock is tied to the open file description: if the process dies, the kernel drops it,
 * so a crashed plugin never leaves a network locked.
 */

import { mkdirSync, openSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import fsExt from 'fs-ext';
import type { FileLocker, LockHandle } from '../ports/lock.js';

export class FlockLocker implements FileLocker {
  async acquire(path: string): Promise<LockHandle> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    const fd = openSync(path, 'a', 0o644);
    try {
      await new Promise<void>((resolve, reject) => fsExt.flock(fd, 'ex', (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      closeSync(fd);
      throw new Error(`lock ${path}: ${(err as Error).message}`, { cause: err });
    }
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        // Closing the descriptor drops the flock.
        closeSync(fd);
      },
    };
  }
}
