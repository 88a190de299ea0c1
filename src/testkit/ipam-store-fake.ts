/**
 * An in-memory IpamStore with the same semantics as the disk one (it passes the same contract
 * suite), for unit tests of the allocator and the plugin. Each instance is its own network.
 */

import type { IpamStore, Reservation } from '../ports/ipam-store.js';

export class MemoryIpamStore implements IpamStore {
  private readonly held = new Map<string, Reservation>();
  private readonly last = new Map<number, string>();

  /** Puts a reservation in place as another writer would (ifname undefined: the old id-only format). */
  seed(r: Reservation): void {
    this.held.set(r.ip, { ...r });
  }

  async reserve(containerId: string, ifname: string, ip: string, rangeSetIndex: number): Promise<boolean> {
    if (this.held.has(ip)) return false;
    this.held.set(ip, { ip, containerId: containerId.trim(), ifname });
    this.last.set(rangeSetIndex, ip);
    return true;
  }

  async lastReserved(rangeSetIndex: number): Promise<string | undefined> {
    return this.last.get(rangeSetIndex);
  }

  async list(): Promise<Reservation[]> {
    return [...this.held.values()].map((r) => ({ ...r }));
  }

  async getById(containerId: string, ifname: string): Promise<string[]> {
    const id = containerId.trim();
    return [...this.held.values()]
      .filter((r) => r.containerId === id && (r.ifname === undefined || r.ifname === ifname))
      .map((r) => r.ip);
  }

  async releaseById(containerId: string, ifname: string): Promise<string[]> {
    const id = containerId.trim();
    const all = [...this.held.values()].filter((r) => r.containerId === id);
    let mine = all.filter((r) => r.ifname === ifname);
    if (mine.length === 0) mine = all.filter((r) => r.ifname === undefined);
    for (const r of mine) this.held.delete(r.ip);
    return mine.map((r) => r.ip);
  }

  async release(ip: string): Promise<boolean> {
    return this.held.delete(ip);
  }
}
