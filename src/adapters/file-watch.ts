/**
 * Wake-ups on file changes (inotify through fs.watch), for loops that would otherwise poll a file
 * many times a second: the SQLite cluster source (cluster-source-sqlite.ts) reads its change log
 * when the lab's object store changes, and the lab's pod runners watch the files the agent writes
 * for their node. A wake-up only says "look again": the callers re-read and keep a slower poll as
 * a fallback.
 */

import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Calls onChange when the file at `path` changes, or a file beside it whose name starts with its
 * name: SQLite's -wal and -shm files, and the temporary files that atomic writes rename into
 * place. Watches the directory, so the file may be replaced or not exist yet. Returns a stop
 * function.
 */
export function watchFile(path: string, onChange: () => void): () => void {
  const name = basename(path);
  const w = watch(dirname(path), (_event, changed) => {
    if (changed === null || String(changed).startsWith(name)) onChange();
  });
  // A watch that fails (the directory removed under it) just stops waking; the poll goes on.
  w.on('error', () => undefined);
  return () => w.close();
}
