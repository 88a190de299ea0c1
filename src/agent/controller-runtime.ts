/**
 * The agent's controller runtime: starts its controllers one after another in the given order
 * (each one's start resolves when its dependents may start: the subnet lease before the
 * backend, the backend before the CNI files), stops them in reverse, and reports every
 * controller's status, including those not started yet (a node whose store is unreachable shows
 * "subnet starting, the rest pending").
 *
 * health() is the node's readiness: ready only when every controller is; its text is what
 * /healthz serves, one line per controller in the shape of Kubernetes' verbose health checks
 * ("[+]backend ok", "[-]subnet starting: …").
 */

import type { Logger } from '../ports/logger.js';
import type { Controller, ControllerStatus } from './controller.js';

export interface Health {
  ok: boolean;
  /** First line: "ok", or "not ready: " and the first controller that is not, with its reason. */
  summary: string;
  /** The summary, then one line per controller. */
  text: string;
  statuses: ControllerStatus[];
}

/** One status as a line of /healthz. */
export function describeStatus(s: ControllerStatus): string {
  const why = s.lastError ?? s.message;
  const rev = s.revision !== undefined ? ` (${s.revision})` : '';
  return `[${s.ready ? '+' : '-'}]${s.name} ${s.ready ? 'ok' : s.state}${rev}${why && !s.ready ? `: ${why}` : ''}`;
}

/** The node's health from its controllers' statuses: ok only when there are some and all are ready. */
export function healthOf(statuses: ControllerStatus[]): Health {
  const bad = statuses.find((s) => !s.ready);
  const summary =
    statuses.length === 0 ? 'not ready: no controllers' : bad ? `not ready: ${describeStatus(bad).slice(3)}` : 'ok';
  return {
    ok: bad === undefined && statuses.length > 0,
    summary,
    text: [summary, ...statuses.map(describeStatus)].join('\n') + '\n',
    statuses,
  };
}

export class ControllerRuntime {
  private started: Controller[] = [];
  private starting: Controller | undefined;
  private stopping = false;

  constructor(
    private readonly controllers: readonly Controller[],
    private readonly log: Logger,
  ) {
    const names = controllers.map((c) => c.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) throw new Error(`controller runtime: two controllers are named "${dup}"`);
  }

  /**
   * Starts every controller in order. Rejects with the first fatal start error (the caller then
   * stops the runtime); resolves early, leaving the rest unstarted, when stop() is called meanwhile.
   */
  async start(): Promise<void> {
    for (const c of this.controllers) {
      if (this.stopping) return;
      this.starting = c;
      try {
        await c.start();
      } catch (err) {
        throw new Error(`start controller ${c.name}: ${(err as Error).message}`, { cause: err });
      } finally {
        this.starting = undefined;
      }
      if (this.stopping) {
        // Stopped while it started: stop() has stopped it already.
        return;
      }
      this.started.push(c);
      this.log.info('controller started', { controller: c.name });
    }
  }

  /** Stops the controllers in reverse order of start (also one still starting); logs, never throws. */
  async stop(): Promise<void> {
    this.stopping = true;
    const order = [...(this.starting ? [this.starting] : []), ...[...this.started].reverse()];
    this.started = [];
    for (const c of order) {
      try {
        await c.stop();
      } catch (err) {
        this.log.error('cannot stop controller cleanly', { controller: c.name, error: (err as Error).message });
      }
    }
  }

  statuses(): ControllerStatus[] {
    return this.controllers.map((c) => c.status());
  }

  health(): Health {
    return healthOf(this.statuses());
  }
}
