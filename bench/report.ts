/**
 * What every lab-level benchmark ends with: a table on stdout (one row a figure, beside its
 * same-run baseline) and the figures as JSON in bench/results/NAME.json.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchRow {
  what: string;
  weft: string;
  baseline: string;
  ratio: string;
  note: string;
}

export function report(
  name: string,
  rows: readonly BenchRow[],
  results: Record<string, unknown>,
  widths: readonly number[],
): void {
  const line = (c: string[]) => c.map((x, i) => (i < widths.length ? x.padEnd(widths[i]!) : x)).join(' ');
  console.log(line(['measure', 'weft', 'baseline (same run)', 'ratio', 'note']));
  for (const r of rows) console.log(line([r.what, r.weft, r.baseline, r.ratio, r.note]));
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ ...results, rows }, null, 2) + '\n');
  console.log(`\nwritten: bench/results/${name}.json`);
}

/**
 * A run of some parts keeps the figures of the others from the last results file of `name`,
 * saying when each was measured (`carried`): results[key] for every key not measured this run.
 */
export function carryParts(
  name: string,
  keys: readonly string[],
  measured: (key: string) => boolean,
  results: Record<string, unknown>,
): void {
  const file = fileURLToPath(new URL(`../../bench/results/${name}.json`, import.meta.url));
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const carried: Record<string, unknown> = {};
  for (const key of keys) {
    if (measured(key) || previous[key] === undefined) continue;
    results[key] = previous[key];
    carried[key] = (previous.carried as Record<string, unknown> | undefined)?.[key] ?? previous.date;
  }
  if (Object.keys(carried).length > 0) results.carried = carried;
}

/** The median (the lower middle of an even count). */
export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** Nearest-rank percentile. */
export const percentile = (xs: readonly number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)]!;

/** A positive whole number from environment variable `name`, or `fallback` when it is unset or empty. */
export function sizeFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: want a positive integer, got "${text}"`);
  return n;
}
