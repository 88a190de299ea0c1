/**
 * Logger that writes one JSON object per line, e.g.
 * {"ts":"2026-11-22T11:00:00.000Z","level":"info","msg":"lease acquired","node":"n1","subnet":"10.244.3.0/24"}
 */

import type { LogFields, Logger } from '../ports/logger.js';

export class JsonLogger implements Logger {
  constructor(
    private readonly write: (line: string) => void,
    private readonly base: LogFields = {},
    private readonly now: () => Date = () => new Date(),
  ) {}

  private emit(level: string, msg: string, fields: LogFields = {}): void {
    this.write(JSON.stringify({ ts: this.now().toISOString(), level, msg, ...this.base, ...fields }) + '\n');
  }

  info(msg: string, fields?: LogFields): void {
    this.emit('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.emit('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.emit('error', msg, fields);
  }

  with(fields: LogFields): Logger {
    return new JsonLogger(this.write, { ...this.base, ...fields }, this.now);
  }
}
