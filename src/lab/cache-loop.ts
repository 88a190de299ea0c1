/**
 * The loop the lab's own controllers run on (the EndpointSlice controller, the gateway's
 * load-balancer routes): a reconcile function woken by changes of the kinds it reads in a cluster
 * cache, and every `resyncMs` in any case. Wakes that come while a reconcile runs are merged into
 * one more run after it, so a burst of changes costs one or two runs, never one per change. A
 * failed run is logged and retried on the next wake or resync; nothing is lost, since every run
 * starts from the cache's whole state.
 */

import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { K8sKind } from '../core/k8s/objects.js';
import type { ClusterCache } from '../agent/cluster-cache.js';

export interface CacheLoopOptions {
  cache: ClusterCache;
  kinds: readonly K8sKind[];
  /** Brings the world in step with the cache; throws to be logged and retried. */
  reconcile: () => Promise<void>;
  /** What the loop does, for its error lines. */
  what: string;
  clock: Clock;
  log: Logger;
  resyncMs?: number;
}

export class CacheLoop {
  private running = false;
  private again = false;
  private stopped = false;
  private timer: TimerHandle | undefined;
  private readonly unsubscribe: () => void;

  constructor(private readonly o: CacheLoopOptions) {
    this.unsubscribe = o.cache.subscribe(o.kinds, () => this.kick());
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    this.timer?.cancel();
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async run(): Promise<void> {
    this.timer?.cancel();
    try {
      await this.o.reconcile();
    } catch (err) {
      this.o.log.error(`cannot ${this.o.what}`, { error: (err as Error).message });
    } finally {
      if (!this.stopped) this.timer = this.o.clock.setTimeout(() => this.kick(), this.o.resyncMs ?? 10_000);
    }
  }
}
