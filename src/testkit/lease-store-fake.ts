/**
 * An in-memory LeaseStore with the real stores' semantics (expiry by the injected clock, atomic
 * acquire, LeaseTaken/LeaseLost), for unit tests of the subnet manager and the agent. `failing`
 * makes every call reject, as a store that is down does.
 */

import type { Clock } from '../ports/clock.js';
import { LeaseLostError, LeaseTakenError, type Lease, type LeaseAttrs, type LeaseEvent, type LeaseStore, type LeaseWatch } from '../ports/lease-store.js';

export class MemoryLeaseStore implements LeaseStore {
  private config: string | undefined;
  private readonly leases = new Map<string, Lease>();
  private readonly listeners = new Set<(e: LeaseEvent) => void>();
  failing = false;

  constructor(private readonly clock: Clock) {}

  private check(): void {
    if (this.failing) throw new Error('store unreachable');
  }

  private live(subnet: string): Lease | undefined {
    const l = this.leases.get(subnet);
    return l && l.expiresAt > this.clock.now() ? l : undefined;
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
    return [...this.leases.keys()].map((s) => this.live(s)).filter((l): l is Lease => l !== undefined).sort((a, b) => (a.subnet < b.subnet ? -1 : 1));
  }

  private put(subnet: string, attrs: LeaseAttrs, ttlMs: number): Lease {
    const lease: Lease = { ...attrs, subnet, expiresAt: this.clock.now() + ttlMs };
    this.leases.set(subnet, lease);
    for (const l of this.listeners) l({ type: 'added', lease });
    return lease;
  }

  async acquire(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease> {
    this.check();
    const cur = this.live(subnet);
    if (cur) throw new LeaseTakenError(`subnet ${subnet} is leased by ${cur.publicIp}`);
    return this.put(subnet, attrs, ttlMs);
  }

  async renew(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease> {
    this.check();
    const cur = this.live(subnet);
    if (!cur) throw new LeaseLostError(`renew ${subnet}: the lease expired`);
    if (cur.publicIp !== attrs.publicIp) throw new LeaseLostError(`renew ${subnet}: now held by ${cur.publicIp}`);
    return this.put(subnet, attrs, ttlMs);
  }

  async revoke(subnet: string): Promise<void> {
    this.check();
    if (this.leases.delete(subnet)) for (const l of this.listeners) l({ type: 'removed', subnet });
  }

  async watch(onEvent: (e: LeaseEvent) => void): Promise<LeaseWatch> {
    this.listeners.add(onEvent);
    return { stop: async () => void this.listeners.delete(onEvent) };
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
