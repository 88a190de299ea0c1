/**
 * LeaseStore on an embedded SQLite file: the default store, shared safely by every weft process
 * on one machine (the lab's agents each open the same file from their own node namespace).
 *
 * - WAL mode and a busy timeout let many processes read while one writes.
 * - acquire/renew run in BEGIN IMMEDIATE transactions, which take SQLite's write lock before
 *   reading, so of N processes acquiring one subnet exactly one sees it free.
 * - Expiry needs no writer: a lease whose expires_at has passed is treated as absent by every
 *   read, and the watcher notices it disappear on its next poll.
 * - watch() polls (SQLite has no change notifications across processes) and reports the diff;
 *   a poll with no commit since the last one (PRAGMA data_version) skips the list.
 */

import { watchFile } from './file-watch.js';
import Database from 'better-sqlite3';
import { Statements } from './sqlite-statements.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../ports/clock.js';
import { pollingWatch, WatchRegistry } from './lease-watch-poll.js';
import {
  type Lease,
  type LeaseAttrs,
  type LeaseEvent,
  type LeaseStore,
  type LeaseWatch,
} from '../ports/lease-store.js';
import { LeaseLostError, LeaseTakenError } from '../core/port-errors.js';

interface Row {
  subnet: string;
  public_ip: string;
  backend_type: string;
  backend_data: string;
  node_name: string | null;
  expires_at: number;
}

function toLease(r: Row): Lease {
  const lease: Lease = {
    subnet: r.subnet,
    publicIp: r.public_ip,
    backendType: r.backend_type,
    backendData: JSON.parse(r.backend_data) as Lease['backendData'],
    expiresAt: r.expires_at,
  };
  if (r.node_name) lease.nodeName = r.node_name;
  return lease;
}

export interface SqliteLeaseStoreOptions {
  path: string;
  clock: Clock;
  /**
   * How often watch() looks without a hint (ms; default 2000): a write by any process wakes it
   * at once through inotify on the file, and a lease's expiry is looked at when it is due.
   */
  pollMs?: number;
  /** Subscribes to changes of the file (default: fs.watch, see file-watch.ts); returns the stop. */
  watchFile?: (path: string, onChange: () => void) => () => void;
}

export class SqliteLeaseStore implements LeaseStore {
  private readonly db: Database.Database;
  /** Writes through this connection, which its own data_version does not count. */
  private localWrites = 0;

  /** Prepared once each (see sqlite-statements.ts); set up with the connection. */
  private statements: Statements | undefined;

  private stmt(sql: string): Database.Statement {
    this.statements ??= new Statements(this.db);
    return this.statements.get(sql);
  }
  private readonly watches = new WatchRegistry();

  constructor(private readonly opts: SqliteLeaseStoreOptions) {
    mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path, { timeout: 10_000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS leases (
        subnet TEXT PRIMARY KEY,
        public_ip TEXT NOT NULL,
        backend_type TEXT NOT NULL,
        backend_data TEXT NOT NULL,
        node_name TEXT,
        expires_at INTEGER NOT NULL
      );`);
  }

  async getConfig(): Promise<string | undefined> {
    const row = this.stmt('SELECT value FROM config WHERE key = ?').get('net-conf') as { value: string } | undefined;
    return row?.value;
  }

  async putConfig(text: string): Promise<void> {
    this.localWrites++;
    this.stmt(
      'INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    ).run('net-conf', text);
  }

  async listLeases(): Promise<Lease[]> {
    const rows = this.stmt('SELECT * FROM leases WHERE expires_at > ? ORDER BY subnet').all(
      this.opts.clock.now(),
    ) as Row[];
    return rows.map(toLease);
  }

  private write(subnet: string, attrs: LeaseAttrs, expiresAt: number): Lease {
    this.db
      .prepare(
        `INSERT INTO leases (subnet, public_ip, backend_type, backend_data, node_name, expires_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(subnet) DO UPDATE SET public_ip = excluded.public_ip, backend_type = excluded.backend_type,
           backend_data = excluded.backend_data, node_name = excluded.node_name, expires_at = excluded.expires_at`,
      )
      .run(
        subnet,
        attrs.publicIp,
        attrs.backendType,
        JSON.stringify(attrs.backendData),
        attrs.nodeName ?? null,
        expiresAt,
      );
    return toLease({
      subnet,
      public_ip: attrs.publicIp,
      backend_type: attrs.backendType,
      backend_data: JSON.stringify(attrs.backendData),
      node_name: attrs.nodeName ?? null,
      expires_at: expiresAt,
    });
  }

  async acquire(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease> {
    this.localWrites++;
    const tx = this.db.transaction(() => {
      const now = this.opts.clock.now();
      const cur = this.stmt('SELECT * FROM leases WHERE subnet = ?').get(subnet) as Row | undefined;
      if (cur && cur.expires_at > now)
        throw new LeaseTakenError(
          `subnet ${subnet} is leased by ${cur.public_ip} until ${new Date(cur.expires_at).toISOString()}`,
        );
      return this.write(subnet, attrs, now + ttlMs);
    });
    return tx.immediate();
  }

  async renew(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease> {
    this.localWrites++;
    const tx = this.db.transaction(() => {
      const now = this.opts.clock.now();
      const cur = this.stmt('SELECT * FROM leases WHERE subnet = ?').get(subnet) as Row | undefined;
      if (!cur || cur.expires_at <= now) throw new LeaseLostError(`renew ${subnet}: the lease expired`);
      if (cur.public_ip !== attrs.publicIp) throw new LeaseLostError(`renew ${subnet}: now held by ${cur.public_ip}`);
      return this.write(subnet, attrs, now + ttlMs);
    });
    return tx.immediate();
  }

  async revoke(subnet: string): Promise<void> {
    this.localWrites++;
    this.stmt('DELETE FROM leases WHERE subnet = ?').run(subnet);
  }

  async watch(onEvent: (e: LeaseEvent) => void, onError?: (err: Error) => void): Promise<LeaseWatch> {
    // PRAGMA data_version changes when another connection commits: most polls then cost one
    // tiny read instead of listing and comparing every lease (inotify wakes the watch on a write).
    // This connection's own writes do not move its data_version: they are counted here.
    let version = '';
    const changed = () => {
      const v = `${String(this.db.pragma('data_version', { simple: true }))}.${this.localWrites}`;
      const moved = v !== version;
      version = v;
      return moved;
    };
    return this.watches.track(
      await pollingWatch(
        () => this.listLeases(),
        this.opts.clock,
        this.opts.pollMs ?? 2_000,
        onEvent,
        onError,
        changed,
        (wake) => (this.opts.watchFile ?? watchFile)(this.opts.path, wake),
      ),
    );
  }

  async close(): Promise<void> {
    await this.watches.stopAll();
    this.db.close();
  }
}
