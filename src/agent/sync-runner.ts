/**
 * A bounded-frequency runner, as in kube-network-policies and kube-proxy: many triggers (peer
 * events, a config change, a periodic resync) collapse into one sync; syncs never overlap; at most
 * one sync per `minIntervalMs`; a failed sync is retried with exponential backoff (capped), and
 * logged and counted each time, never thrown; a full resync runs every `resyncMs` even with no
 * trigger, so drift in the kernel is repaired.
 */

import type { Clock, TimerHandle } from '../ports/clock.js';

export interface SyncRunnerOptions {
  name: string;
  sync: () => Promise<void>;
  clock: Clock;
  minIntervalMs: number;
  resyncMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  onError: (err: Error, attempt: number) => void;
  onSuccess?: (durationMs: number) => void;
}

export class SyncRunner {
  private timer: TimerHandle | undefined;
  private running = false;
  private pending = false;
  private stopped = false;
  private lastRun = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private idle: Array<() => void> = [];

  constructor(private readonly o: SyncRunnerOptions) {}

  /** Asks for a sync as soon as the rate limit allows. */
  trigger(): void {
    if (this.stopped) return;
    this.pending = true;
    if (this.running) return;
    const wait = Math.max(0, this.lastRun + this.o.minIntervalMs - this.o.clock.now());
    this.schedule(this.failures > 0 ? Math.max(wait, this.backoff()) : wait);
  }

  /** Resolves when no sync is running or pending (for tests and orderly shutdown). */
  whenIdle(): Promise<void> {
    if (!this.running && !this.pending) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.pending = false;
    if (!this.running) this.flushIdle();
  }

  private backoff(): number {
    return Math.min(this.o.backoffMaxMs, this.o.backoffInitialMs * 2 ** Math.max(0, this.failures - 1));
  }

  private schedule(ms: number): void {
    this.timer?.cancel();
    this.timer = this.o.clock.setTimeout(() => void this.run(), ms);
  }

  private flushIdle(): void {
    const waiters = this.idle;
    this.idle = [];
    for (const w of waiters) w();
  }

  private async run(): Promise<void> {
    if (this.stopped || this.running) return;
    this.timer = undefined;
    this.running = true;
    this.pending = false;
    const started = this.o.clock.now();
    this.lastRun = started;
    try {
      await this.o.sync();
      this.failures = 0;
      this.o.onSuccess?.(this.o.clock.now() - started);
    } catch (err) {
      this.failures++;
      this.o.onError(err instanceof Error ? err : new Error(String(err)), this.failures);
      this.pending = true;
    } finally {
      this.running = false;
    }
    if (this.stopped) {
      this.flushIdle();
      return;
    }
    if (this.pending) {
      const wait = Math.max(this.lastRun + this.o.minIntervalMs - this.o.clock.now(), this.failures > 0 ? this.backoff() : 0);
      this.schedule(wait);
    } else {
      this.flushIdle();
      this.schedule(this.o.resyncMs);
    }
  }
}
