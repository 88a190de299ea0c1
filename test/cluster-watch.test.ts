/**
 * Issue 10 acceptance 3: the SQLite store's watch is exact across processes. Four writer
 * processes make 10,000 random writes (creates, label updates, deletes, pod status writes, and
 * node heartbeats that must show up nowhere) to one store file while three consumer processes
 * watch every kind; one consumer is stopped twice on the way and restarted from the last
 * revision it recorded. Then:
 * - the change log holds revisions 1..N without a gap (N: the store's revision);
 * - every consumer's record equals the log exactly: each change once, in order, across restarts;
 * - every writer's own record of what it changed equals the log's subsequence of its objects.
 * Needs no root.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../src/adapters/clock.js';
import { SqliteObjectStore } from '../src/adapters/object-store-sqlite.js';
import { ALL_KINDS, LOG_LIMIT, markOf, type ChangeLine } from './support/cluster-watch-lines.js';

const CHILD = fileURLToPath(new URL('./support/cluster-watch-child.js', import.meta.url));
const WRITERS = 4;
const OPS = 2_500;

function runChild(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${args[0]} ${args.slice(2).join(' ')}: exit ${code ?? signal}: ${stderr}`)),
    );
  });
}

function readLines(path: string): ChangeLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ChangeLine);
}

/** A consumer that is restarted from its last recorded revision each time it stops early, `restarts` times. */
async function consumer(db: string, out: string, stopEvery: number, restarts: number): Promise<number> {
  let runs = 0;
  for (;;) {
    const lines = readLines(out);
    if (lines.some((l) => l.kind === 'Namespace' && l.name === 'end')) return runs;
    const from = lines.at(-1)?.revision ?? 0;
    await runChild(['consumer', db, String(from), out, String(runs < restarts ? stopEvery : 0)]);
    runs++;
  }
}

test(
  '10,000 writes from 4 processes: 3 watching processes see every change exactly once and in order, also across restarts',
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-cluster-watch-'));
    const db = join(dir, 'objects.db');
    const store = new SqliteObjectStore(db, systemClock, { changeLogLimit: LOG_LIMIT });
    try {
      const t0 = Date.now();
      const consumers = [
        consumer(db, join(dir, 'c0'), 0, 0),
        consumer(db, join(dir, 'c1'), 0, 0),
        consumer(db, join(dir, 'c2'), 2_000, 2),
      ];
      const writers = Array.from({ length: WRITERS }, (_, i) =>
        runChild(['writer', db, String(i), String(OPS), String(1000 + i), join(dir, `w${i}`)]),
      );
      await Promise.all(writers);
      await store.commit({
        put: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'end', labels: {}, annotations: {} } }],
        delete: [],
      });
      const runs = await Promise.all(consumers);
      const elapsed = Date.now() - t0;

      const end = await store.revision();
      const log = store.changesSince(0, ALL_KINDS, 10 * LOG_LIMIT).events.map(
        (e): ChangeLine => ({
          type: e.type,
          kind: e.kind,
          name: e.object.object.metadata.name,
          mark: markOf(e.object),
          revision: e.revision,
        }),
      );
      assert.equal(log.length, end, 'one log row per revision');
      assert.deepEqual(
        log.map((l) => l.revision),
        Array.from({ length: end }, (_, i) => i + 1),
        'revisions 1..N, no gap',
      );
      assert.equal(end, WRITERS * OPS + 1, 'every write (and the end marker) took one revision; heartbeats none');

      for (const [i, r] of runs.entries()) {
        const got = readLines(join(dir, `c${i}`));
        assert.equal(got.length, log.length, `consumer ${i}: as many events as log rows`);
        assert.deepEqual(got, log, `consumer ${i}: the log exactly, in order`);
        if (i === 2) assert.equal(r, 3, 'consumer 2 ran three times (two restarts)');
      }
      for (let w = 0; w < WRITERS; w++) {
        const own = readLines(join(dir, `w${w}`));
        const theirs = log.filter((l) => l.name.startsWith(`w${w}-`)).map(({ revision: _r, ...rest }) => rest);
        assert.equal(own.length, OPS, `writer ${w} recorded every op`);
        assert.deepEqual(theirs, own, `writer ${w}: its changes, in its order, each once`);
      }
      assert.ok(elapsed < 60_000, `took ${elapsed} ms`);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
