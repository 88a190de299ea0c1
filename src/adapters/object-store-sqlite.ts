/**
 * ObjectStore (and the pod runner's SandboxStore) on an SQLite file: the lab's API server
 * storage, opened by the CLI (apply, get, label), by every pod runner from its node namespace and
 * by every agent's cluster source (the file system is shared).
 *
 * - One table of objects keyed by (kind, namespace, name), holding the object as JSON with the
 *   store's metadata and, for pods, the status column the node writes; one of nodes; one of the
 *   runners' sandbox records; and a revision counter.
 * - The change log (`changes`): every object a commit changes and every pod status write that
 *   changes a status takes the next revision and appends one row (type, kind, the object after
 *   the change) in the same transaction, so a watcher that reads the log
 *   from its last revision sees every change once and in order (cluster-source-sqlite.ts).
 *   Node heartbeats and sandbox records are not cluster changes: no revision, no log row.
 * - Node heartbeats live in a second file (heartbeatPath: attached as `hb`), in a directory of its
 *   own: a watcher wakes on inotify events of the store's directory (cluster-source-sqlite.ts),
 *   and 50 nodes' heartbeats every few seconds would wake every agent and runner each time.
 * - The log is bounded: each write drops the rows older than the last `changeLogLimit` revisions
 *   and records the compacted revision; a watch from before it gets RevisionTooOldError.
 * - Writes run in BEGIN IMMEDIATE, so the revision check and the writes are one atomic step
 *   against other processes, and revisions are handed out in commit order (the log has no gaps
 *   a reader could see and later find filled).
 * - "unchanged" is decided by comparing the canonical JSON of the object (keys sorted, status
 *   left out), so re-applying a manifest is a no-op that does not even bump the revision.
 */

import Database from 'better-sqlite3';
import { Statements } from './sqlite-statements.js';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Clock } from '../ports/clock.js';
import { canonicalJsonText } from '../core/canonical-json.js';
import type { K8sKind, K8sObject, ObjectOfKind, PodStatus } from '../core/k8s/objects.js';
import { keyOf, RevisionConflictError, RevisionTooOldError, type ObjectKey } from '../core/k8s/object-key.js';
import type { Change, CommitAction, NodeInfo, ObjectStore, Stored } from '../ports/object-store.js';
import type { SandboxRecord, SandboxStore } from '../ports/sandbox-store.js';
import type { WatchEvent, WatchEventType } from '../ports/cluster-source.js';

interface ObjectRow {
  kind: string;
  namespace: string;
  name: string;
  body: string;
  status: string | null;
  uid: string;
  resource_version: number;
  created: string;
}

interface ChangeRow {
  revision: number;
  type: WatchEventType;
  body: string;
}

export interface SqliteObjectStoreOptions {
  /** Revisions kept in the change log (default 20,000). */
  changeLogLimit?: number;
}

/** Read from the change log: events of the kinds, and the revision they were read up to. */
export interface ChangeRead {
  events: WatchEvent[];
  revision: number;
}

const DEFAULT_CHANGE_LOG_LIMIT = 20_000;

function toStored(r: ObjectRow): Stored {
  const object = JSON.parse(r.body) as K8sObject;
  if (r.status !== null && object.kind === 'Pod') object.status = JSON.parse(r.status) as PodStatus;
  return { object, meta: { uid: r.uid, resourceVersion: r.resource_version, creationTimestamp: r.created } };
}

/** The object as stored in `body`: a pod's status is kept apart (only setPodStatus writes it). */
function specOf(obj: K8sObject): K8sObject {
  if (obj.kind !== 'Pod' || obj.status === undefined) return obj;
  const { status: _status, ...rest } = obj;
  return rest;
}

/** The heartbeat file of the store at `path`: `heartbeats/<name>-nodes.db` beside it. */
export function heartbeatPath(path: string): string {
  return path === ':memory:' ? ':memory:' : join(dirname(path), 'heartbeats', `${basename(path)}-nodes.db`);
}

export class SqliteObjectStore implements ObjectStore, SandboxStore {
  private readonly db: Database.Database;
  private readonly changeLogLimit: number;

  /** Prepared once each (see sqlite-statements.ts); set up with the connection. */
  private statements: Statements | undefined;

  private stmt(sql: string): Database.Statement {
    this.statements ??= new Statements(this.db);
    return this.statements.get(sql);
  }

