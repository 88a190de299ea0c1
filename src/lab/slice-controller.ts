/**
 * The lab's EndpointSlice controller (kube-controller-manager's part): follows Services, Pods and
 * EndpointSlices through a cluster cache over the lab's store and writes the managed slices
 * src/core/services/endpoint-slices.ts computes. It runs inside the lab's supervisor process
 * (`weft lab supervise`), one per lab.
 *
 * Changes are coalesced: a burst of pod status writes is one commit. A failed commit is logged
 * and retried on the next change or the next resync (every 10 s).
 */

import type { Logger } from '../ports/logger.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import { ClusterCache } from '../agent/cluster-cache.js';
import { SqliteClusterSource } from '../adapters/cluster-source-sqlite.js';
import type { SqliteObjectStore } from '../adapters/object-store-sqlite.js';
import { sliceChanges } from '../core/services/endpoint-slices.js';

export class SliceController {
  private readonly cache: ClusterCache;
  private running = false;
  private again = false;
  private stopped = false;
  private timer: TimerHandle | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Slices written so far (for the log and tests). */
  writes = 0;

  constructor(
    private readonly o: { store: SqliteObjectStore; path: string; clock: Clock; log: Logger; resyncMs?: number },
  ) {
    this.cache = new ClusterCache({
      source: new SqliteClusterSource({ store: o.store, path: o.path, clock: o.clock }),
      kinds: ['Service', 'Pod', 'EndpointSlice'],
      clock: o.clock,
      log: o.log.with({ component: 'cluster' }),
    });
  }

  async start(): Promise<void> {
    await this.cache.start();
    this.unsubscribe = this.cache.subscribe(['Service', 'Pod', 'EndpointSlice'], () => this.kick());
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.timer?.cancel();
    await this.cache.stop();
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.sync().finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async sync(): Promise<void> {
    this.timer?.cancel();
    try {
      const changes = sliceChanges(
        this.cache.list('Service').map((s) => s.object),
        this.cache.list('Pod').map((s) => s.object),
        this.cache.list('EndpointSlice').map((s) => s.object),
      );
      if (changes.put.length > 0 || changes.remove.length > 0) {
        await this.o.store.commit({
          put: changes.put,
          delete: changes.remove.map((k) => ({ kind: 'EndpointSlice', ...k })),
        });
        this.writes += changes.put.length + changes.remove.length;
        this.o.log.info('endpoint slices written', { put: changes.put.length, removed: changes.remove.length });
      }
    } catch (err) {
      this.o.log.error('cannot write endpoint slices', { error: (err as Error).message });
    } finally {
      if (!this.stopped) this.timer = this.o.clock.setTimeout(() => this.kick(), this.o.resyncMs ?? 10_000);
    }
  }
}
