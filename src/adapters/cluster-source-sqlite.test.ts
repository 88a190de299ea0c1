// The ClusterSource contract against the SQLite store: the source reads through its own handle
// on the file (as another process would), woken by fs.watch with a fast fallback poll.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from './clock.js';
import { FakeClock } from '../testkit/clock-fake.js';
import { RevisionTooOldError } from '../core/k8s/object-key.js';
import { SqliteObjectStore } from './object-store-sqlite.js';
import { SqliteClusterSource } from './cluster-source-sqlite.js';
import { watchFile } from './file-watch.js';
import { runClusterSourceContract } from '../testkit/cluster-source-contract.js';

runClusterSourceContract('sqlite', async (opts) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-cluster-src-'));
  const path = join(dir, 'objects.db');
  const store = new SqliteObjectStore(path, systemClock, opts);
  const reader = new SqliteObjectStore(path, systemClock);
  const source = new SqliteClusterSource({ store: reader, path, clock: systemClock, pollMs: 200, pageSize: 7 });
  return {
    store,
    source,
    close: async () => {
      await store.close();
      await reader.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

test('sqlite: a watch that ends (too old) or is stopped holds no timer and no file watch; a wake reads at once and 20 ms later', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-cluster-src-'));
  const path = join(dir, 'objects.db');
  const clock = new FakeClock();
  const store = new SqliteObjectStore(path, clock, { changeLogLimit: 2 });
  let watching = 0;
  let wake: () => void = () => undefined;
  const source = new SqliteClusterSource({
    store,
    path,
    clock,
    watchFile: (_p, onChange) => {
      watching++;
      wake = onChange;
      return () => watching--;
    },
  });
  try {
    const ns = (name: string) => ({
      apiVersion: 'v1' as const,
      kind: 'Namespace' as const,
      metadata: { name, labels: {}, annotations: {} },
    });
    const seen: number[] = [];
    const errors: Error[] = [];
    const live = source.watch(['Namespace'], 0, {
      onBatch: (b) => void seen.push(...b.events.map((e) => e.revision)),
      onError: (e) => errors.push(e),
    });
    await clock.advance(0);
    await store.commit({ put: [ns('a')], delete: [] });
    wake();
    await clock.advance(0);
    assert.deepEqual(seen, [1], 'the wake read at once');
    await store.commit({ put: [ns('b')], delete: [] });
    await clock.advance(20);
    assert.deepEqual(seen, [1, 2], 'the second look 20 ms after the wake');
    await live.stop();
    assert.equal(watching, 0);
    assert.equal(clock.pendingTimers, 0, 'stop() leaves no timer');

    for (const n of ['c', 'd', 'e', 'f']) await store.commit({ put: [ns(n)], delete: [] });
    const old = source.watch(['Namespace'], 1, { onBatch: () => undefined, onError: (e) => errors.push(e) });
    await clock.advance(0);
    assert.ok(errors[0] instanceof RevisionTooOldError);
    assert.equal(watching, 0, 'the ended watch released its file watch');
    assert.equal(clock.pendingTimers, 0, 'and its poll');
    await old.stop();
    assert.equal(errors.length, 1, 'one error, none after stop()');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sqlite: a node heartbeat does not touch the store's directory, so it wakes no watcher; a commit does", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-cluster-src-'));
  const path = join(dir, 'objects.db');
  const store = new SqliteObjectStore(path, systemClock);
  let wakes = 0;
  const stop = watchFile(path, () => wakes++);
  const settle = () => new Promise((r) => setTimeout(r, 150));
  try {
    await settle();
    wakes = 0;
    for (let i = 0; i < 5; i++)
      await store.putNode({ name: 'n1', internalIP: '10.99.0.1', ready: true, heartbeat: `t${i}` });
    await settle();
    assert.equal(wakes, 0, 'heartbeats woke a watcher of the store');
    assert.equal((await store.nodes())[0]?.heartbeat, 't4');
    await store.commit({
      put: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: {}, annotations: {} } }],
      delete: [],
    });
    await settle();
    assert.ok(wakes > 0, 'control: a commit wakes the watcher');
  } finally {
    stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
