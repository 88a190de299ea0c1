import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteObjectStore } from './object-store-sqlite.js';
import { FakeClock } from '../testkit/clock-fake.js';
import { RevisionConflictError } from '../core/k8s/object-key.js';
import type { Namespace, Pod } from '../core/k8s/objects.js';
import { nodePodStatus } from '../core/k8s/pod-status.js';

const podObj = (name: string): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'x', labels: {}, annotations: {} },
  spec: { nodeName: 'n1', hostNetwork: false, containers: [{ name: 's', ports: [] }] },
});
const nsObj = (name: string, labels: Record<string, string> = {}): Namespace => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels, annotations: {} },
});

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

test(
  'an empty store: revision 0, nothing listed, get finds nothing',
  withStore(async (s) => {
    assert.equal(await s.revision(), 0);
    assert.deepEqual(await s.list(), []);
    assert.equal(await s.get({ kind: 'Namespace', namespace: '', name: 'x' }), undefined);
    assert.deepEqual(await s.sandboxes(), []);
    assert.deepEqual(await s.nodes(), []);
  }),
);

test(
  'commit: created, unchanged (key order does not matter, revision stays), configured (uid and creation kept), deleted',
  withStore(async (s) => {
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
    assert.deepEqual(await s.commit({ put: [], delete: [{ kind: 'Namespace', namespace: '', name: 'x' }] }), [
      'deleted',
    ]);
    assert.deepEqual(await s.list(), []);
  }),
);

test(
  'commit with a stale ifRevision changes nothing',
  withStore(async (s) => {
    const rev = await s.revision();
    await s.commit({ put: [nsObj('x')], delete: [] });
    await assert.rejects(s.commit({ put: [nsObj('y')], delete: [] }, rev), RevisionConflictError);
    assert.deepEqual(
      (await s.list()).map((o) => o.object.metadata.name),
      ['x'],
    );
  }),
);

test(
  'commit with an ifRevision older than a status write only still succeeds (status writes do not conflict)',
  withStore(async (s) => {
    await s.commit({ put: [nsObj('x'), podObj('a')], delete: [] });
    const rev = await s.revision();
    const [pod] = await s.list('Pod');
    assert.equal(await s.setPodStatus('x', 'a', pod!.meta.uid, nodePodStatus({ phase: 'Pending' })), true);
    assert.ok((await s.revision()) > rev, 'a status write takes a revision');
    assert.deepEqual(await s.commit({ put: [nsObj('y')], delete: [] }, rev), ['created']);
  }),
);

test(
  'pod status: written only for the pod with that uid, kept by spec updates, ignored in puts, gone with the pod',
  withStore(async (s, path) => {
    const other = new SqliteObjectStore(path, new FakeClock(0));
    try {
      await s.commit({ put: [nsObj('x'), podObj('a')], delete: [] });
      const [pod] = await s.list('Pod');
      const running = nodePodStatus({ phase: 'Running', podIP: '10.244.1.2', hostIP: '10.99.0.1' });
      assert.equal(await s.setPodStatus('x', 'a', 'not-the-uid', running), false, 'another uid writes nothing');
      assert.equal((await other.list('Pod'))[0]!.object.status, undefined);
      assert.equal(await s.setPodStatus('x', 'a', pod!.meta.uid, running), true);
      const rev = await s.revision();
      assert.equal(await s.setPodStatus('x', 'a', pod!.meta.uid, { ...running }), true);
      assert.equal(await s.revision(), rev, 'the same status again changes nothing');
      assert.deepEqual((await other.list('Pod'))[0]!.object.status, running, 'another handle (process) sees it');
      // A put carrying a status (a listed object written back) neither writes nor removes it.
      const labelled: Pod = {
        ...podObj('a'),
        metadata: { ...podObj('a').metadata, labels: { v: '2' } },
        status: { phase: 'Failed' },
      };
      assert.deepEqual(await s.commit({ put: [labelled], delete: [] }), ['configured']);
      const after = (await other.list('Pod'))[0]!;
      assert.deepEqual(after.object.status, running);
      assert.deepEqual(after.object.metadata.labels, { v: '2' });
      assert.deepEqual(await s.commit({ put: [{ ...labelled, status: running }], delete: [] }), ['unchanged']);
      assert.equal(await s.setPodStatus('x', 'a', pod!.meta.uid, undefined), true);
      assert.equal((await s.list('Pod'))[0]!.object.status, undefined, 'cleared');
      await s.commit({ put: [], delete: [{ kind: 'Pod', namespace: 'x', name: 'a' }] });
      assert.equal(await s.setPodStatus('x', 'a', pod!.meta.uid, running), false, 'no pod, no status');
    } finally {
      await other.close();
    }
  }),
);

test(
  'sandbox records and node heartbeats: seen from another handle, and they take no revision',
  withStore(async (s, path) => {
    const other = new SqliteObjectStore(path, new FakeClock(0));
    try {
      const rev = await s.revision();
      const sb = { namespace: 'x', name: 'a', uid: 'u', node: 'n1', netns: 'ns', containerId: 'c' };
      await s.putSandbox(sb);
      await s.putNode({ name: 'n1', internalIP: '10.99.0.1', ready: true, heartbeat: 't' });
      assert.deepEqual(await other.sandboxes(), [sb]);
      assert.deepEqual(
        (await other.nodes()).map((n) => n.name),
        ['n1'],
      );
      assert.equal(await other.revision(), rev);
      await other.removeSandbox('x', 'a', 'other-uid');
      assert.deepEqual(await s.sandboxes(), [sb], 'a record of another uid stays');
      await other.removeSandbox('x', 'a', 'u');
      assert.deepEqual(await s.sandboxes(), []);
    } finally {
      await other.close();
    }
  }),
);
