/**
 * The NetworkPolicy loop (src/agent/policy-reconciler.ts) as a Controller, wrapped from the
 * outside: the loop keeps its own scheduling for now (it is being reworked on its input and its
 * sync side), and this adapter gives it the runtime's lifecycle, status and metrics by handing
 * it instrumented ports:
 *
 * - its Nft is timed: each transaction's duration is the sync duration reported;
 * - its Logger is watched: the loop logs every failed sync once at error level (and keeps the
 *   last applied rules in the kernel), which counts as a failure here (metrics, status, health);
 * - its onApplied reports the objects revision the kernel enforces: the controller's revision,
 *   written to the node status document at once (weft lab tooling and the policy benchmark wait
 *   for it), and the weft_policy_revision gauge.
 *
 * Ready once a revision has been applied and no sync has failed since. A failure is cleared by
 * the next successful transaction or the next applied revision (a failed read of an unchanged
 * store is only cleared by the next change; the loop does not say when such a retry succeeded).
 */

import type { Clock } from '../ports/clock.js';
import type { LogFields, Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';
import type { Nft } from '../ports/nft.js';
import { POLICY_REVISION } from '../core/metrics.js';
import { ControllerMetrics, type Controller, type ControllerStatus } from './controller.js';

/** What the adapter needs of the policy loop. */
export interface PolicyLoop {
  start(): void;
  stop(): void;
}

/** The instrumented ports the loop is built with. */
export interface PolicyLoopHooks {
  nft: Nft;
  log: Logger;
  onApplied: (applied: { revision: number; appliedAt: number; changed: boolean }) => void;
}

export interface PolicyControllerOptions {
  nft: Nft;
  log: Logger;
  clock: Clock;
  metrics: Metrics;
  /** Builds the loop over the hooks (main.ts passes the PolicyReconciler's constructor here). */
  make: (hooks: PolicyLoopHooks) => PolicyLoop;
  /** Called when the status changed (a revision applied, a failure): the node status writer. */
  onChange?: () => void;
}

export class PolicyController implements Controller {
  readonly name = 'policy';
  private loop: PolicyLoop | undefined;
  private state: 'pending' | 'starting' | 'stopped' | 'running' = 'pending';
  private revision: number | undefined;
  private revisionAt: number | undefined;
  private lastError: string | undefined;
  private lastApplyMs = 0;
  private syncs = 0;
  private failures = 0;
  private readonly m: ControllerMetrics;
  private readonly revisionGauge;

  constructor(private readonly o: PolicyControllerOptions) {
    this.m = new ControllerMetrics(this.name, o.metrics);
    this.revisionGauge = o.metrics.gauge(POLICY_REVISION);
  }

  async start(): Promise<void> {
    this.state = 'starting';
    this.loop = this.o.make({
      nft: this.timedNft(),
      log: this.watchedLog(this.o.log),
      onApplied: (a) => this.applied(a),
    });
    this.loop.start();
    this.state = 'running';
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    this.loop?.stop();
    this.m.setReady(false);
  }

  status(): ControllerStatus {
    const ready = this.state === 'running' && this.revision !== undefined && this.lastError === undefined;
    const state =
      this.state === 'running'
        ? this.lastError !== undefined
          ? 'failing'
          : this.revision !== undefined
            ? 'ready'
            : 'starting'
        : this.state;
    return {
      name: this.name,
      state,
      ready,
      syncs: this.syncs,
      failures: this.failures,
      ...(this.revisionAt !== undefined ? { lastSyncAt: this.revisionAt, revisionAt: this.revisionAt } : {}),
      ...(this.revision !== undefined ? { revision: String(this.revision) } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  private applied(a: { revision: number; appliedAt: number; changed: boolean }): void {
    this.syncs++;
    this.revision = a.revision;
    this.revisionAt = a.appliedAt;
    this.lastError = undefined;
    this.m.succeeded(a.changed ? this.lastApplyMs : 0, a.appliedAt);
    this.m.setReady(true);
    this.revisionGauge.set(a.revision);
    this.o.onChange?.();
  }

  private failed(error: string): void {
    this.failures++;
    this.lastError = error;
    this.m.failed(undefined);
    this.m.setReady(false);
    this.o.onChange?.();
  }

  private timedNft(): Nft {
    const nft = this.o.nft;
    return {
      apply: async (tx, context) => {
        const t0 = this.o.clock.now();
        await nft.apply(tx, context);
        this.lastApplyMs = this.o.clock.now() - t0;
        if (this.lastError !== undefined) {
          this.lastError = undefined;
          this.m.setReady(this.revision !== undefined);
          this.o.onChange?.();
        }
      },
      listTable: (family, name) => nft.listTable(family, name),
    };
  }

  private watchedLog(log: Logger): Logger {
    return {
      info: (msg, fields) => log.info(msg, fields),
      warn: (msg, fields) => log.warn(msg, fields),
      error: (msg: string, fields?: LogFields) => {
        log.error(msg, fields);
        const why = fields?.error;
        this.failed(typeof why === 'string' ? why : msg);
      },
      with: (fields) => this.watchedLog(log.with(fields)),
    };
  }
}
