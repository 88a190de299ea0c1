/**
 * The one shape of every agent loop (subnet lease, backend, ip-masq, CNI files, the CNI socket,
 * NetworkPolicy): a Controller has a name, a start, a stop and a status, and the runtime
 * (src/agent/controller-runtime.ts) starts them in order, stops them in reverse, and reports
 * their statuses to /healthz, /metrics and the node status document.
 *
 * SyncController is a controller made of one sync function on one SyncRunner (bounded frequency,
 * backoff on failure, periodic resync): it counts and times every sync in the metrics registry,
 * logs each failure once with its error, and never dies of one.
 */

import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';
import {
  CONTROLLER_LAST_SYNC,
  CONTROLLER_READY,
  CONTROLLER_SYNC_ERRORS,
  CONTROLLER_SYNC_SECONDS,
  CONTROLLER_SYNCS,
} from '../core/metrics.js';
import { SyncRunner } from './sync-runner.js';

/** Where a controller is in its life. */
export type ControllerState =
  /** Not started yet (a controller before it is still starting). */
  | 'pending'
  /** Started, first sync not done yet (or still retrying its start-up, e.g. a store that does not answer). */
  | 'starting'
  /** Its last sync succeeded. */
  | 'ready'
  /** Its last sync failed; it retries with backoff and the kernel keeps what was applied last. */
  | 'failing'
  /** Its last sync succeeded but found a problem it works around (e.g. conflicting leases), named in lastError. */
  | 'degraded'
  | 'stopped';

export interface ControllerStatus {
  name: string;
  state: ControllerState;
  /** True only in state 'ready'. */
  ready: boolean;
  /** When the last successful sync ended (ms since the epoch). */
  lastSyncAt?: number;
  /** The last error, while it has not synced successfully since. */
  lastError?: string;
  /** What it has applied, in its own terms (the subnet held, the objects revision enforced, …). */
  revision?: string;
  /** When `revision` was applied (ms since the epoch). */
  revisionAt?: number;
  /** Successful syncs. */
  syncs: number;
  /** Failed syncs, in all. */
  failures: number;
  /** One line for people (why it is not ready, or what it does). */
  message?: string;
  /** Something a person should act on that leaves it ready (peers the backend cannot serve). */
  warning?: string;
}

export interface Controller {
  readonly name: string;
  /**
   * Starts the controller and resolves once its dependents may start (its first sync
   * succeeded). Failures that may pass (a store that does not answer yet, a kernel that says no)
   * are retried for ever with capped backoff, and status() says so meanwhile; it rejects only on
   * an error retrying cannot fix (a bad config). stop() during start() makes start() resolve.
   */
  start(): Promise<void>;
  /** Stops its loops; leaves what it applied in the kernel. */
  stop(): Promise<void>;
  status(): ControllerStatus;
}

export interface SyncTiming {
  minIntervalMs: number;
  resyncMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

export interface SyncControllerOptions {
  name: string;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  timing: SyncTiming;
  /**
   * One pass towards the desired state. Resolves with what is now applied (see
   * ControllerStatus.revision), or undefined when it does not name one.
   */
  sync: () => Promise<string | undefined>;
  /** A problem the last sync worked around (the controller is then 'degraded', not ready), if any. */
  problem?: () => string | undefined;
  /**
   * Something the last sync could not do that leaves the controller ready (host-gw peers on
   * another segment: the near ones are served), shown as the status's warning; undefined when none.
   */
  warning?: () => string | undefined;
}

/** Counts, times and reports one controller's syncs in the metrics registry. */
export class ControllerMetrics {
  private readonly syncs;
  private readonly errors;
  private readonly seconds;
  private readonly ready;
  private readonly lastSync;

  constructor(
    private readonly controller: string,
    metrics: Metrics,
  ) {
    this.syncs = metrics.counter(CONTROLLER_SYNCS);
    this.errors = metrics.counter(CONTROLLER_SYNC_ERRORS);
    this.seconds = metrics.histogram(CONTROLLER_SYNC_SECONDS);
    this.ready = metrics.gauge(CONTROLLER_READY);
    this.lastSync = metrics.gauge(CONTROLLER_LAST_SYNC);
    this.ready.set(0, { controller });
  }

  succeeded(durationMs: number, at: number): void {
    this.syncs.inc({ controller: this.controller, result: 'ok' });
    this.seconds.observe(durationMs / 1000, { controller: this.controller });
    this.lastSync.set(Math.round(at / 1000), { controller: this.controller });
  }

  failed(durationMs: number | undefined): void {
    this.syncs.inc({ controller: this.controller, result: 'error' });
    this.errors.inc({ controller: this.controller });
    if (durationMs !== undefined) this.seconds.observe(durationMs / 1000, { controller: this.controller });
  }

  setReady(ready: boolean): void {
    this.ready.set(ready ? 1 : 0, { controller: this.controller });
  }
}

export class SyncController implements Controller {
  readonly name: string;
  private readonly runner: SyncRunner;
  private readonly m: ControllerMetrics;
  private started = false;
  private stopped = false;
  private revision: string | undefined;
  private revisionAt: number | undefined;

  constructor(private readonly o: SyncControllerOptions) {
    this.name = o.name;
    this.m = new ControllerMetrics(o.name, o.metrics);
    this.runner = new SyncRunner({
      name: o.name,
      clock: o.clock,
      ...o.timing,
      sync: async () => {
        const rev = await o.sync();
        if (rev !== undefined && rev !== this.revision) {
          this.revision = rev;
          this.revisionAt = o.clock.now();
        }
      },
      onSuccess: (ms) => {
        this.m.succeeded(ms, o.clock.now());
        this.m.setReady(o.problem?.() === undefined);
      },
      onError: (err, attempt, ms) => {
        this.m.failed(ms);
        this.m.setReady(false);
        o.log.error(`${o.name} sync failed; will retry`, { controller: o.name, attempt, error: err.message });
      },
    });
  }

  /** Asks for a sync (coalesced, rate-limited); nothing before start(), which syncs first itself. */
  trigger(): void {
    if (!this.started) return;
    this.runner.trigger();
  }

  async start(): Promise<void> {
    this.started = true;
    this.runner.trigger();
    await this.runner.whenIdle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.runner.stop();
    this.m.setReady(false);
    await this.runner.whenIdle();
  }

  status(): ControllerStatus {
    const r = this.runner.status();
    const state: ControllerState = this.stopped
      ? 'stopped'
      : !this.started
        ? 'pending'
        : r.consecutiveFailures > 0
          ? 'failing'
          : r.syncs > 0
            ? 'ready'
            : 'starting';
    const problem = state === 'ready' ? this.o.problem?.() : undefined;
    if (problem !== undefined) return { ...this.statusOf('degraded', r), lastError: problem };
    const warning = state === 'ready' ? this.o.warning?.() : undefined;
    return { ...this.statusOf(state, r), ...(warning !== undefined ? { warning } : {}) };
  }

  private statusOf(state: ControllerState, r: ReturnType<SyncRunner['status']>): ControllerStatus {
    return {
      name: this.name,
      state,
      ready: state === 'ready',
      syncs: r.syncs,
      failures: r.failures,
      ...(r.lastSyncAt !== undefined ? { lastSyncAt: r.lastSyncAt } : {}),
      ...(r.lastError !== undefined ? { lastError: r.lastError } : {}),
      ...(this.revision !== undefined ? { revision: this.revision } : {}),
      ...(this.revisionAt !== undefined ? { revisionAt: this.revisionAt } : {}),
    };
  }
}
