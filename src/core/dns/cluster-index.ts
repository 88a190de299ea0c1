/**
 * The cluster zone as maps by name, so that a query costs a few hash lookups whatever the size
 * of the cluster: every Service's names (service-records.ts) and PTRs, filed under their owner
 * (the Service, or a Namespace), and a reference count of every name that exists (has records,
 * or is an ancestor of one: `x.svc.cluster.local` is an empty non-terminal, answered NODATA, not
 * NXDOMAIN, RFC 8020).
 *
 * Changes are incremental: setting one owner removes its previous names and adds its new ones,
 * in time proportional to that owner's records, so a Service created among 10,000 others costs
 * what that one Service has. Pure and synchronous; the DNS server's feed calls it from the
 * cluster cache's events.
 */

import type { EndpointSlice, Service } from '../k8s/objects.js';
import { inZone } from './dns-names.js';
import { serviceRecords, type NameRecords, type ServiceRecords } from './service-records.js';

interface Owned {
  names: Map<string, NameRecords>;
  ptrs: Map<string, string[]>;
  /**
   * The names this owner makes exist without having records there itself: the ancestors of its
   * names in the zone (empty non-terminals) and extra names.
   */
  present: string[];
}

/**
 * key → owner → value, for keys that nearly always have one owner: a single owner is kept
 * inline, a second one turns the slot into a Map (a Map per name for 100,000 names costs more
 * than the names themselves).
 */
class OwnerMap<T> {
  private readonly slots = new Map<string, { owner: string; value: T } | Map<string, T>>();

  get size(): number {
    return this.slots.size;
  }
  has(key: string): boolean {
    return this.slots.has(key);
  }
  keys(): IterableIterator<string> {
    return this.slots.keys();
  }
  /** The values at key, one per owner; [] when none. */
  values(key: string): T[] {
    const slot = this.slots.get(key);
    if (slot === undefined) return [];
    return slot instanceof Map ? [...slot.values()] : [slot.value];
  }
  add(key: string, owner: string, value: T): void {
    const slot = this.slots.get(key);
    if (slot === undefined || (!(slot instanceof Map) && slot.owner === owner)) this.slots.set(key, { owner, value });
    else if (slot instanceof Map) slot.set(owner, value);
    else
      this.slots.set(
        key,
        new Map([
          [slot.owner, slot.value],
          [owner, value],
        ]),
      );
  }
  remove(key: string, owner: string): void {
    const slot = this.slots.get(key);
    if (slot === undefined) return;
    if (!(slot instanceof Map)) {
      if (slot.owner === owner) this.slots.delete(key);
      return;
    }
    slot.delete(owner);
    if (slot.size === 1) {
      const [[o, value]] = [...slot] as [[string, T]];
      this.slots.set(key, { owner: o, value });
    }
  }
}

export class ClusterIndex {
  private readonly names = new OwnerMap<NameRecords>();
  private readonly ptrs = new OwnerMap<string[]>();
  private readonly present = new Map<string, number>();
  private readonly owners = new Map<string, Owned>();

  /** Moves on every change: answers computed at one version hold until it moves. */
  version = 0;

  constructor(readonly zone: string) {}

  /** How many owners (Services and Namespaces) the index holds. */
  get size(): number {
    return this.owners.size;
  }

  /** Files the Service's names (undefined: the Service is gone), computed from it and its slices. */
  setService(namespace: string, name: string, svc: Service | undefined, slices: readonly EndpointSlice[]): void {
    this.set(`svc:${namespace}/${name}`, svc ? serviceRecords(svc, slices, this.zone) : undefined);
  }

  /** A Namespace makes `<ns>.svc.<zone>` and `<ns>.pod.<zone>` exist (CoreDNS answers only in existing namespaces). */
  setNamespace(name: string, exists: boolean): void {
    const z = this.zone === '' ? '' : `.${this.zone}`;
    this.set(`ns:${name}`, undefined, exists ? [`${name}.svc${z}`, `${name}.pod${z}`] : []);
  }

  /**
   * Replaces everything `owner` contributed with `records` (undefined: removes it). `extra` are
   * names that exist without records (a Namespace's `<ns>.svc.<zone>` and `<ns>.pod.<zone>`).
   */
  set(owner: string, records: ServiceRecords | undefined, extra: readonly string[] = []): void {
    this.version++;
    const old = this.owners.get(owner);
    if (old) this.unfile(owner, old);
    if (!records && extra.length === 0) {
      this.owners.delete(owner);
      return;
    }
    const names = records?.names ?? new Map<string, NameRecords>();
    const ptrs = records?.ptrs ?? new Map<string, string[]>();
    const present = new Set<string>();
    for (const n of [...names.keys(), ...extra]) for (const a of this.ancestors(n)) if (!names.has(a)) present.add(a);
    const owned: Owned = { names, ptrs, present: [...present] };
    this.owners.set(owner, owned);
    this.file(owner, owned);
  }

  /** The records at `name` (normal form) from every owner, merged; undefined when none has any. */
  lookup(name: string): NameRecords | undefined {
    const all = this.names.values(name);
    if (all.length <= 1) return all[0];
    const out: NameRecords = {};
    for (const r of all) {
      if (r.a) out.a = [...new Set([...(out.a ?? []), ...r.a])];
      if (r.aaaa) out.aaaa = [...new Set([...(out.aaaa ?? []), ...r.aaaa])];
      if (r.srv) out.srv = [...(out.srv ?? []), ...r.srv];
      if (r.cname && !out.cname) out.cname = r.cname;
    }
    return out;
  }

  /** The PTR targets of a reverse name (normal form); [] when none. */
  lookupPtr(reverse: string): string[] {
    const all = this.ptrs.values(reverse);
    if (all.length <= 1) return all[0] ?? [];
    return [...new Set(all.flat())];
  }

  /** Does `name` exist in the zone (records, or names below it)? */
  exists(name: string): boolean {
    return this.names.has(name) || this.present.has(name);
  }

  /** Everything the index holds, sorted, merged per name: for tests and debugging. */
  dump(): { names: Array<[string, NameRecords]>; ptrs: Array<[string, string[]]>; present: string[] } {
    const sorted = <T>(xs: Array<[string, T]>) => xs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      names: sorted([...this.names.keys()].map((n) => [n, this.lookup(n)!])),
      ptrs: sorted([...this.ptrs.keys()].map((r) => [r, this.lookupPtr(r).sort()])),
      present: [...new Set([...this.names.keys(), ...this.present.keys()])].sort(),
    };
  }

  /** `name` and its ancestors down to (not including) the zone apex; [] for names outside. */
  private ancestors(name: string): string[] {
    if (!inZone(name, this.zone) || name === this.zone) return [];
    const out: string[] = [];
    let n = name;
    while (n !== this.zone && n !== '') {
      out.push(n);
      const dot = n.indexOf('.');
      if (dot < 0) break;
      n = n.slice(dot + 1);
    }
    return out;
  }

  private file(owner: string, o: Owned): void {
    for (const [name, r] of o.names) this.names.add(name, owner, r);
    for (const [rev, targets] of o.ptrs) this.ptrs.add(rev, owner, targets);
    for (const n of o.present) this.present.set(n, (this.present.get(n) ?? 0) + 1);
  }

  private unfile(owner: string, o: Owned): void {
    for (const name of o.names.keys()) this.names.remove(name, owner);
    for (const rev of o.ptrs.keys()) this.ptrs.remove(rev, owner);
    for (const n of o.present) {
      const c = (this.present.get(n) ?? 0) - 1;
      if (c <= 0) this.present.delete(n);
      else this.present.set(n, c);
    }
  }
}
