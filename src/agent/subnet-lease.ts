/**
 * The node's subnet lease and its view of the peers' leases, over a LeaseStore.
 *
 * - start(): reuse the lease this node (same PublicIP) already holds, as flanneld does after a
 *   restart, else pick a free subnet at random and acquire it, picking again when another node
 *   wins the race, a bounded number of times.
 * - Renews `renewMarginMs` before expiry. When the store is unreachable it keeps retrying with
 *   backoff and keeps everything as it is: the kernel keeps forwarding, and the node never gives
 *   up its subnet because the store was briefly gone. If the lease ran out meanwhile and nobody
 *   took the subnet, it acquires the same subnet again.
 * - Peers come from the store's watch plus a periodic re-list (which repairs anything a broken
 *   watch missed); every change calls onPeersChanged. Expiry is the store's to decide (both
 *   stores stop listing a lease once it runs out): while the store is unreachable the node keeps
 *   the last peers it knew, so an outage of the store never removes a working route.
 */

import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { type Lease, type LeaseAttrs, type LeaseStore, type LeaseWatch } from '../ports/lease-store.js';
import { LeaseLostError, LeaseTakenError } from '../core/port-errors.js';
import { pickSubnet } from '../core/flannel/subnet-pick.js';
import type { NetConf } from '../core/flannel/net-conf.js';
import { cidrContains, parseCidr } from '../core/net/ip.js';
import type { SubnetLeaser } from './agent.js';

export interface SubnetLeaseOptions {
  store: LeaseStore;
  conf: NetConf;
  attrs: LeaseAttrs;
  ttlMs: number;
  renewMarginMs: number;
  relistMs: number;
  clock: Clock;
  random: () => number;
  log: Logger;
  onPeersChanged: () => void;
  /**
   * The subnet this node had before (from the subnet.env it wrote), tried first when the store
   * no longer has the node's lease (it expired while the agent was down), as flanneld does, so
   * the node's pods keep their addresses.
   */
  previousSubnet?: string;
  /** Called when another node holds our subnet now: the agent must stop (and be restarted). */
  onLost: (err: Error) => void;
}

export class SubnetLease implements SubnetLeaser {
  private own: Lease | undefined;
  private peerMap = new Map<string, Lease>();
  private watchHandle: LeaseWatch | undefined;
  private renewTimer: TimerHandle | undefined;
  private relistTimer: TimerHandle | undefined;
  private stopped = false;
  private failures = 0;

  constructor(private readonly o: SubnetLeaseOptions) {}

  private inRange(subnet: string): boolean {
    const n = parseCidr(subnet);
    return n.prefix === this.o.conf.subnetLen && cidrContains(parseCidr(this.o.conf.network), n.address);
  }

  /**
   * Holds `subnet` if this node can: renew it when the store still has it under this node's
   * address (in etcd that includes a key whose lease just ran out but is not deleted yet), else
   * acquire it when it is free. Resolves false when another node holds it.
   */
  private async reclaim(subnet: string): Promise<boolean> {
    try {
      this.own = await this.o.store.renew(subnet, this.o.attrs, this.o.ttlMs);
      return true;
    } catch (err) {
      if (!(err instanceof LeaseLostError)) throw err;
    }
    try {
      this.own = await this.o.store.acquire(subnet, this.o.attrs, this.o.ttlMs);
      return true;
    } catch (err) {
      if (!(err instanceof LeaseTakenError)) throw err;
      return false;
    }
  }

