// Runs every compiled test file (dist/**/*.test.js) with Node's own test runner.
// `--unit` runs only the unit tests that sit beside their source (no root, no kernel).
// Node 20's `--test DIR` would also run every .js under any "test" directory, helpers included,
// so the file list is made here instead.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const unitOnly = process.argv.includes('--unit');
const roots = unitOnly ? ['dist/src'] : ['dist/src', 'dist/test'];
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
};
for (const r of roots) {
  try {
    walk(r);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
}
if (files.length === 0) {
  console.error('no test files found under', roots.join(', '));
  process.exit(1);
}
const extra = process.argv.slice(2).filter((a) => a !== '--unit');
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...extra, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
