/**
 * ObjectStore on an SQLite file: the lab's API server storage, opened by the CLI (apply, get,
 * label) and by every pod runner from its node namespace (the file system is shared).
 *
 * - One table of objects keyed by (kind, namespace, name), holding the object as JSON with the
 *   store's metadata; one of pod statuses; one of nodes; and a revision counter that every change
 *   of objects bumps, which is what the pod runners poll.
 * - commit() runs in BEGIN IMMEDIATE, so the revision check and the writes are one atomic step
 *   against other processes.
 * - "unchanged" is decided by comparing the canonical JSON of the object (keys sorted), so
 *   re-applying a manifest is a no-op that does not even bump the revision.
 */

import Database from 'better-sqlite3';
import { Statements } from './sqlite-statements.js';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../ports/clock.js';
import { canonicalJsonText } from '../core/lab/canonical.js';
import type { K8sKind, K8sObject } from '../core/k8s/objects.js';
import {
  keyOf,
  RevisionConflictError,
  type Change,
  type CommitAction,
  type NodeInfo,
  type ObjectKey,
  type ObjectStore,
  type PodStatus,
  type Stored,
} from '../ports/object-store.js';

interface ObjectRow {
  kind: string;
  namespace: string;
  name: string;
  body: string;
  uid: string;
  resource_version: number;
  created: string;
}

function toStored(r: ObjectRow): Stored {
  return {
    object: JSON.parse(r.body) as K8sObject,
    meta: { uid: r.uid, resourceVersion: r.resource_version, creationTimestamp: r.created },
  };
}

export class SqliteObjectStore implements ObjectStore {
  private readonly db: Database.Database;

  /** Prepared once each (see sqlite-statements.ts); set up with the connection. */
  private statements: Statements | undefined;

  private stmt(sql: string): Database.Statement {
    this.statements ??= new Statements(this.db);
    return this.statements.get(sql);
  }

  constructor(path: string, private readonly clock: Clock) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { timeout: 10_000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('status_revision', 0);
      CREATE TABLE IF NOT EXISTS objects (
        kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        body TEXT NOT NULL, uid TEXT NOT NULL, resource_version INTEGER NOT NULL, created TEXT NOT NULL,
        PRIMARY KEY (kind, namespace, name)
      );
      CREATE TABLE IF NOT EXISTS pod_status (
        namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (namespace, name)
      );
      CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY, body TEXT NOT NULL);
    `);
  }

  private currentRevision(): number {
    const row = this.stmt(`SELECT value FROM meta WHERE key = 'revision'`).get() as { value: number };
    return row.value;
  }

  private bump(): number {
    const next = this.currentRevision() + 1;
    this.stmt(`UPDATE meta SET value = ? WHERE key = 'revision'`).run(next);
    return next;
  }

  /** Objects revision and status revision: node heartbeats and identical status writes change neither. */
  async changeToken(): Promise<string> {
    const rows = this.stmt(`SELECT key, value FROM meta WHERE key IN ('revision', 'status_revision') ORDER BY key`).all() as Array<{ key: string; value: number }>;
    return rows.map((r) => r.value).join('.');
  }

  async revision(): Promise<number> {
    return this.currentRevision();
  }

  async list(kind?: K8sKind): Promise<Stored[]> {
    const rows = (kind === undefined
      ? this.stmt('SELECT * FROM objects ORDER BY kind, namespace, name').all()
      : this.stmt('SELECT * FROM objects WHERE kind = ? ORDER BY namespace, name').all(kind)) as ObjectRow[];
    return rows.map(toStored);
  }

  async get(key: ObjectKey): Promise<Stored | undefined> {
    const row = this.stmt('SELECT * FROM objects WHERE kind = ? AND namespace = ? AND name = ?').get(key.kind, key.namespace, key.name) as ObjectRow | undefined;
    return row ? toStored(row) : undefined;
  }

  async commit(change: Change, ifRevision?: number): Promise<CommitAction[]> {
    const select = this.stmt('SELECT * FROM objects WHERE kind = ? AND namespace = ? AND name = ?');
    const upsert = this.stmt(`
      INSERT INTO objects (kind, namespace, name, body, uid, resource_version, created) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (kind, namespace, name) DO UPDATE SET body = excluded.body, resource_version = excluded.resource_version`);
    const remove = this.stmt('DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?');
    const run = this.db.transaction((): CommitAction[] => {
      if (ifRevision !== undefined && this.currentRevision() !== ifRevision) {
        throw new RevisionConflictError(`the store changed since revision ${ifRevision} (now ${this.currentRevision()})`);
      }
      const actions: CommitAction[] = [];
      let revision: number | undefined;
      const nextRevision = () => (revision ??= this.bump());
      for (const obj of change.put) {
        const k = keyOf(obj);
        const existing = select.get(k.kind, k.namespace, k.name) as ObjectRow | undefined;
        const body = canonicalJsonText(obj);
        if (existing && existing.body === body) {
          actions.push('unchanged');
          continue;
        }
        upsert.run(k.kind, k.namespace, k.name, body, existing?.uid ?? randomUUID(), nextRevision(), existing?.created ?? new Date(this.clock.now()).toISOString());
        actions.push(existing ? 'configured' : 'created');
      }
      for (const k of change.delete) {
        if (remove.run(k.kind, k.namespace, k.name).changes > 0) nextRevision();
        actions.push('deleted');
      }
      return actions;
    });
    // IMMEDIATE takes the write lock before the revision is read (see the file comment).
    return run.immediate();
  }

  async podStatuses(): Promise<PodStatus[]> {
    const rows = this.stmt('SELECT body FROM pod_status ORDER BY namespace, name').all() as Array<{ body: string }>;
    return rows.map((r) => JSON.parse(r.body) as PodStatus);
  }

  async setPodStatus(namespace: string, name: string, status: PodStatus | undefined): Promise<void> {
    // Statuses do not bump the revision: it tells the pod runners that objects changed, and
    // every runner would otherwise re-read every pod each time any pod starts. A status that
    // really changes bumps status_revision instead (see changeToken()).
    const body = status === undefined ? undefined : JSON.stringify(status);
    const write = this.db.transaction(() => {
      const row = this.stmt('SELECT body FROM pod_status WHERE namespace = ? AND name = ?').get(namespace, name) as { body: string } | undefined;
      if (row?.body === body) return;
      if (body === undefined) this.stmt('DELETE FROM pod_status WHERE namespace = ? AND name = ?').run(namespace, name);
      else this.stmt('INSERT INTO pod_status (namespace, name, body) VALUES (?, ?, ?) ON CONFLICT (namespace, name) DO UPDATE SET body = excluded.body').run(namespace, name, body);
      this.stmt(`UPDATE meta SET value = value + 1 WHERE key = 'status_revision'`).run();
    });
    write.immediate();
  }

  async nodes(): Promise<NodeInfo[]> {
    const rows = this.stmt('SELECT body FROM nodes ORDER BY name').all() as Array<{ body: string }>;
    return rows.map((r) => JSON.parse(r.body) as NodeInfo);
  }

  async putNode(node: NodeInfo): Promise<void> {
    // A heartbeat alone does not bump the revision: runners watch the revision for spec changes.
    this.stmt('INSERT INTO nodes (name, body) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body').run(node.name, JSON.stringify(node));
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
