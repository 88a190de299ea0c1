/**
 * Logger: structured log lines. Agents log one JSON object per line on stderr
 * ({"ts","level","msg",...fields}); tests use a recording fake.
 */

export type LogFields = Record<string, string | number | boolean | undefined | null | string[]>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}
