/**
 * What every lab-level benchmark ends with: a table on stdout (one row a figure, beside its
 * same-run baseline) and the figures as JSON in bench/results/NAME.json.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
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
