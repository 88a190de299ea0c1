/**
 * An in-memory cluster for tests: an ObjectStore (commit, pod status writes, nodes) and, through
 * `source()`, a ClusterSource over one change log, with the same semantics as the SQLite store and its
 * source (the contract suite, cluster-source-contract.ts, runs against both). `compact(keep)`
 * drops old log entries so that tests can provoke RevisionTooOldError.
 * Watch batches are delivered asynchronously (on a later microtask), as a real source would.
 */

import type { K8sKind, K8sObject, ObjectOfKind, PodStatus } from '../core/k8s/objects.js';
import { keyOf, keyText, RevisionConflictError, RevisionTooOldError, type ObjectKey } from '../core/k8s/object-key.js';
import type { Change, CommitAction, NodeInfo, ObjectStore, Stored } from '../ports/object-store.js';
import type {
  ClusterSource,
  ListResult,
  WatchEvent,
  WatchEventType,
  WatchHandler,
  WatchSubscription,
} from '../ports/cluster-source.js';

interface Entry {
  stored: Stored;
  /** Canonical text of the object without status, for "unchanged". */
  spec: string;
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

function withoutStatus(obj: K8sObject): K8sObject {
  if (obj.kind !== 'Pod' || obj.status === undefined) return obj;
  const { status: _status, ...rest } = obj;
  return rest;
}

const copy = <T>(v: T): T => structuredClone(v);

export class FakeCluster implements ObjectStore {
  private readonly objects = new Map<string, Entry>();
  private readonly log: WatchEvent[] = [];
  private readonly nodeMap = new Map<string, NodeInfo>();
  private readonly watchers = new Set<() => void>();
  private rev = 0;
  private commitRev = 0;
  private compacted = 0;
  private uids = 0;

  constructor(
    private readonly opts: {
      now?: () => number;
      /** Revisions the log keeps, as the SQLite store's bound (default: all). */ changeLogLimit?: number;
    } = {},
  ) {}

  /** Drops the log entries at or below `revision` (what the SQLite store's bound does). */
  compact(revision: number): void {
    while (this.log.length > 0 && this.log[0]!.revision <= revision) this.log.shift();
    this.compacted = Math.max(this.compacted, revision);
  }

  async revision(): Promise<number> {
    return this.rev;
  }

  list<K extends K8sKind>(kind: K): Promise<Stored<ObjectOfKind<K>>[]>;
  list(): Promise<Stored[]>;
  async list(kind?: K8sKind): Promise<Stored[]> {
    return this.listNow(kind);
  }

  private listNow(kind?: K8sKind): Stored[] {
    return [...this.objects.values()]
      .map((e) => e.stored)
      .filter((s) => kind === undefined || s.object.kind === kind)
      .sort((a, b) => (keyText(keyOf(a.object)) < keyText(keyOf(b.object)) ? -1 : 1))
      .map(copy);
  }

  /** The store as a ClusterSource (its `list` returns items and revision). */
  source(): ClusterSource {
    return {
      list: async <K extends K8sKind>(kind: K): Promise<ListResult<K>> => ({
        items: this.listNow(kind) as Stored<ObjectOfKind<K>>[],
        revision: this.rev,
      }),
      watch: (kinds, from, handler) => this.watch(kinds, from, handler),
    };
  }

  async get(key: ObjectKey): Promise<Stored | undefined> {
    const e = this.objects.get(keyText(key));
    return e ? copy(e.stored) : undefined;
  }

  private append(type: WatchEventType, stored: Stored): void {
    this.log.push({
      type,
      kind: stored.object.kind,
      object: copy(stored),
      revision: stored.meta.resourceVersion,
    } as WatchEvent);
    if (this.opts.changeLogLimit !== undefined) this.compact(stored.meta.resourceVersion - this.opts.changeLogLimit);
  }

  private notify(): void {
    for (const w of this.watchers) w();
  }

