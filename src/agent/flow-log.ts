/**
 * The node's flow log: the policy table logs drops and allowed new connections to NFLOG
 * (src/core/policy/flow-log.ts); this service reads that group itself, in the agent's network
 * namespace (NFLOG groups are per namespace, and the agent runs in its node's), through its own
 * netlink socket (src/adapters/nflog.ts), and turns each logged packet into a Flow: pods from the
 * cluster cache (by address), policies from the planned chains (FlowPolicyIndex, fed by the
 * policy loop).
 *
 * Why not ulogd2 any more: its JSON output cost ulogd2 and the agent about 23 us of CPU per logged
 * connection, which took the new-connection rate with logging on to 0.88 of the rate without
 * (issue 13's target is 0.90); reading the kernel's batches directly costs a fraction of that
 * (bench/flows.ts).
 *
 * - Flows are kept in a ring of `capacity` entries (the newest win), so a flood of denied packets
 *   costs a fixed amount of memory; the kernel side is bounded by the drop log's `limit`.
 * - Followers (the status server's follow mode) get every new flow as it is read.
 * - The reader is reopened with a back-off when it cannot bind the group (another process reads
 *   it) or stops working (counted, logged, and said by problem() until it has run 10 s).
 * - Packets the kernel could not deliver (the socket's buffer full under a flood) are counted from
 *   the gaps in the group's sequence numbers: weft_flow_log_records_total{result="lost"}.
 * - Metrics: weft_flows_total{verdict, namespace, policy} and the reader's own counters.
 */

import { openNflogReader, type NflogReader, type NflogReaderSink } from '../adapters/nflog.js';
import { Ring, type Flow, type FlowEnd } from '../core/flows/flow.js';
import type { NflogPacket } from '../core/flows/nflog.js';
import type { FlowDecision, FlowPolicyIndex } from '../core/policy/flow-log.js';
import { FLOW_LOG_RECORDS, FLOW_LOG_RESTARTS, FLOWS } from '../core/metrics.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';

export interface FlowLogServiceOptions {
  node: string;
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
  /** Opens the group's reader (default: the agent's own NFLOG socket); throws when it cannot. */
  openReader?: (group: number, sink: NflogReaderSink) => NflogReader;
}

export const DEFAULT_FLOW_CAPACITY = 4096;

/** Sequence numbers are 32 bits and wrap. */
const SEQ_SPACE = 2 ** 32;

export class FlowLogService {
  private readonly ring: Ring<Flow>;
  private readonly followers = new Set<(f: Flow) => void>();
  private reader: NflogReader | undefined;
  private reopenTimer: TimerHandle | undefined;
  private backoffMs = 500;
  private closing = false;
  private lastWarnAt = Number.NEGATIVE_INFINITY;
  /** Why the last reader failed, until its successor has run a while. */
  private lastFailure: { text: string; at: number } | undefined;
  private readerOpenedAt = 0;
  private unwarned = 0;
  /**
   * The sequence number the next packet should carry: binding the group makes the kernel a new
   * instance for it, which numbers its packets from 0, so a reader expects 0 first.
   */
  private nextSeq = 0;
  /** Flows not yet on the metrics, by decision (see countFlow). */
  private readonly uncounted = new Map<FlowDecision, number>();
  private readonly flows;
  private readonly records;
  private readonly restarts;

  constructor(private readonly o: FlowLogServiceOptions) {
    this.ring = new Ring(o.capacity ?? DEFAULT_FLOW_CAPACITY);
    this.flows = o.metrics.counter(FLOWS);
    this.records = o.metrics.counter(FLOW_LOG_RECORDS);
    this.restarts = o.metrics.counter(FLOW_LOG_RESTARTS);
  }

  /** Opens the reader (or, when it cannot, reports why and keeps trying with a back-off). */
  open(): Promise<{ close(): Promise<void> }> {
    this.openReader();
    return Promise.resolve({ close: () => this.close() });
  }

  private openReader(): void {
    const open =
      this.o.openReader ?? ((group, sink) => openNflogReader({ group, now: () => this.o.clock.now() }, sink));
    const sink: NflogReaderSink = {
      packet: (p) => this.receive(p),
      unreadable: (reason) => this.unreadable(reason),
      failed: (err) => {
        if (this.reader !== reader) return;
        this.reader = undefined;
        this.retry(err.message, this.o.clock.now() - this.readerOpenedAt);
      },
    };
    let reader: NflogReader | undefined;
    try {
      reader = open(this.o.group, sink);
    } catch (err) {
      this.retry((err as Error).message);
      return;
    }
    this.reader = reader;
    this.nextSeq = 0;
    this.readerOpenedAt = this.o.clock.now();
    this.o.log.info('flow log reader opened', { group: this.o.group });
  }

