/**
 * The one contract every ClusterSource keeps (see src/ports/cluster-source.ts), run against the
 * in-memory fake (cluster-source-fake.test.ts) and the SQLite store's source
 * (src/adapters/cluster-source-sqlite.test.ts). Writes go through an ObjectStore handle that is
 * not the source's own where the implementation allows it (as another process would write).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { K8sKind, K8sObject, Namespace, Pod } from '../core/k8s/objects.js';
import { RevisionTooOldError } from '../core/k8s/object-key.js';
import { nodePodStatus } from '../core/k8s/pod-status.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { ClusterSource, WatchBatch, WatchEvent, WatchSubscription } from '../ports/cluster-source.js';

export interface ContractSubject {
  /** Where the test writes. */
  store: ObjectStore;
  source: ClusterSource;
  close(): Promise<void>;
}

/** Makes a fresh, empty cluster; `changeLogLimit` bounds its change log (default: large). */
export type MakeSubject = (opts: { changeLogLimit?: number }) => Promise<ContractSubject>;

export const namespace = (name: string, labels: Record<string, string> = {}): Namespace => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels, annotations: {} },
});
export const pod = (ns: string, name: string, labels: Record<string, string> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels, annotations: {} },
  spec: { nodeName: 'n1', hostNetwork: false, containers: [{ name: 's', ports: [] }] },
});

/** A watch that records what it is given. */
class Recorder<K extends K8sKind> {
  readonly batches: WatchBatch<K>[] = [];
  readonly errors: Error[] = [];
  sub: WatchSubscription | undefined;
  /** Delay each batch by this long (a slow consumer). */
  slowMs = 0;

  get events(): WatchEvent<K>[] {
    return this.batches.flatMap((b) => b.events);
  }

  get revision(): number {
    return this.batches.at(-1)?.revision ?? -1;
  }

  start(source: ClusterSource, kinds: readonly K[], from: number): this {
    this.sub = source.watch(kinds, from, {
      onBatch: async (b) => {
        this.batches.push(b);
        if (this.slowMs > 0) await sleep(this.slowMs);
      },
      onError: (err) => this.errors.push(err),
    });
    return this;
  }

