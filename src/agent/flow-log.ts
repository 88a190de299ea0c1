/**
 * The node's flow log: the policy table logs drops and allowed new connections to NFLOG
 * (src/core/policy/flow-log.ts); this service runs Debian's ulogd2 in the agent's network
 * namespace (NFLOG groups are per namespace, and the agent runs in its node's) to read that group
 * and write JSON lines to a unix socket the service listens on, and turns each record into a
 * Flow: pods from the cluster cache (by address), policies from the planned chains
 * (FlowPolicyIndex, fed by the policy loop).
 *
 * - Flows are kept in a ring of `capacity` entries (the newest win), so a flood of denied packets
 *   costs a fixed amount of memory; the kernel side is bounded by the drop log's `limit`.
 * - Followers (the status server's follow mode) get every new flow as it is read.
 * - ulogd2 is supervised: started with the service, restarted with a back-off when it ends
 *   (counted, logged with its exit status), stopped by PID when the service closes. It is tied to
 *   the agent's life (setpriv --pdeathsig, src/adapters/exec.ts), so it never outlives the agent.
 * - Metrics: weft_flows_total{verdict, namespace, policy} and the reader's own counters.
 */

import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { listenJsonLines, type JsonLinesSocket } from '../adapters/json-lines-socket.js';
import { spawnTied, type StartedProgram } from '../adapters/exec.js';
import { signalProcess } from '../adapters/daemon.js';
import { parseUlogdRecord, Ring, type Flow, type FlowEnd } from '../core/flows/flow.js';
import { DEBIAN_ULOGD_PLUGIN_DIR, ulogdConf } from '../core/flows/ulogd-conf.js';
import type { FlowPolicyIndex } from '../core/policy/flow-log.js';
import { FLOW_LOG_RECORDS, FLOW_LOG_RESTARTS, FLOWS } from '../core/metrics.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';

/** The socket ulogd2 writes to, in the agent's run dir. */
export function flowSocketPath(runDir: string): string {
  return join(runDir, 'flows.sock');
}

export interface FlowLogServiceOptions {
  node: string;
  runDir: string;
  /** The NFLOG group the policy table logs to. */
  group: number;
  /** Flows kept (default 4096). */
  capacity?: number;
  /** The pod ("ns/name") holding an address, if any. */
  podAt: (ip: string) => string | undefined;
  index: FlowPolicyIndex;
  metrics: Metrics;
  log: Logger;
  clock: Clock;
  /** Starts the logger (default: ulogd -c CONF, tied to the agent). */
  startLogger?: (confPath: string, logFile: string) => StartedProgram;
  /** Stops it (default: SIGTERM to its PID). */
  stopLogger?: (p: StartedProgram) => void;
}

export const DEFAULT_FLOW_CAPACITY = 4096;

export class FlowLogService {
  private readonly ring: Ring<Flow>;
  private readonly followers = new Set<(f: Flow) => void>();
  private socket: JsonLinesSocket | undefined;
  private logger: StartedProgram | undefined;
  private restartTimer: TimerHandle | undefined;
  private backoffMs = 500;
  private closing = false;
  private lastWarnAt = Number.NEGATIVE_INFINITY;
  /** How the last logger ended, until its successor has run a while. */
  private lastEnd: { text: string; at: number } | undefined;
  private loggerStartedAt = 0;
  private unwarned = 0;
  private readonly flows;
  private readonly records;
  private readonly restarts;

  constructor(private readonly o: FlowLogServiceOptions) {
    this.ring = new Ring(o.capacity ?? DEFAULT_FLOW_CAPACITY);
    this.flows = o.metrics.counter(FLOWS);
    this.records = o.metrics.counter(FLOW_LOG_RECORDS);
    this.restarts = o.metrics.counter(FLOW_LOG_RESTARTS);
  }

  /** Listens on the socket, then starts ulogd2 (which connects to it). */
  async open(): Promise<{ close(): Promise<void> }> {
    const socketPath = flowSocketPath(this.o.runDir);
    const conf = ulogdConf({
      group: this.o.group,
      socketPath,
      logFile: join(this.o.runDir, 'ulogd.log'),
      pluginDir: DEBIAN_ULOGD_PLUGIN_DIR,
    });
    this.socket = await listenJsonLines(socketPath, (line) => this.read(line), {
      onOverlong: () => this.records.inc({ result: 'unreadable' }),
    });
    writeFileSync(join(this.o.runDir, 'ulogd.conf'), conf);
    this.startLogger();
    return { close: () => this.close() };
  }

