// Runs every compiled test file (dist/**/*.test.js) with Node's own test runner.
// `--unit` runs only the unit tests that sit beside their source (no root, no kernel).
// Node 20's `--test DIR` would also run every .js under any "test" directory, helpers included,
// so the file list is made here instead.
//
// The kernel tests (dist/test/*.test.js) spend most of their time waiting on the kernel, daemons and
// convergence, not on the CPU, so they run as separate jobs, WEFT_TEST_JOBS at a time (default 2),
// longest first (the durations of a full run, scripts/test-durations.json, copied from the
// dist/test-durations.json a run writes), while the unit
// tests run as one more job. Tests of different files can share a machine: each file's namespaces,
// labs and ports are its own (see test/support/netns.ts and test/support/lab.ts). Each job's output
// is printed whole when it ends, so the log reads file by file; a summary and the durations
// (also written to dist/test-durations.json) come last. Any job that fails fails the run.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Buffer } from 'node:buffer';

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const extra = args.filter((a) => a !== '--unit');

const walk = (dir, out) => {
  let names;
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    if (err.code === 'ENOENT') return out;
    throw err;
  }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
};
const unitFiles = walk('dist/src', []);
const kernelFiles = unitOnly ? [] : walk('dist/test', []);
if (unitFiles.length + kernelFiles.length === 0) {
  console.error('no test files found under dist/src', unitOnly ? '' : 'or dist/test');
  process.exit(1);
}

const jobsWanted = Number(process.env.WEFT_TEST_JOBS ?? '2');
if (!Number.isInteger(jobsWanted) || jobsWanted < 1) {
  console.error(`WEFT_TEST_JOBS: must be a whole number ≥ 1 (got "${process.env.WEFT_TEST_JOBS}")`);
  process.exit(2);
}

let known = {};
try {
  known = JSON.parse(readFileSync('scripts/test-durations.json', 'utf8'));
} catch (err) {
  if (err.code !== 'ENOENT') throw err;
}
const UNIT = 'unit tests (dist/src)';
const jobs = [
  ...(unitFiles.length > 0 ? [{ name: UNIT, files: unitFiles }] : []),
  ...kernelFiles.map((f) => ({ name: f.replace(/^dist\//, '').replace(/\.js$/, '.ts'), files: [f] })),
].map((j) => ({ ...j, expectedS: known[j.name] ?? 60 }));
// Longest first: the last long file does not start when everything else has finished.
jobs.sort((a, b) => b.expectedS - a.expectedS);

const totals = { tests: 0, pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 };
const results = [];
const running = new Set();
const started = Date.now();

function runJob(job) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    console.log(`▶ ${job.name}`);
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...extra, ...job.files], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    const chunks = [];
    child.stdout.on('data', (d) => chunks.push(d));
    child.stderr.on('data', (d) => chunks.push(d));
    child.on('close', (code, signal) => {
      running.delete(child);
      const seconds = (Date.now() - t0) / 1000;
      const out = Buffer.concat(chunks).toString('utf8');
      const ok = code === 0;
      console.log(
        `\n──── ${job.name}: ${ok ? 'passed' : `FAILED (${signal ?? `exit ${code}`})`} in ${seconds.toFixed(1)} s ────`,
      );
      process.stdout.write(out.endsWith('\n') ? out : `${out}\n`);
      // The spec reporter ends with "ℹ tests N", "ℹ pass N", ...: add them up.
      for (const key of Object.keys(totals)) {
        const m = out.match(new RegExp(`^ℹ ${key} (\\d+)$`, 'm'));
        if (m) totals[key] += Number(m[1]);
      }
      results.push({ name: job.name, seconds, ok });
      resolve();
    });
  });
}

for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    for (const c of running) c.kill(sig);
    process.exit(1);
  });

const queue = [...jobs];
const workers = Array.from({ length: Math.min(jobsWanted, queue.length) }, async () => {
  for (let job = queue.shift(); job; job = queue.shift()) await runJob(job);
});
await Promise.all(workers);

const wall = (Date.now() - started) / 1000;
const failed = results.filter((r) => !r.ok);
console.log('\n──── summary ────');
for (const r of [...results].sort((a, b) => b.seconds - a.seconds))
  console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.seconds.toFixed(1).padStart(7)} s  ${r.name}`);
console.log(
  `tests ${totals.tests}, pass ${totals.pass}, fail ${totals.fail}, skipped ${totals.skipped}, todo ${totals.todo}, cancelled ${totals.cancelled}`,
);
console.log(`${results.length} jobs, ${jobsWanted} at a time, ${wall.toFixed(0)} s`);
if (failed.length > 0) console.log(`failed: ${failed.map((r) => r.name).join(', ')}`);
writeFileSync(
  'dist/test-durations.json',
  JSON.stringify(Object.fromEntries(results.map((r) => [r.name, Math.round(r.seconds)])), null, 2) + '\n',
);
process.exit(failed.length > 0 || totals.tests === 0 ? 1 : 0);
