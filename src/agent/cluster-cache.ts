/**
 * The agent's one view of the cluster (an informer, as client-go and kube-network-policies'
 * pod info provider have it): it lists each kind it follows from a ClusterSource, then applies
 * the source's watch to an in-memory copy, kept indexed for the controllers' questions (pods by
 * node, by IP and by namespace; policies by namespace; services and EndpointSlices by service).
 *
 * - Controllers subscribe to kinds and are called once per batch in which one of their kinds
 *   changed, with the keys of the objects that changed (so a subscriber can update per object);
 *   batches of other kinds (and node heartbeats, which are not changes) call nobody
 *   (`onRevision` listeners only learn that the revision moved).
 * - RevisionTooOldError (the source's log moved past us, the API server's 410) makes it list
 *   every kind again and wake every subscriber; other watch errors are logged and the watch is
 *   resumed from the last applied revision after `retryMs`, losing nothing.
 * - Reads are synchronous and return the cache's own objects: callers must not change them.
 */

import type { K8sKind, ObjectOfKind, Pod } from '../core/k8s/objects.js';
import { SERVICE_NAME_LABEL } from '../core/k8s/objects.js';
import { keyOf, keyText, RevisionTooOldError, type ObjectKey } from '../core/k8s/object-key.js';
import type { Stored } from '../ports/object-store.js';
import type { ClusterSource, WatchBatch, WatchSubscription } from '../ports/cluster-source.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';

export interface ClusterCacheOptions {
  source: ClusterSource;
  /** The kinds to follow. */
  kinds: readonly K8sKind[];
  clock: Clock;
  log: Logger;
  /** Wait before resuming a watch that failed (ms, default 1000). */
  retryMs?: number;
}

/**
 * Called after a batch: the kinds that changed, and the keys of the objects that did (undefined
 * after a fresh list, when anything may have changed), for subscribers that update per object.
 */
export type CacheListener = (changed: ReadonlySet<K8sKind>, objects?: readonly ObjectKey[]) => void;

/** A secondary index: index key → object key → object. */
class Index<T> {
  private readonly map = new Map<string, Map<string, T>>();
  add(index: string | undefined, key: string, value: T): void {
    if (index === undefined) return;
    let m = this.map.get(index);
    if (!m) this.map.set(index, (m = new Map()));
    m.set(key, value);
  }
  remove(index: string | undefined, key: string): void {
    if (index === undefined) return;
    const m = this.map.get(index);
    if (!m) return;
    m.delete(key);
    if (m.size === 0) this.map.delete(index);
  }
  get(index: string): T[] {
    return [...(this.map.get(index)?.values() ?? [])];
  }
  clear(): void {
    this.map.clear();
  }
}

/** The index keys one object has in each index (undefined: not in it). */
function indexKeys(s: Stored): { node?: string; ip?: string; namespace?: string; service?: string } {
  const o = s.object;
  switch (o.kind) {
    case 'Pod':
      return { node: o.spec.nodeName, ip: o.status?.podIP, namespace: o.metadata.namespace };
    case 'NetworkPolicy':
      return { namespace: o.metadata.namespace };
    case 'Service':
      return { service: `${o.metadata.namespace}/${o.metadata.name}` };
    case 'EndpointSlice': {
      const svc = o.metadata.labels[SERVICE_NAME_LABEL];
      return { service: svc === undefined ? undefined : `${o.metadata.namespace}/${svc}` };
    }
    case 'Namespace':
    case 'Ingress':
    case 'IngressClass':
    case 'Secret':
      return {};
  }
}

export class ClusterCache {
  private readonly objects = new Map<K8sKind, Map<string, Stored>>();
  /**
   * Per kind, its keys in key order, kept while no object of the kind is added or removed: list()
   * sorts again only then (a changed object keeps its place), so a sync woken by one changed
   * endpoint slice does not sort 10,000 keys of each kind again.
   */
  private readonly order = new Map<K8sKind, string[]>();
  private readonly podsByNode = new Index<Stored<Pod>>();
  private readonly podsByIP = new Index<Stored<Pod>>();
  private readonly podsByNamespace = new Index<Stored<Pod>>();
  private readonly policiesByNamespace = new Index<Stored<ObjectOfKind<'NetworkPolicy'>>>();
  private readonly servicesByName = new Index<Stored<ObjectOfKind<'Service'>>>();
  private readonly slicesByService = new Index<Stored<ObjectOfKind<'EndpointSlice'>>>();
  private readonly listeners = new Set<{ kinds: ReadonlySet<K8sKind>; fn: CacheListener }>();
  private readonly progress = new Set<(revision: number) => void>();
  private rev = 0;
  /** Per kind, the revision its list was a snapshot of: watch events at or below it are in it. */
  private listedAt = new Map<K8sKind, number>();
  private sub: WatchSubscription | undefined;
  private retry: TimerHandle | undefined;
  private stopped = false;
  /** How often the cache listed everything again (the first list counts). */
  lists = 0;