  constructor(
    path: string,
    private readonly clock: Clock,
    opts: SqliteObjectStoreOptions = {},
  ) {
    this.changeLogLimit = opts.changeLogLimit ?? DEFAULT_CHANGE_LOG_LIMIT;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { timeout: 10_000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    const hb = heartbeatPath(path);
    if (hb !== ':memory:') mkdirSync(dirname(hb), { recursive: true });
    this.db.prepare('ATTACH DATABASE ? AS hb').run(hb);
    this.db.pragma('hb.journal_mode = WAL');
    this.db.pragma('hb.synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('commit_revision', 0);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('compacted', 0);
      CREATE TABLE IF NOT EXISTS objects (
        kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        body TEXT NOT NULL, status TEXT, uid TEXT NOT NULL, resource_version INTEGER NOT NULL, created TEXT NOT NULL,
        PRIMARY KEY (kind, namespace, name)
      );
      CREATE TABLE IF NOT EXISTS changes (
        revision INTEGER PRIMARY KEY, type TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS hb.nodes (name TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS sandboxes (
        namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (namespace, name)
      );
    `);
  }

  private meta(key: 'revision' | 'commit_revision' | 'compacted'): number {
    return (this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as { value: number }).value;
  }

  private setMeta(key: 'revision' | 'commit_revision' | 'compacted', value: number): void {
    this.stmt('UPDATE meta SET value = ? WHERE key = ?').run(value, key);
  }

  /** Takes the next revision; inside a write transaction only. */
  private bump(): number {
    const next = this.meta('revision') + 1;
    this.setMeta('revision', next);
    return next;
  }

  /** Appends one change to the log and drops what falls out of its bound; inside the write transaction. */
  private logChange(type: WatchEventType, stored: Stored): void {
    const revision = stored.meta.resourceVersion;
    this.stmt('INSERT INTO changes (revision, type, kind, body) VALUES (?, ?, ?, ?)').run(
      revision,
      type,
      stored.object.kind,
      JSON.stringify(stored),
    );
    const floor = revision - this.changeLogLimit;
    if (floor > this.meta('compacted')) {
      this.stmt('DELETE FROM changes WHERE revision <= ?').run(floor);
      this.setMeta('compacted', floor);
    }
  }

  async revision(): Promise<number> {
    return this.meta('revision');
  }

  list<K extends K8sKind>(kind: K): Promise<Stored<ObjectOfKind<K>>[]>;
  list(): Promise<Stored[]>;
  async list(kind?: K8sKind): Promise<Stored[]> {
    return this.listNow(kind);
  }

  private listNow(kind?: K8sKind): Stored[] {
    const rows = (
      kind === undefined
        ? this.stmt('SELECT * FROM objects ORDER BY kind, namespace, name').all()
        : this.stmt('SELECT * FROM objects WHERE kind = ? ORDER BY namespace, name').all(kind)
    ) as ObjectRow[];
    return rows.map(toStored);
  }

  /** The kind's objects and the revision they are a snapshot of (one read transaction). */
  snapshot<K extends K8sKind>(kind: K): { items: Stored<ObjectOfKind<K>>[]; revision: number } {
    return this.db.transaction(() => ({
      items: this.listNow(kind) as Stored<ObjectOfKind<K>>[],
      revision: this.meta('revision'),
    }))();
  }

  /**
   * The logged changes of the kinds after revision `from`, at most `limit`, in one read
   * transaction. Throws RevisionTooOldError when the log no longer reaches back to `from`.
   */
  changesSince(from: number, kinds: readonly K8sKind[], limit: number): ChangeRead {
    const sorted = [...new Set(kinds)].sort();
    // One fixed text per set of kinds (at most 2^5), so the statement cache stays small.
    const sql = `SELECT revision, type, body FROM changes WHERE revision > ? AND kind IN (${sorted.map(() => '?').join(', ')}) ORDER BY revision LIMIT ?`;
    return this.db.transaction((): ChangeRead => {
      const compacted = this.meta('compacted');
      if (from < compacted) throw new RevisionTooOldError(from, compacted);
      const current = this.meta('revision');
      const rows = this.stmt(sql).all(from, ...sorted, limit) as ChangeRow[];
      const events = rows.map((r): WatchEvent => {
        const object = JSON.parse(r.body) as Stored;
        return { type: r.type, kind: object.object.kind, object, revision: r.revision } as WatchEvent;
      });
      // A full page may stop before `current`: the next read goes on from its last row.
      const revision = rows.length === limit ? rows[rows.length - 1]!.revision : Math.max(from, current);
      return { events, revision };
    })();
  }

  async get(key: ObjectKey): Promise<Stored | undefined> {
    const row = this.stmt('SELECT * FROM objects WHERE kind = ? AND namespace = ? AND name = ?').get(
      key.kind,
      key.namespace,
      key.name,
    ) as ObjectRow | undefined;
    return row ? toStored(row) : undefined;
  }

  async commit(change: Change, ifRevision?: number): Promise<CommitAction[]> {
    const select = this.stmt('SELECT * FROM objects WHERE kind = ? AND namespace = ? AND name = ?');
    const upsert = this.stmt(`
      INSERT INTO objects (kind, namespace, name, body, status, uid, resource_version, created) VALUES (?, ?, ?, ?, NULL, ?, ?, ?)
      ON CONFLICT (kind, namespace, name) DO UPDATE SET body = excluded.body, resource_version = excluded.resource_version`);
    const remove = this.stmt('DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?');
    const run = this.db.transaction((): CommitAction[] => {
      const lastCommit = this.meta('commit_revision');
      if (ifRevision !== undefined && lastCommit > ifRevision) {
        throw new RevisionConflictError(
          `commit: objects changed since revision ${ifRevision} (at revision ${lastCommit})`,
        );
      }
      const actions: CommitAction[] = [];
      // Each changed object takes its own revision (as each write does on the API server), so a
      // revision names exactly one change and a watch can page the log by revision.
      let revision: number | undefined;
      const nextRevision = () => (revision = this.bump());
      for (const obj of change.put) {
        const k = keyOf(obj);
        const existing = select.get(k.kind, k.namespace, k.name) as ObjectRow | undefined;
        const body = canonicalJsonText(specOf(obj));
        if (existing && existing.body === body) {
          actions.push('unchanged');
          continue;
        }
        const rv = nextRevision();
        const uid = existing?.uid ?? randomUUID();
        const created = existing?.created ?? new Date(this.clock.now()).toISOString();
        upsert.run(k.kind, k.namespace, k.name, body, uid, rv, created);
        this.logChange(
          existing ? 'MODIFIED' : 'ADDED',
          toStored({ ...k, body, status: existing?.status ?? null, uid, resource_version: rv, created }),
        );
        actions.push(existing ? 'configured' : 'created');
      }
      for (const k of change.delete) {
        const existing = select.get(k.kind, k.namespace, k.name) as ObjectRow | undefined;
        if (existing) {
          remove.run(k.kind, k.namespace, k.name);
          this.logChange('DELETED', toStored({ ...existing, resource_version: nextRevision() }));
        }
        actions.push('deleted');
      }
      if (revision !== undefined) this.setMeta('commit_revision', revision);
      return actions;
    });
    // IMMEDIATE takes the write lock before the revision is read (see the file comment).
    return run.immediate();
  }

  async setPodStatus(namespace: string, name: string, uid: string, status: PodStatus | undefined): Promise<boolean> {
    const text = status === undefined ? null : JSON.stringify(status);
    const write = this.db.transaction((): boolean => {
      const row = this.podRow(namespace, name, uid);
      if (!row) return false;
      if (row.status === text) return true;
      const rv = this.bump();
      this.stmt(
        `UPDATE objects SET status = ?, resource_version = ? WHERE kind = 'Pod' AND namespace = ? AND name = ?`,
      ).run(text, rv, namespace, name);
      this.logChange('MODIFIED', toStored({ ...row, status: text, resource_version: rv }));
      return true;
    });
    return write.immediate();
  }

  /** The stored row of pod namespace/name if it is still the one with `uid`, else undefined. */
  private podRow(namespace: string, name: string, uid: string): ObjectRow | undefined {
    const row = this.stmt(`SELECT * FROM objects WHERE kind = 'Pod' AND namespace = ? AND name = ?`).get(
      namespace,
      name,
    ) as ObjectRow | undefined;
    return row?.uid === uid ? row : undefined;
  }

  async removePod(namespace: string, name: string, uid: string): Promise<boolean> {
    const write = this.db.transaction((): boolean => {
      const row = this.podRow(namespace, name, uid);
      if (!row) return false;
      this.stmt(`DELETE FROM objects WHERE kind = 'Pod' AND namespace = ? AND name = ?`).run(namespace, name);
      const rv = this.bump();
      this.logChange('DELETED', toStored({ ...row, resource_version: rv }));
      // A removal is a change of the objects: a commit planned before it must see a conflict.
      this.setMeta('commit_revision', rv);
      return true;
    });
    return write.immediate();
  }

  async nodes(): Promise<NodeInfo[]> {
    const rows = this.stmt('SELECT body FROM hb.nodes ORDER BY name').all() as Array<{ body: string }>;
    return rows.map((r) => JSON.parse(r.body) as NodeInfo);
  }

  async putNode(node: NodeInfo): Promise<void> {
    // No revision and no log row: a heartbeat is not a change any watcher follows.
    this.stmt(
      'INSERT INTO hb.nodes (name, body) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body',
    ).run(node.name, JSON.stringify(node));
  }

  async removeNode(name: string): Promise<boolean> {
    return this.stmt('DELETE FROM hb.nodes WHERE name = ?').run(name).changes > 0;
  }

  async sandboxes(): Promise<SandboxRecord[]> {
    const rows = this.stmt('SELECT body FROM sandboxes ORDER BY namespace, name').all() as Array<{ body: string }>;
    return rows.map((r) => JSON.parse(r.body) as SandboxRecord);
  }

  async putSandbox(record: SandboxRecord): Promise<void> {
    this.stmt(
      'INSERT INTO sandboxes (namespace, name, body) VALUES (?, ?, ?) ON CONFLICT (namespace, name) DO UPDATE SET body = excluded.body',
    ).run(record.namespace, record.name, JSON.stringify(record));
  }

  async removeSandbox(namespace: string, name: string, uid: string): Promise<void> {
    this.stmt(`DELETE FROM sandboxes WHERE namespace = ? AND name = ? AND json_extract(body, '$.uid') = ?`).run(
      namespace,
      name,
      uid,
    );
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