  private startLogger(): void {
    const confPath = join(this.o.runDir, 'ulogd.conf');
    const logFile = join(this.o.runDir, 'ulogd.out');
    const start =
      this.o.startLogger ??
      ((conf: string, out: string) =>
        spawnTied({ argv: ['ulogd', '-c', conf], logFile: out, context: `start the flow logger of ${this.o.node}` }));
    const startedAt = this.o.clock.now();
    this.loggerStartedAt = startedAt;
    const p = start(confPath, logFile);
    this.logger = p;
    this.o.log.info('flow logger started', { pid: p.pid, conf: confPath });
    void p.ended.then((end) => {
      if (this.logger !== p || this.closing) return;
      this.logger = undefined;
      // A logger that ran a while starts over with a short back-off.
      if (this.o.clock.now() - startedAt > 60_000) this.backoffMs = 500;
      this.restarts.inc();
      const how = end.startError ?? (end.signal !== null ? `signal ${end.signal}` : `exit ${end.exitCode}`);
      this.lastEnd = { text: `ulogd2 ended (${how}, see ${logFile}); restarting`, at: this.o.clock.now() };
      this.o.log.error('flow logger ended; restarting', {
        pid: p.pid,
        exitCode: end.exitCode,
        signal: end.signal,
        error: end.startError,
        inMs: this.backoffMs,
        log: logFile,
      });
      this.restartTimer = this.o.clock.setTimeout(() => {
        this.restartTimer = undefined;
        if (!this.closing) this.startLogger();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    });
  }

  /**
   * What is wrong with the flow log, for the controller's status (a warning: the node's pod
   * network works without it): the logger ended and has not run 10 s since.
   */
  problem(): string | undefined {
    if (!this.lastEnd) return undefined;
    if (this.logger && this.o.clock.now() - this.loggerStartedAt >= 10_000) {
      this.lastEnd = undefined;
      return undefined;
    }
    return this.lastEnd.text;
  }

  /** The logger's PID while it runs (for status and tests). */
  loggerPid(): number | undefined {
    return this.logger?.pid;
  }

  /** One JSON line from ulogd2: a flow in the ring and to the followers, or counted as unreadable. */
  read(line: string): void {
    let flow: Flow;
    try {
      const p = parseUlogdRecord(line);
      const decision = this.o.index.decision(p.prefix);
      if (!decision) throw new Error(`unknown prefix ${JSON.stringify(p.prefix)}`);
      const end = (ip: string, port: number | undefined): FlowEnd => {
        const pod = this.o.podAt(ip);
        return { ip, ...(port !== undefined ? { port } : {}), ...(pod !== undefined ? { pod } : {}) };
      };
      flow = {
        time: p.time,
        node: this.o.node,
        protocol: p.protocol,
        src: end(p.saddr, p.sport),
        dst: end(p.daddr, p.dport),
        verdict: decision.verdict,
        direction: decision.direction,
        policies: decision.policies,
        ...(decision.rule !== undefined ? { rule: decision.rule } : {}),
      };
    } catch (err) {
      this.records.inc({ result: 'unreadable' });
      this.warnUnreadable((err as Error).message, line);
      return;
    }
    this.records.inc({ result: 'flow' });
    for (const policy of flow.policies)
      this.flows.inc({ verdict: flow.verdict, namespace: policy.split('/')[0] ?? '', policy });
    this.ring.push(flow);
    for (const f of this.followers) f(flow);
  }

  /**
   * Logs an unreadable record, at most once every 10 s (with how many were not logged since):
   * every one is counted on the metrics, but a stream of them must not flood the agent's log.
   */
  private warnUnreadable(error: string, line: string): void {
    const now = this.o.clock.now();
    if (now - this.lastWarnAt < 10_000) {
      this.unwarned++;
      return;
    }
    this.o.log.warn('unreadable flow log record', {
      error,
      record: line.slice(0, 200),
      ...(this.unwarned > 0 ? { alsoUnreadableSinceLastWarning: this.unwarned } : {}),
    });
    this.lastWarnAt = now;
    this.unwarned = 0;
  }

  /** The flows in the ring, oldest first. */
  list(): Flow[] {
    return this.ring.list();
  }

  get capacity(): number {
    return this.ring.capacity;
  }

  /** Calls `fn` with every flow read from now on, until the returned function is called. */
  follow(fn: (f: Flow) => void): () => void {
    this.followers.add(fn);
    return () => this.followers.delete(fn);
  }

  private async close(): Promise<void> {
    this.closing = true;
    this.restartTimer?.cancel();
    const p = this.logger;
    this.logger = undefined;
    if (p) {
      const stop = this.o.stopLogger ?? ((x: StartedProgram) => x.pid !== undefined && signalProcess(x.pid, 'SIGTERM'));
      stop(p);
      await p.ended;
    }
    this.followers.clear();
    await this.socket?.close();
  }
}