  async stop(): Promise<void> {
    await this.sub?.stop();
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const summary = (events: readonly WatchEvent[]) =>
  events.map((e) => `${e.type} ${e.kind} ${e.object.object.metadata.name}@${e.revision}`);

export function runClusterSourceContract(name: string, make: MakeSubject): void {
  const withSubject = (opts: { changeLogLimit?: number }, body: (s: ContractSubject) => Promise<void>) => async () => {
    const s = await make(opts);
    try {
      await body(s);
    } finally {
      await s.close();
    }
  };
  const put = (s: ContractSubject, ...objects: K8sObject[]) => s.store.commit({ put: objects, delete: [] });

  test(
    `${name}: list is a snapshot with its revision, of one kind, in key order`,
    withSubject({}, async (s) => {
      assert.deepEqual(await s.source.list('Pod'), { items: [], revision: 0 });
      await put(s, namespace('x'), pod('x', 'b'), pod('x', 'a'));
      await put(s, namespace('y'));
      const pods = await s.source.list('Pod');
      assert.equal(pods.revision, await s.store.revision());
      assert.deepEqual(
        pods.items.map((p) => p.object.metadata.name),
        ['a', 'b'],
      );
      assert.ok(pods.items.every((p) => p.object.kind === 'Pod' && p.meta.resourceVersion <= pods.revision));
      assert.deepEqual(
        (await s.source.list('Namespace')).items.map((n) => n.object.metadata.name),
        ['x', 'y'],
      );
    }),
  );

  test(
    `${name}: watch from 0 sees every change once, in order, with the object after it; deletes carry the last state`,
    withSubject({}, async (s) => {
      const r = new Recorder<'Pod' | 'Namespace'>().start(s.source, ['Pod', 'Namespace'], 0);
      try {
        await put(s, namespace('x'), pod('x', 'a'));
        await put(s, pod('x', 'a', { v: '2' }));
        await put(s, pod('x', 'a', { v: '2' }));
        await s.store.commit({ put: [], delete: [{ kind: 'Pod', namespace: 'x', name: 'a' }] });
        const end = await s.store.revision();
        await until('the delete', () => r.revision >= end);
        assert.deepEqual(
          summary(r.events),
          ['ADDED Namespace x@1', 'ADDED Pod a@2', 'MODIFIED Pod a@3', 'DELETED Pod a@4'],
          'one revision per changed object',
        );
        const del = r.events.at(-1)!;
        assert.deepEqual(del.object.object.metadata.labels, { v: '2' }, 'the last state');
        assert.equal(del.object.meta.resourceVersion, 4);
        assert.ok(r.events.every((e) => e.type === 'DELETED' || e.object.meta.resourceVersion === e.revision));
        assert.deepEqual(r.errors, []);
      } finally {
        await r.stop();
      }
    }),
  );

  test(
    `${name}: watch from a mid revision and from now see only what came after`,
    withSubject({}, async (s) => {
      await put(s, namespace('x'));
      await put(s, pod('x', 'a'));
      const mid = await s.store.revision();
      await put(s, pod('x', 'b'));
      const now = (await s.source.list('Pod')).revision;
      const fromMid = new Recorder<'Pod'>().start(s.source, ['Pod'], mid);
      const fromNow = new Recorder<'Pod'>().start(s.source, ['Pod'], now);
      try {
        await put(s, pod('x', 'c'));
        const end = await s.store.revision();
        await until('both watches at the end', () => fromMid.revision >= end && fromNow.revision >= end);
        assert.deepEqual(summary(fromMid.events), ['ADDED Pod b@3', 'ADDED Pod c@4']);
        assert.deepEqual(summary(fromNow.events), ['ADDED Pod c@4']);
      } finally {
        await fromMid.stop();
        await fromNow.stop();
      }
    }),
  );

  test(
    `${name}: pod status writes are MODIFIED events with the status; an identical one and node heartbeats are none`,
    withSubject({}, async (s) => {
      await put(s, namespace('x'), pod('x', 'a'));
      const [p] = (await s.source.list('Pod')).items;
      const r = new Recorder<'Pod'>().start(s.source, ['Pod'], 2);
      try {
        const running = nodePodStatus({ phase: 'Running', podIP: '10.244.1.2' });
        await s.store.setPodStatus('x', 'a', p!.meta.uid, running);
        await s.store.setPodStatus('x', 'a', p!.meta.uid, { ...running });
        await s.store.putNode({ name: 'n1', internalIP: '10.99.0.1', ready: true, heartbeat: 't1' });
        await s.store.putNode({ name: 'n1', internalIP: '10.99.0.1', ready: true, heartbeat: 't2' });
        await put(s, namespace('marker'));
        const end = await s.store.revision();
        assert.equal(end, 4, 'one revision for the status, one for the marker; none for the rest');
        await until('the marker', () => r.revision >= end);
        assert.deepEqual(summary(r.events), ['MODIFIED Pod a@3']);
        const ev = r.events[0]!;
        assert.deepEqual(ev.kind === 'Pod' ? ev.object.object.status : undefined, running);
      } finally {
        await r.stop();
      }
    }),
  );

  test(
    `${name}: removePod removes only the pod with that uid, as a DELETED event that conflicts with older commits`,
    withSubject({}, async (s) => {
      await put(s, namespace('x'), pod('x', 'a'));
      const [p] = (await s.source.list('Pod')).items;
      const before = await s.store.revision();
      const r = new Recorder<'Pod'>().start(s.source, ['Pod'], before);
      try {
        assert.equal(await s.store.removePod('x', 'a', 'not-the-uid'), false, 'another uid removes nothing');
        assert.equal(await s.store.removePod('x', 'zz', p!.meta.uid), false, 'no such pod');
        assert.equal(await s.store.removePod('x', 'a', p!.meta.uid), true);
        assert.equal(await s.store.get({ kind: 'Pod', namespace: 'x', name: 'a' }), undefined);
        const end = await s.store.revision();
        assert.equal(end, before + 1, 'one revision for the removal, none for the refusals');
        await until('the removal', () => r.revision >= end);
        assert.deepEqual(summary(r.events), [`DELETED Pod a@${end}`]);
        await assert.rejects(s.store.commit({ put: [pod('x', 'b')], delete: [] }, before), /changed since revision/);
      } finally {
        await r.stop();
      }
    }),
  );

  test(
    `${name}: the kinds filter: other kinds deliver no events, only the revision moves on`,
    withSubject({}, async (s) => {
      const r = new Recorder<'NetworkPolicy'>().start(s.source, ['NetworkPolicy'], 0);
      try {
        await put(s, namespace('x'), pod('x', 'a'));
        await until('the revision to move', () => r.revision >= 2);
        assert.deepEqual(r.events, []);
      } finally {
        await r.stop();
      }
    }),
  );

  test(
    `${name}: many writes against a slow consumer: every revision once and in order`,
    withSubject({}, async (s) => {
      const r = new Recorder<'Pod' | 'Namespace'>();
      r.slowMs = 2;
      r.start(s.source, ['Pod', 'Namespace'], 0);
      try {
        await put(s, namespace('x'));
        for (let i = 0; i < 200; i++) {
          if (i % 3 === 2)
            await s.store.commit({ put: [], delete: [{ kind: 'Pod', namespace: 'x', name: `p${i - 1}` }] });
          else await put(s, pod('x', `p${i}`, { i: String(i) }));
        }
        const end = await s.store.revision();
        await until('the last write', () => r.revision >= end, 20_000);
        const revisions = r.events.map((e) => e.revision);
        assert.deepEqual(
          revisions,
          Array.from({ length: end }, (_, i) => i + 1),
          'each revision once, in order (one object per commit here)',
        );
        assert.ok(
          r.batches.every((b, i) => i === 0 || b.revision > r.batches[i - 1]!.revision),
          'batch revisions increase',
        );
      } finally {
        await r.stop();
      }
    }),
  );

  test(
    `${name}: resuming from the last revision seen misses nothing and repeats nothing`,
    withSubject({}, async (s) => {
      await put(s, namespace('x'));
      const first = new Recorder<'Pod'>().start(s.source, ['Pod'], 0);
      await put(s, pod('x', 'a'));
      await until('a', () => first.events.length === 1);
      await first.stop();
      const resumeAt = first.revision;
      await put(s, pod('x', 'b'));
      await put(s, pod('x', 'c'));
      const second = new Recorder<'Pod'>().start(s.source, ['Pod'], resumeAt);
      try {
        const end = await s.store.revision();
        await until('c', () => second.revision >= end);
        assert.deepEqual(
          [...summary(first.events), ...summary(second.events)],
          ['ADDED Pod a@2', 'ADDED Pod b@3', 'ADDED Pod c@4'],
        );
      } finally {
        await second.stop();
      }
    }),
  );

  test(
    `${name}: a revision older than the compacted log is RevisionTooOldError; a relist and a watch from it go on`,
    withSubject({ changeLogLimit: 5 }, async (s) => {
      await put(s, namespace('x'));
      for (let i = 0; i < 12; i++) await put(s, pod('x', `p${i}`));
      const old = new Recorder<'Pod'>().start(s.source, ['Pod'], 2);
      await until('the error', () => old.errors.length > 0);
      assert.ok(old.errors[0] instanceof RevisionTooOldError, String(old.errors[0]));
      assert.equal((old.errors[0] as RevisionTooOldError).requested, 2);
      assert.deepEqual(old.events, []);
      await old.stop();
      const list = await s.source.list('Pod');
      assert.equal(list.items.length, 12);
      const again = new Recorder<'Pod'>().start(s.source, ['Pod'], list.revision);
      try {
        await put(s, pod('x', 'late'));
        const end = await s.store.revision();
        await until('late', () => again.revision >= end);
        assert.deepEqual(summary(again.events), [`ADDED Pod late@${end}`]);
        assert.deepEqual(again.errors, []);
        // The last `changeLogLimit` revisions can still be watched.
        const recent = new Recorder<'Pod'>().start(s.source, ['Pod'], end - 5);
        await until('recent', () => recent.revision >= end);
        assert.equal(recent.events.length, 5);
        await recent.stop();
      } finally {
        await again.stop();
      }
    }),
  );

  test(
    `${name}: after stop() no batch is delivered`,
    withSubject({}, async (s) => {
      const r = new Recorder<'Namespace'>().start(s.source, ['Namespace'], 0);
      await put(s, namespace('a'));
      await until('a', () => r.events.length === 1);
      await r.stop();
      // A second watcher that sees b proves b was delivered to watchers: the stopped one got none.
      const witness = new Recorder<'Namespace'>().start(s.source, ['Namespace'], 1);
      try {
        await put(s, namespace('b'));
        await until('the witness to see b', () => witness.events.length === 1);
        assert.deepEqual(summary(r.events), ['ADDED Namespace a@1']);
        assert.deepEqual(r.errors, []);
      } finally {
        await witness.stop();
      }
    }),
  );
}
