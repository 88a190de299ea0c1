/**
 * Wake-ups on file changes (inotify through fs.watch), for loops that would otherwise poll a file
 * many times a second: the agents' NetworkPolicy loop and the lab's pod runners watch the lab's
 * SQLite object store, and the runners also watch the files the agent writes for their node.
 * A wake-up only says "look again": the callers re-read and keep a slower poll as a fallback.
 */

import { watch } from 'node:fs';

/** Calls onChange when a file of `dir` whose name starts with `prefix` changes; returns a stop function. */
export function watchDirFiles(dir: string, prefix: string, onChange: () => void): () => void {
  const w = watch(dir, (_event, changed) => {
    // SQLite writes the -wal and -shm files beside the database: they share its name as prefix.
    if (changed === null || String(changed).startsWith(prefix)) onChange();
  });
  // A watch that fails (the directory removed under it) just stops waking; the poll goes on.
  w.on('error', () => undefined);
  return () => w.close();
}
