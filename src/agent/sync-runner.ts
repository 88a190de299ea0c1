/**
 * A bounded-frequency runner, as in kube-network-policies and kube-proxy: many triggers (peer
 * events, a config change, a periodic resync) collapse into one sync; syncs never overlap; at most
 * one sync per `minIntervalMs`; a failed sync is retried with exponential backoff (capped), and
 * logged and counted each time, never thrown; a full resync runs every `resyncMs` even with no
 * trigger, so drift in the kernel is repaired.
 *
 * Every agent loop runs on one of these (see src/agent/controller.ts); status() is what the
 * controller reports: syncs and failures so far, the last success and the last error.
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
  /** Called after each failed sync with the consecutive failure count (1 for the first). */
  onError: (err: Error, attempt: number, durationMs: number) => void;
  onSuccess?: (durationMs: number) => void;
}

/** What a runner has done so far. */
export interface SyncRunnerStatus {
  /** Successful syncs. */
  syncs: number;
  /** Failed syncs, in all. */
  failures: number;
  /** Failed syncs since the last success (0 when the last one succeeded). */
  consecutiveFailures: number;
  /** When the last successful sync ended (ms since the epoch). */
  lastSyncAt?: number;
  /** The last sync's error, while it has not succeeded since. */
  lastError?: string;
}

export class SyncRunner {
  private timer: TimerHandle | undefined;
  private running = false;
  private pending = false;
  private stopped = false;
  private lastRun = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private syncs = 0;
  private totalFailures = 0;
  private lastSyncAt: number | undefined;
  private lastError: string | undefined;
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

  status(): SyncRunnerStatus {
    return {
      syncs: this.syncs,
      failures: this.totalFailures,
      consecutiveFailures: this.failures,
      ...(this.lastSyncAt !== undefined ? { lastSyncAt: this.lastSyncAt } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
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
      this.syncs++;
      this.lastSyncAt = this.o.clock.now();
      this.lastError = undefined;
      this.o.onSuccess?.(this.lastSyncAt - started);
    } catch (err) {
      this.failures++;
      this.totalFailures++;
      const e = err instanceof Error ? err : new Error(String(err));
      this.lastError = e.message;
      this.o.onError(e, this.failures, this.o.clock.now() - started);
      this.pending = true;
    } finally {
      this.running = false;
    }
    if (this.stopped) {
      this.flushIdle();
      return;
    }
    if (this.pending) {
      const wait = Math.max(
        this.lastRun + this.o.minIntervalMs - this.o.clock.now(),
        this.failures > 0 ? this.backoff() : 0,
      );
      this.schedule(wait);
    } else {
      this.flushIdle();
      this.schedule(this.o.resyncMs);
    }
  }
}
