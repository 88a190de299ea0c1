/**
 * A controller for something the agent serves rather than syncs (the node's CNI socket): start
 * opens it, stop closes it, status says whether it serves. An optional service that cannot open
 * is reported, not fatal: the node works without it (the CNI wrappers then run the plugins
 * themselves, only slower), so it stays ready with the reason as its message.
 */

import type { Logger } from '../ports/logger.js';
import type { Controller, ControllerStatus } from './controller.js';

export interface ServiceControllerOptions {
  name: string;
  /** Opens the service; what it resolves with closes it. */
  open: () => Promise<{ close(): Promise<void> | void }>;
  /** What it serves, for status ("/run/weft/cni.sock"). */
  describe: string;
  /** When true, a failure to open is logged and reported, and the agent runs on without it. */
  optional: boolean;
  /** What the node does without it (for the log and status of an optional service). */
  without?: string;
  log: Logger;
  clock: { now(): number };
  /** Something wrong that leaves the service ready (shown as the status' warning), if any. */
  warning?: () => string | undefined;
}

export class ServiceController implements Controller {
  readonly name: string;
  private handle: { close(): Promise<void> | void } | undefined;
  private state: 'pending' | 'starting' | 'ready' | 'stopped' = 'pending';
  private openError: string | undefined;
  private openedAt: number | undefined;

  constructor(private readonly o: ServiceControllerOptions) {
    this.name = o.name;
  }

  async start(): Promise<void> {
    this.state = 'starting';
    try {
      this.handle = await this.o.open();
      this.openedAt = this.o.clock.now();
    } catch (err) {
      if (!this.o.optional) throw new Error(`serve ${this.o.describe}: ${(err as Error).message}`, { cause: err });
      this.openError = (err as Error).message;
      this.o.log.error(`cannot serve ${this.o.describe}${this.o.without ? `; ${this.o.without}` : ''}`, {
        controller: this.name,
        error: this.openError,
      });
    }
    if (this.state === 'starting') this.state = 'ready';
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    const h = this.handle;
    this.handle = undefined;
    await h?.close();
  }

  status(): ControllerStatus {
    const ready = this.state === 'ready';
    const warning = this.handle ? this.o.warning?.() : undefined;
    return {
      name: this.name,
      state: this.state,
      ready,
      syncs: this.openedAt !== undefined ? 1 : 0,
      failures: this.openError !== undefined ? 1 : 0,
      ...(this.openedAt !== undefined ? { lastSyncAt: this.openedAt, revision: this.o.describe } : {}),
      ...(this.openError !== undefined
        ? { message: `not serving ${this.o.describe}: ${this.openError}${this.o.without ? `; ${this.o.without}` : ''}` }
        : {}),
      ...(warning !== undefined ? { warning } : {}),
    };
  }
}
