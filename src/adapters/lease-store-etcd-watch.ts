/**
 * The etcd store's watch (LeaseStore.watch): one etcd v3 watch on the subnets prefix, started
 * at the revision right after a list, so nothing between the list and the watch is missed.
 *
 * - PUT → 'added' when the lease's attributes changed (a renewal that rewrote the same value,
 *   or a keepalive, which writes nothing, is not an event); DELETE → 'removed', whether a node
 *   revoked its lease or etcd deleted the key when its lease ran out: that DELETE is how peers'
 *   expiry is seen, without asking etcd about any lease.
 * - A broken connection is reported once, then the watch is re-created from the revision of
 *   the last event applied (events of that revision that come again are skipped per key). If
 *   etcd cancels it (it compacted that revision away), the watch lists again, reports the
 *   difference as events and watches from the list's revision, as an informer does after a
 *   410 Gone.
 * etcd3's own resume is not used: it restarts from the revision of the last response header,
 * which can skip events replayed right after a watch was created.
 */

import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { LeaseAttrs, LeaseEvent } from '../ports/lease-store.js';
import { parseFlannelValue, subnetOfKey, type EtcdLeaseStore } from './lease-store-etcd.js';

const identity = (l: LeaseAttrs) => JSON.stringify([l.publicIp, l.backendType, l.backendData, l.nodeName ?? '']);

export interface EtcdLeaseWatchOptions {
  store: EtcdLeaseStore;
  client: Etcd3;
  clock: Clock;
  onEvent: (e: LeaseEvent) => void;
  onError?: (err: Error) => void;
}

export class EtcdLeaseWatch {
  /** subnet → identity of the lease as last reported. */
  private known = new Map<string, string>();
  /** subnet → the mod revision of the last event applied to it (re-delivered events are skipped). */
  private keyRev = new Map<string, number>();
  /** Every change up to this revision is in `known`. */
  private listedAt = 0;
  /** Where the next etcd watch starts. */
  private resumeAt = 1;
  private watcher: Watcher | undefined;
  /** The watcher being connected, if any. */
  private connecting: Watcher | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private failing = false;
  private recovering = false;
  private needRelist = false;
  private retry: { timer: TimerHandle; wake: () => void } | undefined;

  constructor(private readonly o: EtcdLeaseWatchOptions) {}

  /**
   * Lists (rejecting when etcd does not answer), then watches from the list's next revision. The
   * watch is not awaited: it may connect later (etcd went away just after the list) and still
   * reports everything after the list, since it starts from that revision.
   */
  async start(): Promise<void> {
    await this.serial(() => this.relist(false));
    void this.recover();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.retry?.timer.cancel();
    this.retry?.wake();
    for (const w of [this.watcher, this.connecting]) if (w) await this.bounded(w.cancel(), 1_000);
    this.watcher = undefined;
  }

  /** Runs `task` after every event already queued, so events and relists apply in order. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const p = this.chain.then(task);
    this.chain = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  private emit(e: LeaseEvent): void {
    if (!this.stopped) this.o.onEvent(e);
  }

  private report(err: Error): void {
    if (this.failing || this.stopped) return;
    this.failing = true;
    this.o.onError?.(err);
  }

  /** Reads every key; with `diff`, reports what changed since `known` as events. */
  private async relist(diff: boolean): Promise<void> {
    const { kvs, revision } = await this.o.store.rangeSubnets();
    const next = new Map<string, { attrs: LeaseAttrs; kv: IKeyValue }>();
    for (const kv of kvs) {
      const attrs = parseFlannelValue(kv.value.toString('utf8'));
      if (attrs) next.set(subnetOfKey(kv.key.toString('utf8')), { attrs, kv });
    }
    if (diff) {
      for (const [subnet, { attrs, kv }] of next) {
        if (this.known.get(subnet) !== identity(attrs))
          this.emit({ type: 'added', lease: { ...attrs, subnet, expiresAt: await this.expiry(kv) } });
      }
      for (const subnet of this.known.keys()) if (!next.has(subnet)) this.emit({ type: 'removed', subnet });
    }
    this.known = new Map([...next].map(([subnet, { attrs }]) => [subnet, identity(attrs)]));
    this.keyRev = new Map([...next].map(([subnet, { kv }]) => [subnet, Number(kv.mod_revision)]));
    this.listedAt = revision;
    this.resumeAt = revision + 1;
  }

  /** The lease's expiry for an event; if etcd cannot say just now, the key was alive just now. */
  private async expiry(kv: IKeyValue): Promise<number> {
    try {
      return await this.o.store.expiryOf(kv.lease);
    } catch {
      // The event itself is certain; only its expiry is unknown. It is reported as alive now
      // (never later than the truth) rather than held back.
      return this.o.clock.now() + 1;
    }
  }

