/**
 * Lock: a cross-process exclusive lock on a file, released when the holder calls release() or
 * exits. weft uses flock(2) so that its host-local plugin and the reference one (which also
 * flocks `<dataDir>/<network>/lock`) exclude each other.
 */

export interface LockHandle {
  release(): Promise<void>;
}

export interface FileLocker {
  /** Blocks until the lock on `path` is held; creates the file (and its directory) if missing. */
  acquire(path: string): Promise<LockHandle>;
}
