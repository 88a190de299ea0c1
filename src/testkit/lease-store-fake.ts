/**
 * An in-memory LeaseStore with the real stores' semantics (expiry by the injected clock, atomic
 * acquire, LeaseTaken/LeaseLost, the watch events of src/ports/lease-store.ts), for unit tests of
 * the subnet manager and the agent; it passes the LeaseStore contract suite. `failing` makes every
 * call reject, as a store that is down does (and, like a store that is down, it then reports no
 * expiry: the lease simply reads as absent once the store answers again).
 */

import type { Clock, TimerHandle } from '../ports/clock.js';
import {
  type Lease,
  type LeaseAttrs,
  type LeaseEvent,
  type LeaseStore,
  type LeaseWatch,
} from '../ports/lease-store.js';
import { LeaseLostError, LeaseTakenError } from '../core/port-errors.js';

/** What a watcher compares: a renewal that changes none of these is not an event. */
const identity = (l: LeaseAttrs) => JSON.stringify([l.publicIp, l.backendType, l.backendData, l.nodeName ?? '']);

export class MemoryLeaseStore implements LeaseStore {
  private config: string | undefined;
  private readonly leases = new Map<string, Lease>();
  private readonly expiry = new Map<string, TimerHandle>();
  private readonly listeners = new Set<(e: LeaseEvent) => void>();
  failing = false;

  constructor(private readonly clock: Clock) {}

  private check(): void {
    if (this.failing) throw new Error('memory lease store: unreachable (failing is set)');
  }

  private live(subnet: string): Lease | undefined {
    const l = this.leases.get(subnet);
    return l && l.expiresAt > this.clock.now() ? l : undefined;
  }

  private emit(e: LeaseEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  async getConfig(): Promise<string | undefined> {
    this.check();
    return this.config;
  }

  async putConfig(text: string): Promise<void> {
    this.check();
    this.config = text;
  }

  async listLeases(): Promise<Lease[]> {
    this.check();
    return [...this.leases.keys()]
      .map((s) => this.live(s))
      .filter((l): l is Lease => l !== undefined)
      .sort((a, b) => (a.subnet < b.subnet ? -1 : 1));
  }

  private put(subnet: string, attrs: LeaseAttrs, ttlMs: number): Lease {
    const before = this.live(subnet);
    const lease: Lease = {
      ...attrs,
      backendData: { ...attrs.backendData },
      subnet,
      expiresAt: this.clock.now() + ttlMs,
    };
    this.leases.set(subnet, lease);
    this.expiry.get(subnet)?.cancel();
    // As etcd deletes a key when its lease runs out, and a watcher hears of it.
    this.expiry.set(
      subnet,
      this.clock.setTimeout(() => {
        if (this.leases.get(subnet) !== lease || this.failing) return;
        this.leases.delete(subnet);
        this.expiry.delete(subnet);
        this.emit({ type: 'removed', subnet });
      }, ttlMs),
    );
    if (!before || identity(before) !== identity(lease)) this.emit({ type: 'added', lease: { ...lease } });
    return { ...lease };
  }

  async acquire(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease> {
    this.check();
    const cur = this.live(subnet);
    if (cur) throw new LeaseTakenError(`acquire ${subnet}: leased by ${cur.publicIp}`);
    return this.put(subnet, attrs, ttlMs);
  }

  async renew(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease> {
    this.check();
    const cur = this.live(subnet);
    if (!cur) throw new LeaseLostError(`renew ${subnet}: no live lease (expired or revoked)`);
    if (cur.publicIp !== attrs.publicIp) throw new LeaseLostError(`renew ${subnet}: now held by ${cur.publicIp}`);
    return this.put(subnet, attrs, ttlMs);
  }

  async revoke(subnet: string): Promise<void> {
    this.check();
    const was = this.live(subnet);
    this.expiry.get(subnet)?.cancel();
    this.expiry.delete(subnet);
    this.leases.delete(subnet);
    if (was) this.emit({ type: 'removed', subnet });
  }

  async watch(onEvent: (e: LeaseEvent) => void): Promise<LeaseWatch> {
    this.check();
    // Each watch is its own listener, so one callback watched twice hears every event twice.
    const listener = (e: LeaseEvent) => onEvent(e);
    this.listeners.add(listener);
    return { stop: async () => void this.listeners.delete(listener) };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    for (const t of this.expiry.values()) t.cancel();
    this.expiry.clear();
  }
}