  /**
   * The reader could not open, or stopped after `ranMs`: said by problem(), counted, logged, and
   * tried again later.
   */
  private retry(error: string, ranMs = 0): void {
    if (this.closing) return;
    // A reader that ran a while starts over with a short back-off.
    if (ranMs > 60_000) this.backoffMs = 500;
    this.restarts.inc();
    this.lastFailure = { text: `NFLOG group ${this.o.group} not read (${error}); retrying`, at: this.o.clock.now() };
    this.o.log.error('flow log reader failed; retrying', { group: this.o.group, error, inMs: this.backoffMs });
    this.reopenTimer = this.o.clock.setTimeout(() => {
      this.reopenTimer = undefined;
      if (!this.closing) this.openReader();
    }, this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
  }

  /**
   * What is wrong with the flow log, for the controller's status (a warning: the node's pod
   * network works without it): the reader failed and has not run 10 s since.
   */
  problem(): string | undefined {
    if (!this.lastFailure) return undefined;
    if (this.reader && this.o.clock.now() - this.readerOpenedAt >= 10_000) {
      this.lastFailure = undefined;
      return undefined;
    }
    return this.lastFailure.text;
  }

  /** Whether the group is being read (for status and tests). */
  reading(): boolean {
    return this.reader !== undefined;
  }

  /** One logged packet: a flow in the ring and to the followers, or counted as unreadable. */
  receive(p: NflogPacket): void {
    if (p.seq !== undefined) {
      if (p.seq !== this.nextSeq) {
        const lost = (p.seq - this.nextSeq + SEQ_SPACE) % SEQ_SPACE;
        this.records.inc({ result: 'lost' }, lost);
      }
      this.nextSeq = (p.seq + 1) % SEQ_SPACE;
    }
    const decision = this.o.index.decision(p.prefix);
    if (!decision) return this.unreadable(`unknown prefix ${JSON.stringify(p.prefix)}`);
    // Built by assignment, not spreads: this runs once per logged packet.
    const end = (ip: string, port: number | undefined): FlowEnd => {
      const e: FlowEnd = { ip };
      if (port !== undefined) e.port = port;
      const pod = this.o.podAt(ip);
      if (pod !== undefined) e.pod = pod;
      return e;
    };
    const flow: Flow = {
      time: p.time,
      node: this.o.node,
      protocol: p.protocol,
      src: end(p.saddr, p.sport),
      dst: end(p.daddr, p.dport),
      verdict: decision.verdict,
      direction: decision.direction,
      policies: decision.policies,
    };
    if (decision.rule !== undefined) flow.rule = decision.rule;
    this.countFlow(decision);
    this.ring.push(flow);
    for (const f of this.followers) f(flow);
  }

  /**
   * Counts a flow on the metrics at the end of the current task (a microtask): a batch of packets
   * becomes one increment per decision instead of one per packet (prom-client hashes the labels
   * of every increment), and nothing reads the metrics in between.
   */
  private countFlow(decision: FlowDecision): void {
    this.uncounted.set(decision, (this.uncounted.get(decision) ?? 0) + 1);
    if (this.uncounted.size > 1 || this.uncounted.get(decision)! > 1) return;
    queueMicrotask(() => {
      let total = 0;
      for (const [d, n] of this.uncounted) {
        total += n;
        for (const policy of d.policies)
          this.flows.inc({ verdict: d.verdict, namespace: policy.split('/')[0] ?? '', policy }, n);
      }
      this.uncounted.clear();
      this.records.inc({ result: 'flow' }, total);
    });
  }

  private unreadable(reason: string): void {
    this.records.inc({ result: 'unreadable' });
    this.warnUnreadable(reason);
  }

  /**
   * Logs an unreadable record, at most once every 10 s (with how many were not logged since):
   * every one is counted on the metrics, but a stream of them must not flood the agent's log.
   */
  private warnUnreadable(error: string): void {
    const now = this.o.clock.now();
    if (now - this.lastWarnAt < 10_000) {
      this.unwarned++;
      return;
    }
    this.o.log.warn('unreadable flow log record', {
      error,
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

  private close(): Promise<void> {
    this.closing = true;
    this.reopenTimer?.cancel();
    this.reader?.close();
    this.reader = undefined;
    this.followers.clear();
    return Promise.resolve();
  }
}
