import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteObjectStore } from './object-store-sqlite.js';
import { FakeClock } from '../testkit/clock-fake.js';
import { RevisionConflictError, type PodStatus } from '../ports/object-store.js';
import type { Namespace } from '../core/k8s/objects.js';

const nsObj = (name: string, labels: Record<string, string> = {}): Namespace => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, annotations: {} } });

function withStore(body: (s: SqliteObjectStore, path: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-objstore-'));
    const path = join(dir, 'objects.db');
    const s = new SqliteObjectStore(path, new FakeClock(1_700_000_000_000));
    try {
      await body(s, path);
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('an empty store: revision 0, nothing listed, get finds nothing', withStore(async (s) => {
  assert.equal(await s.revision(), 0);
  assert.deepEqual(await s.list(), []);
  assert.equal(await s.get({ kind: 'Namespace', namespace: '', name: 'x' }), undefined);
  assert.deepEqual(await s.podStatuses(), []);
  assert.deepEqual(await s.nodes(), []);
}));

test('commit: created, unchanged (key order does not matter, revision stays), configured (uid and creation kept), deleted', withStore(async (s) => {
  assert.deepEqual(await s.commit({ put: [nsObj('x', { a: '1', b: '2' })], delete: [] }), ['created']);
  const first = (await s.get({ kind: 'Namespace', namespace: '', name: 'x' }))!;
  const rev = await s.revision();
  assert.deepEqual(await s.commit({ put: [nsObj('x', { b: '2', a: '1' })], delete: [] }), ['unchanged']);
  assert.equal(await s.revision(), rev);
  assert.deepEqual(await s.commit({ put: [nsObj('x', { a: '9' })], delete: [] }), ['configured']);
  const second = (await s.get({ kind: 'Namespace', namespace: '', name: 'x' }))!;
  assert.equal(second.meta.uid, first.meta.uid);
  assert.equal(second.meta.creationTimestamp, first.meta.creationTimestamp);
  assert.ok(second.meta.resourceVersion > first.meta.resourceVersion);
  assert.deepEqual(await s.commit({ put: [], delete: [{ kind: 'Namespace', namespace: '', name: 'x' }] }), ['deleted']);
  assert.deepEqual(await s.list(), []);
}));

test('commit with a stale ifRevision changes nothing', withStore(async (s) => {
  const rev = await s.revision();
  await s.commit({ put: [nsObj('x')], delete: [] });
  await assert.rejects(s.commit({ put: [nsObj('y')], delete: [] }, rev), RevisionConflictError);
  assert.deepEqual((await s.list()).map((o) => o.object.metadata.name), ['x']);
}));

test('a second handle on the same file (another process) sees commits and statuses', withStore(async (s, path) => {
  const other = new SqliteObjectStore(path, new FakeClock(0));
  try {
    await s.commit({ put: [nsObj('x')], delete: [] });
    const st: PodStatus = { namespace: 'x', name: 'a', uid: 'u', node: 'n1', phase: 'Running', podIP: '10.244.1.2', netns: 'ns', containerId: 'c' };
    const rev = await s.revision();
    await s.setPodStatus('x', 'a', st);
    assert.equal(await other.revision(), rev, 'a status write does not bump the objects revision');
    assert.deepEqual(await other.podStatuses(), [st]);
    await other.setPodStatus('x', 'a', undefined);
    assert.deepEqual(await s.podStatuses(), []);
    await s.putNode({ name: 'n1', internalIP: '10.99.0.1', ready: true, heartbeat: 't' });
    assert.deepEqual((await other.nodes()).map((n) => n.name), ['n1']);
  } finally {
    await other.close();
  }
}));

test('changeToken moves with object and status changes seen from another handle, not with heartbeats or identical statuses', withStore(async (s, path) => {
  const other = new SqliteObjectStore(path, new FakeClock(0));
  try {
    const seen = new Set<string>([await other.changeToken()]);
    const moved = async (what: string) => {
      const t = await other.changeToken();
      assert.ok(!seen.has(t), `${what} changes the token`);
      seen.add(t);
    };
    const still = async (what: string) => assert.ok(seen.has(await other.changeToken()), `${what} leaves the token`);
    await s.commit({ put: [nsObj('x')], delete: [] });
    await moved('a new object');
    await s.commit({ put: [nsObj('x')], delete: [] });
    await still('an unchanged object');
    const st: PodStatus = { namespace: 'x', name: 'a', uid: 'u', node: 'n1', phase: 'Pending', netns: 'ns', containerId: 'c' };
    await s.setPodStatus('x', 'a', st);
    await moved('a new status');
    await s.setPodStatus('x', 'a', { ...st });
    await still('the same status again');
    await s.setPodStatus('x', 'a', { ...st, phase: 'Running', podIP: '10.244.1.2' });
    await moved('a changed status');
    await s.putNode({ name: 'n1', internalIP: '10.99.0.1', ready: true, heartbeat: 't1' });
    await s.putNode({ name: 'n1', internalIP: '10.99.0.1', ready: true, heartbeat: 't2' });
    await still('node heartbeats');
    await s.setPodStatus('x', 'a', undefined);
    await moved('a removed status');
    await s.setPodStatus('x', 'a', undefined);
    await still('removing a missing status');
  } finally {
    await other.close();
  }
}));
