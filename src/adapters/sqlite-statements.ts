/**
 * Prepared statements of one SQLite connection, each prepared once: preparing costs more than
 * running the small queries the stores use, and the agents run them many times a second.
 */

import type Database from 'better-sqlite3';

export class Statements {
  private readonly cache = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  /** The statement for this SQL text (only fixed texts: the cache never forgets one). */
  get(sql: string): Database.Statement {
    let st = this.cache.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.cache.set(sql, st);
    }
    return st;
  }
}
