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
  /** Every name this owner makes exist: its names, their ancestors in the zone, and extra names. */
  present: string[];
}

export class ClusterIndex {
  private readonly names = new Map<string, Map<string, NameRecords>>();
  private readonly ptrs = new Map<string, Map<string, string[]>>();
  private readonly present = new Map<string, number>();
  private readonly owners = new Map<string, Owned>();

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
    const old = this.owners.get(owner);
    if (old) this.unfile(owner, old);
    if (!records && extra.length === 0) {
      this.owners.delete(owner);
      return;
    }
    const names = records?.names ?? new Map<string, NameRecords>();
    const ptrs = records?.ptrs ?? new Map<string, string[]>();
    const present = new Set<string>();
    for (const n of [...names.keys(), ...extra]) for (const a of this.ancestors(n)) present.add(a);
    const owned: Owned = { names, ptrs, present: [...present] };
    this.owners.set(owner, owned);
    this.file(owner, owned);
  }

  /** The records at `name` (normal form) from every owner, merged; undefined when none has any. */
  lookup(name: string): NameRecords | undefined {
    const m = this.names.get(name);
    if (!m) return undefined;
    if (m.size === 1) return m.values().next().value;
    const out: NameRecords = {};
    for (const r of m.values()) {
      if (r.a) out.a = [...new Set([...(out.a ?? []), ...r.a])];
      if (r.aaaa) out.aaaa = [...new Set([...(out.aaaa ?? []), ...r.aaaa])];
      if (r.srv) out.srv = [...(out.srv ?? []), ...r.srv];
      if (r.cname && !out.cname) out.cname = r.cname;
    }
    return out;
  }

  /** The PTR targets of a reverse name (normal form); [] when none. */
  lookupPtr(reverse: string): string[] {
    const m = this.ptrs.get(reverse);
    if (!m) return [];
    if (m.size === 1) return m.values().next().value ?? [];
    return [...new Set([...m.values()].flat())];
  }

  /** Does `name` exist in the zone (records, or names below it)? */
  exists(name: string): boolean {
    return this.present.has(name);
  }

  /** Everything the index holds, sorted, merged per name: for tests and debugging. */
  dump(): { names: Array<[string, NameRecords]>; ptrs: Array<[string, string[]]>; present: string[] } {
    const sorted = <T>(xs: Array<[string, T]>) => xs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      names: sorted([...this.names.keys()].map((n) => [n, this.lookup(n)!])),
      ptrs: sorted([...this.ptrs.keys()].map((r) => [r, this.lookupPtr(r).sort()])),
      present: [...this.present.keys()].sort(),
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
    for (const [name, r] of o.names) {
      let m = this.names.get(name);
      if (!m) this.names.set(name, (m = new Map()));
      m.set(owner, r);
    }
    for (const [rev, targets] of o.ptrs) {
      let m = this.ptrs.get(rev);
      if (!m) this.ptrs.set(rev, (m = new Map()));
      m.set(owner, targets);
    }
    for (const n of o.present) this.present.set(n, (this.present.get(n) ?? 0) + 1);
  }

  private unfile(owner: string, o: Owned): void {
    for (const name of o.names.keys()) {
      const m = this.names.get(name);
      m?.delete(owner);
      if (m?.size === 0) this.names.delete(name);
    }
    for (const rev of o.ptrs.keys()) {
      const m = this.ptrs.get(rev);
      m?.delete(owner);
      if (m?.size === 0) this.ptrs.delete(rev);
    }
    for (const n of o.present) {
      const c = (this.present.get(n) ?? 0) - 1;
      if (c <= 0) this.present.delete(n);
      else this.present.set(n, c);
    }
  }
}