  /** True when the event is new for its key; remembers it. */
  private fresh(subnet: string, kv: IKeyValue): boolean {
    const rev = Number(kv.mod_revision);
    if (rev <= this.listedAt || rev <= (this.keyRev.get(subnet) ?? 0)) return false;
    this.keyRev.set(subnet, rev);
    this.resumeAt = Math.max(this.resumeAt, rev);
    return true;
  }

  private async applyPut(kv: IKeyValue): Promise<void> {
    const subnet = subnetOfKey(kv.key.toString('utf8'));
    if (!this.fresh(subnet, kv)) return;
    const attrs = parseFlannelValue(kv.value.toString('utf8'));
    if (!attrs) {
      // Overwritten with something that is not a lease: the lease is gone.
      if (this.known.delete(subnet)) this.emit({ type: 'removed', subnet });
      return;
    }
    if (this.known.get(subnet) === identity(attrs)) return;
    this.known.set(subnet, identity(attrs));
    this.emit({ type: 'added', lease: { ...attrs, subnet, expiresAt: await this.expiry(kv) } });
  }

  private async applyDelete(kv: IKeyValue): Promise<void> {
    const subnet = subnetOfKey(kv.key.toString('utf8'));
    if (!this.fresh(subnet, kv)) return;
    if (this.known.delete(subnet)) this.emit({ type: 'removed', subnet });
  }

  /** Creates the etcd watch from `resumeAt` (waits while etcd is unreachable; rejects when etcd cancels it). */
  private async open(): Promise<void> {
    // Stopped while waiting for queued events: a watcher attached now would be retried by
    // etcd3 against the closed client forever.
    if (this.stopped) return;
    // watcher() rather than create(): the watcher is in hand while it connects, so stop() can
    // drop it even when etcd never answers (etcd3 would otherwise retry it after close()).
    const w = this.o.client.watch().prefix(this.o.store.subnetsPrefix).startRevision(String(this.resumeAt)).watcher();
    this.connecting = w;
    try {
      await new Promise<void>((resolve, reject) => {
        w.once('connected', () => resolve());
        w.once('error', reject);
      });
    } finally {
      this.connecting = undefined;
    }
    if (this.stopped) {
      await this.bounded(w.cancel(), 1_000);
      return;
    }
    this.watcher = w;
    w.on('put', (kv) => {
      if (this.watcher === w) void this.serial(() => this.applyPut(kv));
    });
    w.on('delete', (kv) => {
      if (this.watcher === w) void this.serial(() => this.applyDelete(kv));
    });
    // etcd3 would reconnect this watcher by itself; it is dropped instead and re-created from
    // our own revision (see the top of this file). At 'disconnected' etcd3's stream is idle, so
    // cancel() only forgets the watcher.
    w.on('disconnected', (err: Error) => {
      if (this.watcher !== w) return;
      this.watcher = undefined;
      void w.cancel();
      void this.recover(err);
    });
    // etcd cancelled the watch (etcd3 has forgotten it already): list again before watching on.
    w.on('error', (err: Error) => {
      if (this.watcher !== w) return;
      this.watcher = undefined;
      this.needRelist = true;
      void this.recover(this.cancelled(err));
    });
    this.failing = false;
  }

  /** (Re-)creates the watch until it stands or the watch is stopped, listing again first when needed. */
  private async recover(err?: Error): Promise<void> {
    if (err) this.report(err);
    if (this.recovering) return;
    this.recovering = true;
    for (let attempt = 0; !this.stopped; attempt++) {
      if (this.needRelist) {
        try {
          await this.serial(() => this.relist(true));
          this.needRelist = false;
        } catch (e) {
          this.report(e instanceof Error ? e : new Error(String(e)));
          await this.pause(Math.min(2_000, 100 * 2 ** attempt));
          continue;
        }
      }
      try {
        // Events still queued move resumeAt: start only after they are applied.
        await this.serial(async () => undefined);
        await this.open();
        break;
      } catch (e) {
        // open() waits while etcd is unreachable, so a rejection is etcd refusing the revision
        // (compacted: etcd 3.4 cancels the watch with no reason given): list again.
        this.needRelist = true;
        this.report(this.cancelled(e instanceof Error ? e : new Error(String(e))));
        if (attempt > 0) await this.pause(Math.min(2_000, 100 * 2 ** attempt));
      }
    }
    this.recovering = false;
  }

  private cancelled(err: Error): Error {
    return new Error(
      `etcd watch of ${this.o.store.subnetsPrefix} from revision ${this.resumeAt}: ${err.message || 'cancelled'} (revision compacted or refused: listing again)`,
      { cause: err },
    );
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.retry = undefined;
        resolve();
      };
      this.retry = { timer: this.o.clock.setTimeout(wake, ms), wake };
    });
  }

  /** Waits for `p` at most `ms` (cancelling a watch against a vanished etcd may never answer). */
  private bounded(p: Promise<void>, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.o.clock.setTimeout(resolve, ms);
      p.then(
        () => {
          t.cancel();
          resolve();
        },
        () => {
          t.cancel();
          resolve();
        },
      );
    });
  }
}