  constructor(private readonly o: ClusterCacheOptions) {
    if (o.kinds.length === 0) throw new Error('cluster cache: no kinds to follow');
    for (const k of o.kinds) this.objects.set(k, new Map());
  }

  /** Lists every kind and starts the watch; resolves once the cache holds the lists. */
  async start(): Promise<void> {
    await this.relist();
    this.watchFrom(Math.min(...this.listedAt.values()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.retry?.cancel();
    await this.sub?.stop();
  }

  /** The revision the cache has applied everything up to. */
  revision(): number {
    return this.rev;
  }

  /** Calls fn after each batch in which one of `kinds` changed; returns the unsubscribe. */
  subscribe(kinds: readonly K8sKind[], fn: CacheListener): () => void {
    const entry = { kinds: new Set(kinds), fn };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  /**
   * Calls fn with the cache's revision after every batch that moved it, whatever changed (also
   * when only kinds nobody follows did): for loops that report how current they are.
   */
  onRevision(fn: (revision: number) => void): () => void {
    this.progress.add(fn);
    return () => this.progress.delete(fn);
  }

  /** Every object of the kind, in key order; [] for none (and for kinds the cache does not follow). */
  list<K extends K8sKind>(kind: K): Stored<ObjectOfKind<K>>[] {
    const m = this.objects.get(kind);
    if (!m) return [];
    let keys = this.order.get(kind);
    if (!keys) {
      keys = [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      this.order.set(kind, keys);
    }
    return keys.map((k) => m.get(k) as Stored<ObjectOfKind<K>>);
  }

  get<K extends K8sKind>(kind: K, namespace: string, name: string): Stored<ObjectOfKind<K>> | undefined {
    return this.objects.get(kind)?.get(keyText({ kind, namespace, name })) as Stored<ObjectOfKind<K>> | undefined;
  }

  podsOnNode(node: string): Stored<Pod>[] {
    return this.podsByNode.get(node);
  }

  /** The pods whose status has this IP (more than one only while an old pod's status lingers). */
  podsWithIP(ip: string): Stored<Pod>[] {
    return this.podsByIP.get(ip);
  }

  podsInNamespace(namespace: string): Stored<Pod>[] {
    return this.podsByNamespace.get(namespace);
  }

  policiesInNamespace(namespace: string): Stored<ObjectOfKind<'NetworkPolicy'>>[] {
    return this.policiesByNamespace.get(namespace);
  }

  service(namespace: string, name: string): Stored<ObjectOfKind<'Service'>> | undefined {
    return this.servicesByName.get(`${namespace}/${name}`)[0];
  }

  /** The EndpointSlices labelled kubernetes.io/service-name=<name> in the namespace. */
  slicesOfService(namespace: string, name: string): Stored<ObjectOfKind<'EndpointSlice'>>[] {
    return this.slicesByService.get(`${namespace}/${name}`);
  }

  private async relist(): Promise<void> {
    const lists = await Promise.all(this.o.kinds.map((k) => this.o.source.list(k)));
    for (const idx of [
      this.podsByNode,
      this.podsByIP,
      this.podsByNamespace,
      this.policiesByNamespace,
      this.servicesByName,
      this.slicesByService,
    ])
      idx.clear();
    this.listedAt = new Map();
    this.order.clear();
    this.o.kinds.forEach((kind, i) => {
      const m = new Map<string, Stored>();
      this.objects.set(kind, m);
      const list = lists[i]!;
      this.listedAt.set(kind, list.revision);
      for (const s of list.items) this.put(s as Stored);
    });
    this.rev = Math.min(...this.listedAt.values());
    this.lists++;
  }

  private watchFrom(revision: number): void {
    if (this.stopped) return;
    this.sub = this.o.source.watch(this.o.kinds, revision, {
      onBatch: (batch) => this.apply(batch),
      onError: (err) => {
        if (this.stopped) return;
        if (err instanceof RevisionTooOldError) {
          this.o.log.warn('cluster watch too old; listing again', { error: err.message });
          this.relist().then(
            () => {
              this.wake(new Set(this.o.kinds));
              this.watchFrom(Math.min(...this.listedAt.values()));
            },
            (e: unknown) => this.retryLater(`list again after a too-old watch: ${(e as Error).message}`, undefined),
          );
          return;
        }
        this.retryLater(err.message, this.rev);
      },
    });
  }

  /** Resumes the watch from `from` (or lists again when undefined) after retryMs. */
  private retryLater(error: string, from: number | undefined): void {
    this.o.log.error('cluster watch failed; retrying', { error, revision: this.rev });
    this.retry = this.o.clock.setTimeout(() => {
      this.retry = undefined;
      if (from !== undefined) {
        this.watchFrom(from);
        return;
      }
      this.relist().then(
        () => {
          this.wake(new Set(this.o.kinds));
          this.watchFrom(Math.min(...this.listedAt.values()));
        },
        (e: unknown) => this.retryLater(`list again: ${(e as Error).message}`, undefined),
      );
    }, this.o.retryMs ?? 1000);
  }

  private apply(batch: WatchBatch): void {
    const changed = new Set<K8sKind>();
    const objects: ObjectKey[] = [];
    for (const e of batch.events) {
      // Already in the kind's list (the lists of different kinds may be of different revisions).
      if (e.revision <= (this.listedAt.get(e.kind) ?? 0)) continue;
      const key = keyOf(e.object.object);
      const k = keyText(key);
      const m = this.objects.get(e.kind);
      if (!m) continue;
      objects.push(key);
      const old = m.get(k);
      if (old) this.unindex(old, k);
      if (!old || e.type === 'DELETED') this.order.delete(e.kind);
      if (e.type === 'DELETED') m.delete(k);
      else this.put(e.object as Stored);
      changed.add(e.kind);
    }
    const before = this.rev;
    this.rev = Math.max(this.rev, batch.revision);
    if (changed.size > 0) this.wake(changed, objects);
    if (this.rev > before) {
      for (const fn of [...this.progress]) {
        try {
          fn(this.rev);
        } catch (err) {
          this.o.log.error('cluster cache revision listener failed', { error: (err as Error).message });
        }
      }
    }
  }

  private wake(changed: ReadonlySet<K8sKind>, objects?: readonly ObjectKey[]): void {
    for (const l of [...this.listeners]) {
      if ([...changed].some((k) => l.kinds.has(k))) {
        try {
          l.fn(changed, objects);
        } catch (err) {
          this.o.log.error('cluster cache subscriber failed', { error: (err as Error).message });
        }
      }
    }
  }

  private put(s: Stored): void {
    const k = keyText(keyOf(s.object));
    this.objects.get(s.object.kind)?.set(k, s);
    const ix = indexKeys(s);
    const o = s.object;
    if (o.kind === 'Pod') {
      const pod = s as Stored<Pod>;
      this.podsByNode.add(ix.node, k, pod);
      this.podsByIP.add(ix.ip, k, pod);
      this.podsByNamespace.add(ix.namespace, k, pod);
    } else if (o.kind === 'NetworkPolicy')
      this.policiesByNamespace.add(ix.namespace, k, s as Stored<ObjectOfKind<'NetworkPolicy'>>);
    else if (o.kind === 'Service') this.servicesByName.add(ix.service, k, s as Stored<ObjectOfKind<'Service'>>);
    else if (o.kind === 'EndpointSlice')
      this.slicesByService.add(ix.service, k, s as Stored<ObjectOfKind<'EndpointSlice'>>);
  }

  private unindex(s: Stored, k: string): void {
    const ix = indexKeys(s);
    this.podsByNode.remove(ix.node, k);
    this.podsByIP.remove(ix.ip, k);
    if (s.object.kind === 'Pod') this.podsByNamespace.remove(ix.namespace, k);
    if (s.object.kind === 'NetworkPolicy') this.policiesByNamespace.remove(ix.namespace, k);
    if (s.object.kind === 'Service' || s.object.kind === 'EndpointSlice') {
      this.servicesByName.remove(ix.service, k);
      this.slicesByService.remove(ix.service, k);
    }
  }
}
