/**
 * ClusterSource over the lab's SQLite object store (object-store-sqlite.ts), for watchers in any
 * process that shares the file: the agents' cluster caches and the lab's pod runners.
 *
 * Exactness comes from the change log, never from the wake-up: each watch remembers the last
 * revision it delivered and reads the log after it. What only decides *when* it reads:
 * - an inotify wake (fs.watch on the store's directory: the file, its -wal and -shm) whenever any
 *   process writes, and a second look `recheckMs` later, since a wake can come a moment before the
 *   commit it announces is visible (SQLite appends to the WAL, then publishes the commit);
 * - a slow fallback poll (`pollMs`), for file systems where inotify says nothing.
 * Node heartbeats write the file too; they wake the reader, which finds no new log rows and
 * delivers nothing, so they wake no consumer.
 */

import type { Clock, TimerHandle } from '../ports/clock.js';
import type { K8sKind } from '../core/k8s/objects.js';
import type {
  ClusterSource,
  ListResult,
  WatchBatch,
  WatchHandler,
  WatchSubscription,
} from '../ports/cluster-source.js';
import type { SqliteObjectStore } from './object-store-sqlite.js';
import { watchFile } from './file-watch.js';

export interface SqliteClusterSourceOptions {
  store: SqliteObjectStore;
  /** The store's file, for the inotify wake; without it only the poll wakes watchers. */
  path?: string;
  clock: Clock;
  /** Fallback poll (ms, default 5000: inotify wakes a watch at once on a local file system). */
  pollMs?: number;
  /** The second look after a wake (ms, default 20). */
  recheckMs?: number;
  /** Log rows read per batch (default 1000). */
  pageSize?: number;
  /** Subscribes to changes of a file (default: fs.watch, see file-watch.ts); returns the stop. */
  watchFile?: (path: string, onChange: () => void) => () => void;
}

export class SqliteClusterSource implements ClusterSource {
  constructor(private readonly o: SqliteClusterSourceOptions) {}

  async list<K extends K8sKind>(kind: K): Promise<ListResult<K>> {
    return this.o.store.snapshot(kind);
  }

  watch<K extends K8sKind>(kinds: readonly K[], fromRevision: number, handler: WatchHandler<K>): WatchSubscription {
    if (kinds.length === 0) throw new Error('watch: no kinds given (watch at least one kind)');
    const o = this.o;
    let last = fromRevision;
    /** stop() was called. */
    let stopped = false;
    /** The watch ended with an error (handed to onError once). */
    let ended = false;
    let wanted = true;
    let loop: Promise<void> | undefined;
    let poll: TimerHandle | undefined;
    let recheck: TimerHandle | undefined;
    let unwatch: (() => void) | undefined;

    const release = () => {
      poll?.cancel();
      recheck?.cancel();
      unwatch?.();
      unwatch = undefined;
    };
    const end = (err: Error) => {
      ended = true;
      release();
      if (!stopped) handler.onError(err);
    };
    const drain = async (): Promise<void> => {
      while (wanted && !stopped && !ended) {
        wanted = false;
        for (;;) {
          let batch: WatchBatch<K>;
          try {
            batch = o.store.changesSince(last, kinds, o.pageSize ?? 1000) as WatchBatch<K>;
          } catch (err) {
            end(err as Error);
            return;
          }
          if (batch.revision <= last) break;
          last = batch.revision;
          try {
            await handler.onBatch(batch);
          } catch (err) {
            // A handler that throws loses no change: the batch counts as delivered (it was), and
            // the error is the handler's to report; the watch ends so that it is not ignored.
            end(new Error(`watch ${kinds.join(',')}: handler failed at revision ${batch.revision}`, { cause: err }));
            return;
          }
          if (stopped) return;
        }
      }
    };
    const kick = () => {
      wanted = true;
      loop ??= drain().finally(() => {
        loop = undefined;
        if (wanted && !stopped && !ended) kick();
      });
    };
    const onWake = () => {
      kick();
      recheck ??= o.clock.setTimeout(() => {
        recheck = undefined;
        kick();
      }, o.recheckMs ?? 20);
    };
    const tick = () => {
      if (stopped || ended) return;
      // Armed before the read, which may end the watch (and cancel it) synchronously.
      poll = o.clock.setTimeout(tick, o.pollMs ?? 5000);
      kick();
    };
    unwatch = o.path === undefined ? undefined : (o.watchFile ?? watchFile)(o.path, onWake);
    tick();
    return {
      async stop() {
        stopped = true;
        release();
        await loop;
      },
    };
  }
}