  async commit(change: Change, ifRevision?: number): Promise<CommitAction[]> {
    if (ifRevision !== undefined && this.commitRev > ifRevision) {
      throw new RevisionConflictError(
        `commit: objects changed since revision ${ifRevision} (at revision ${this.commitRev})`,
      );
    }
    const actions: CommitAction[] = [];
    let revision: number | undefined;
    const next = () => (revision = ++this.rev);
    for (const raw of change.put) {
      const obj = copy(withoutStatus(raw));
      const k = keyText(keyOf(obj));
      const existing = this.objects.get(k);
      const spec = canonical(obj);
      if (existing && existing.spec === spec) {
        actions.push('unchanged');
        continue;
      }
      const status = existing?.stored.object.kind === 'Pod' ? existing.stored.object.status : undefined;
      const object = (status !== undefined && obj.kind === 'Pod' ? { ...obj, status } : obj) as K8sObject;
      const stored: Stored = {
        object,
        meta: {
          uid: existing?.stored.meta.uid ?? `uid-${++this.uids}`,
          resourceVersion: next(),
          creationTimestamp: existing?.stored.meta.creationTimestamp ?? new Date(this.opts.now?.() ?? 0).toISOString(),
        },
      };
      this.objects.set(k, { stored, spec });
      this.append(existing ? 'MODIFIED' : 'ADDED', stored);
      actions.push(existing ? 'configured' : 'created');
    }
    for (const key of change.delete) {
      const k = keyText(key);
      const existing = this.objects.get(k);
      if (existing) {
        this.objects.delete(k);
        this.append('DELETED', {
          object: existing.stored.object,
          meta: { ...existing.stored.meta, resourceVersion: next() },
        });
      }
      actions.push('deleted');
    }
    if (revision !== undefined) {
      this.commitRev = revision;
      this.notify();
    }
    return actions;
  }

  async setPodStatus(namespace: string, name: string, uid: string, status: PodStatus | undefined): Promise<boolean> {
    const e = this.objects.get(keyText({ kind: 'Pod', namespace, name }));
    if (!e || e.stored.meta.uid !== uid || e.stored.object.kind !== 'Pod') return false;
    if (canonical(e.stored.object.status) === canonical(status)) return true;
    const pod = {
      ...withoutStatus(e.stored.object),
      ...(status === undefined ? {} : { status: copy(status) }),
    } as K8sObject;
    e.stored = { object: pod, meta: { ...e.stored.meta, resourceVersion: ++this.rev } };
    this.append('MODIFIED', e.stored);
    this.notify();
    return true;
  }

  async removePod(namespace: string, name: string, uid: string): Promise<boolean> {
    const k = keyText({ kind: 'Pod', namespace, name });
    const e = this.objects.get(k);
    if (!e || e.stored.meta.uid !== uid) return false;
    this.objects.delete(k);
    this.commitRev = ++this.rev;
    this.append('DELETED', { object: e.stored.object, meta: { ...e.stored.meta, resourceVersion: this.rev } });
    this.notify();
    return true;
  }

  async nodes(): Promise<NodeInfo[]> {
    return [...this.nodeMap.values()].sort((a, b) => a.name.localeCompare(b.name)).map(copy);
  }

  async putNode(node: NodeInfo): Promise<void> {
    this.nodeMap.set(node.name, copy(node));
  }

  async removeNode(name: string): Promise<boolean> {
    return this.nodeMap.delete(name);
  }

  async close(): Promise<void> {
    return undefined;
  }

  watch<K extends K8sKind>(kinds: readonly K[], fromRevision: number, handler: WatchHandler<K>): WatchSubscription {
    if (kinds.length === 0) throw new Error('watch: no kinds given (watch at least one kind)');
    const want = new Set<K8sKind>(kinds);
    let last = fromRevision;
    let stopped = false;
    let loop: Promise<void> | undefined;
    let again = false;
    const drain = async () => {
      await Promise.resolve();
      while (!stopped) {
        again = false;
        if (last < this.compacted) {
          stopped = true;
          this.watchers.delete(wake);
          handler.onError(new RevisionTooOldError(last, this.compacted));
          return;
        }
        const revision = Math.max(last, this.rev);
        if (revision === last) return;
        const events = this.log.filter((e) => e.revision > last && want.has(e.kind)).map(copy) as WatchEvent<K>[];
        last = revision;
        try {
          await handler.onBatch({ events, revision });
        } catch (err) {
          stopped = true;
          this.watchers.delete(wake);
          handler.onError(
            new Error(`watch ${kinds.join(',')}: handler failed at revision ${revision}`, { cause: err }),
          );
          return;
        }
        if (!again) return;
      }
    };
    const wake = () => {
      again = true;
      loop ??= drain().finally(() => {
        loop = undefined;
        if (again && !stopped) wake();
      });
    };
    this.watchers.add(wake);
    wake();
    return {
      stop: async () => {
        stopped = true;
        this.watchers.delete(wake);
        await loop;
      },
    };
  }
}