  /** Safe to call again after it failed part-way: what it started before is stopped first. */
  async start(): Promise<Lease> {
    await this.watchHandle?.stop();
    this.watchHandle = undefined;
    this.relistTimer?.cancel();
    this.renewTimer?.cancel();
    const leases = await this.o.store.listLeases();
    // First the lease the store has for this node, then the subnet its last subnet.env named.
    const previous = leases.find((l) => l.publicIp === this.o.attrs.publicIp && this.inRange(l.subnet))?.subnet;
    const prev = this.o.previousSubnet && this.inRange(this.o.previousSubnet) ? this.o.previousSubnet : undefined;
    for (const subnet of [...new Set([previous, prev].filter((x): x is string => x !== undefined))]) {
      if (await this.reclaim(subnet)) {
        this.o.log.info("kept the node's previous subnet", { subnet });
        break;
      }
    }
    for (let attempt = 1; !this.own; attempt++) {
      const current = attempt === 1 ? leases : await this.o.store.listLeases();
      const subnet = pickSubnet(
        this.o.conf,
        current.map((l) => l.subnet),
        this.o.random,
      );
      try {
        this.own = await this.o.store.acquire(subnet, this.o.attrs, this.o.ttlMs);
      } catch (err) {
        if (!(err instanceof LeaseTakenError) || attempt >= 50) throw err;
      }
    }
    // Watch first, then list, so nothing between the two is missed.
    this.watchHandle = await this.o.store.watch(
      (e) => {
        if (e.type === 'added') {
          if (e.lease.subnet !== this.own?.subnet) this.peerMap.set(e.lease.subnet, e.lease);
        } else this.peerMap.delete(e.subnet);
        this.o.onPeersChanged();
      },
      (err) => this.o.log.warn('lease watch interrupted; re-listing', { error: err.message }),
    );
    await this.relist();
    this.scheduleRenew();
    return this.own;
  }

  lease(): Lease {
    if (!this.own) throw new Error('subnet lease: not started');
    return this.own;
  }

  peers(): Lease[] {
    return [...this.peerMap.values()].sort((a, b) => (a.subnet < b.subnet ? -1 : 1));
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      const all = await this.o.store.listLeases();
      const next = new Map(all.filter((l) => l.subnet !== this.own?.subnet).map((l) => [l.subnet, l]));
      const key = (m: Map<string, Lease>) =>
        JSON.stringify([...m.values()].map((l) => [l.subnet, l.publicIp, l.backendData]).sort());
      const changed = key(next) !== key(this.peerMap);
      this.peerMap = next;
      if (changed) this.o.onPeersChanged();
    } catch (err) {
      this.o.log.warn('cannot list leases; keeping the last known peers', { error: (err as Error).message });
    }
    if (!this.stopped) this.relistTimer = this.o.clock.setTimeout(() => void this.relist(), this.o.relistMs);
  }

  private scheduleRenew(delayMs?: number): void {
    if (this.stopped || !this.own) return;
    const wait = delayMs ?? Math.max(0, this.own.expiresAt - this.o.renewMarginMs - this.o.clock.now());
    this.renewTimer = this.o.clock.setTimeout(() => void this.renew(), wait);
  }

  private async renew(): Promise<void> {
    if (this.stopped || !this.own) return;
    const subnet = this.own.subnet;
    try {
      try {
        this.own = await this.o.store.renew(subnet, this.o.attrs, this.o.ttlMs);
      } catch (err) {
        if (!(err instanceof LeaseLostError)) throw err;
        // Expired while the store was unreachable: take the same subnet back if it is free.
        this.own = await this.o.store.acquire(subnet, this.o.attrs, this.o.ttlMs);
        this.o.log.warn('lease had expired; re-acquired the same subnet', { subnet });
      }
      if (this.failures > 0) this.o.log.info('lease renewed after store errors', { subnet, failures: this.failures });
      this.failures = 0;
      this.scheduleRenew();
    } catch (err) {
      if (err instanceof LeaseTakenError) {
        this.o.log.error("another node holds this node's subnet now", { subnet, error: err.message });
        this.o.onLost(err);
        return;
      }
      this.failures++;
      // Capped well inside the TTL, so a store that comes back is noticed before the lease runs out.
      const backoff = Math.min(
        Math.max(250, Math.floor(this.o.ttlMs / 4)),
        5_000,
        250 * 2 ** Math.min(this.failures, 5),
      );
      this.o.log.warn('cannot renew the lease; keeping the subnet and retrying', {
        subnet,
        attempt: this.failures,
        error: (err as Error).message,
      });
      this.scheduleRenew(backoff);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.renewTimer?.cancel();
    this.relistTimer?.cancel();
    await this.watchHandle?.stop();
  }
}
