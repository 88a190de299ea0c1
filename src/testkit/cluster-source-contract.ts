/**
 * The one contract every ClusterSource keeps (see src/ports/cluster-source.ts), run against the
 * in-memory fake (cluster-source-fake.test.ts) and the SQLite store's source
 * (src/adapters/cluster-source-sqlite.test.ts), and over a real kube-apiserver
 * (test/kube-source.test.ts). Writes go through an ObjectStore handle that is not the source's own
 * where the implementation allows it (as another process would write).
 *
 * Two kinds of revisions (ContractSubject.revisions):
 * - 'dense' (the lab store, the fake): the store's revisions count exactly this test's changes
 *   from 0, in one order across kinds, so the suite checks the numbers themselves.
 * - 'shared' (an API server): revisions are etcd's, moved by other writers too (the API server's
 *   own leases, Nodes), and watches are ordered per kind only (the port allows it). The suite
 *   then checks order and relations instead of numbers, starts watches from the store's current
 *   revision instead of 0, and knows a watch has caught up when a marker object of each watched
 *   kind, written last, has arrived (everything of that kind before it has then been delivered).
 *   An API server marks a bound pod's deletion first (a MODIFIED with deletionTimestamp, then the
 *   DELETED): the summary leaves that first step out, it is not one of the test's changes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { K8sKind, K8sObject, Namespace, NetworkPolicy, Pod } from '../core/k8s/objects.js';
import { RevisionTooOldError } from '../core/k8s/object-key.js';
import { nodePodStatus } from '../core/k8s/pod-status.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { ClusterSource, WatchBatch, WatchEvent, WatchSubscription } from '../ports/cluster-source.js';

export interface ContractSubject {
  /** Where the test writes. */
  store: ObjectStore;
  source: ClusterSource;
  close(): Promise<void>;
  /** See the file comment; default 'dense'. */
  revisions?: 'dense' | 'shared';
  /** Objects the cluster had before the test (an API server's own namespaces and Services), left out of list checks. */
  preexisting?: (o: K8sObject) => boolean;
  /** Shared revisions: make the changes so far unwatchable (compact etcd, restart the API server's watch cache). */
  compact?: () => Promise<void>;
}

/** Makes a fresh, empty cluster; `changeLogLimit` bounds its change log (default: large). */
export type MakeSubject = (opts: { changeLogLimit?: number }) => Promise<ContractSubject>;

export const namespace = (name: string, labels: Record<string, string> = {}): Namespace => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels, annotations: {} },
});
export const policy = (ns: string, name: string): NetworkPolicy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace: ns, labels: {}, annotations: {} },
  spec: { podSelector: { matchLabels: {}, matchExpressions: [] }, policyTypes: ['Ingress'], ingress: [], egress: [] },
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

const MARKER = 'zz-marker';

export function runClusterSourceContract(name: string, make: MakeSubject): void {
  let shared = false;
  const withSubject = (opts: { changeLogLimit?: number }, body: (s: ContractSubject) => Promise<void>) => async () => {
    const s = await make(opts);
    shared = s.revisions === 'shared';
    try {
      await body(s);
    } finally {
      await s.close();
    }
  };
  const put = (s: ContractSubject, ...objects: K8sObject[]) => s.store.commit({ put: objects, delete: [] });
  /** Dense: "TYPE Kind name@revision"; shared: without the revision, the markers and the deletion's first step. */
  const summary = (events: readonly WatchEvent[]) =>
    shared
      ? events
          .filter((e) => !e.object.object.metadata.name.startsWith(MARKER))
          .filter((e) => !(e.type === 'MODIFIED' && e.object.object.metadata.deletionTimestamp))
          .map((e) => `${e.type} ${e.kind} ${e.object.object.metadata.name}`)
      : events.map((e) => `${e.type} ${e.kind} ${e.object.object.metadata.name}@${e.revision}`);
  /** Where a test's watches start: 0 on a dense store, the current revision on a shared one. */
  const origin = async (s: ContractSubject) => (shared ? s.store.revision() : 0);
  /** "@rev" for dense summaries, nothing for shared ones. */
  const at = (rev: number) => (shared ? '' : `@${rev}`);
  let markers = 0;
  /**
   * Waits until the recorders have everything written so far: dense, their revision reaches the
   * store's; shared, a marker of each watched kind (in namespace `ns`) has arrived.
   */
  const settle = async (
    s: ContractSubject,
    rs: ReadonlyArray<{
      r: { readonly revision: number; readonly events: readonly WatchEvent[] };
      kinds: readonly K8sKind[];
    }>,
    ns = 'x',
    timeoutMs = 5_000,
  ) => {
    if (!shared) {
      const end = await s.store.revision();
      await until('the last write', () => rs.every(({ r }) => r.revision >= end), timeoutMs);
      return end;
    }
    const kinds = [...new Set(rs.flatMap((x) => x.kinds))];
    const names = kinds.map((k) => `${MARKER}-${k.toLowerCase()}-${++markers}`);
    await put(
      s,
      ...kinds.map((k, i): K8sObject => {
        const n = names[i]!;
        if (k === 'Namespace') return namespace(n);
        if (k === 'NetworkPolicy') return policy(ns, n);
        return pod(ns, n);
      }),
    );
    await until(
      'the markers',
      () =>
        rs.every(({ r, kinds: ks }) =>
          ks.every((k) => r.events.some((e) => e.object.object.metadata.name === names[kinds.indexOf(k)])),
        ),
      timeoutMs * 3,
    );
    return s.store.revision();
  };
  const listed = (s: ContractSubject, items: ReadonlyArray<{ object: K8sObject }>) =>
    items.filter((i) => !(s.preexisting?.(i.object) ?? false)).map((i) => i.object.metadata.name);

  test(
    `${name}: list is a snapshot with its revision, of one kind, in key order`,
    withSubject({}, async (s) => {
      const empty = await s.source.list('Pod');
      assert.deepEqual(listed(s, empty.items), []);
      if (!shared) assert.equal(empty.revision, 0);
      await put(s, namespace('x'), pod('x', 'b'), pod('x', 'a'));
      await put(s, namespace('y'));
      const written = await s.store.revision();
      const pods = await s.source.list('Pod');
      if (shared) assert.ok(pods.revision >= written, `list revision ${pods.revision} ≥ the last write's ${written}`);
      else assert.equal(pods.revision, written);
      assert.deepEqual(listed(s, pods.items), ['a', 'b']);
      assert.ok(pods.items.every((p) => p.object.kind === 'Pod' && p.meta.resourceVersion <= pods.revision));
      assert.deepEqual(listed(s, (await s.source.list('Namespace')).items), ['x', 'y']);
    }),
  );

  test(
    `${name}: watch from the start sees every change once, in order, with the object after it; deletes carry the last state`,
    withSubject({}, async (s) => {
      const from = await origin(s);
      const r = new Recorder<'Pod' | 'Namespace'>().start(s.source, ['Pod', 'Namespace'], from);
      try {
        await put(s, namespace('x'), pod('x', 'a'));
        await put(s, pod('x', 'a', { v: '2' }));
        await put(s, pod('x', 'a', { v: '2' }));
        await s.store.commit({ put: [], delete: [{ kind: 'Pod', namespace: 'x', name: 'a' }] });
        await settle(s, [{ r, kinds: ['Pod', 'Namespace'] }]);
        const mine = r.events.filter((e) => !e.object.object.metadata.name.startsWith(MARKER));
        if (shared) {
          // Per kind in order; across kinds in any order.
          assert.deepEqual(summary(mine.filter((e) => e.kind === 'Namespace')), ['ADDED Namespace x']);
          assert.deepEqual(summary(mine.filter((e) => e.kind === 'Pod')), [
            'ADDED Pod a',
            'MODIFIED Pod a',
            'DELETED Pod a',
          ]);
        } else
          assert.deepEqual(
            summary(r.events),
            ['ADDED Namespace x@1', 'ADDED Pod a@2', 'MODIFIED Pod a@3', 'DELETED Pod a@4'],
            'one revision per changed object',
          );
        const del = mine.at(-1)!;
        assert.equal(del.type, 'DELETED');
        assert.deepEqual(del.object.object.metadata.labels, { v: '2' }, 'the last state');
        if (!shared) assert.equal(del.object.meta.resourceVersion, 4);
        for (const k of ['Pod', 'Namespace']) {
          const revs = r.events.filter((e) => e.kind === k).map((e) => e.revision);
          assert.ok(
            revs.every((v, i) => v > from && (i === 0 || v > revs[i - 1]!)),
            `${k} revisions increase: ${revs.join(',')}`,
          );
        }
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
        await settle(s, [
          { r: fromMid, kinds: ['Pod'] },
          { r: fromNow, kinds: ['Pod'] },
        ]);
        assert.deepEqual(summary(fromMid.events), [`ADDED Pod b${at(3)}`, `ADDED Pod c${at(4)}`]);
        assert.deepEqual(summary(fromNow.events), [`ADDED Pod c${at(4)}`]);
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
      const r = new Recorder<'Pod'>().start(s.source, ['Pod'], await s.store.revision());
      try {
        const running = nodePodStatus({ phase: 'Running', podIP: '10.244.1.2' });
        await s.store.setPodStatus('x', 'a', p!.meta.uid, running);
        await s.store.setPodStatus('x', 'a', p!.meta.uid, { ...running });
        await s.store.putNode({ name: 'n1', internalIP: '10.99.0.1', ready: true, heartbeat: 't1' });
        await s.store.putNode({ name: 'n1', internalIP: '10.99.0.1', ready: true, heartbeat: 't2' });
        if (!shared) {
          await put(s, namespace('marker'));
          assert.equal(
            await s.store.revision(),
            4,
            'one revision for the status, one for the marker; none for the rest',
          );
        }
        await settle(s, [{ r, kinds: ['Pod'] }]);
        assert.deepEqual(summary(r.events), [`MODIFIED Pod a${at(3)}`]);
        const ev = r.events[0]!;
        assert.deepEqual(ev.kind === 'Pod' ? ev.object.object.status : undefined, running);
      } finally {
        await r.stop();
      }
    }),
  );

  test(
    `${name}: removePod removes only the pod with that uid, as a DELETED event`,
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
        const end = await settle(s, [{ r, kinds: ['Pod'] }]);
        if (!shared) {
          assert.equal(end, before + 1, 'one revision for the removal, none for the refusals');
          // The lab store's conditional commit: an object changed (removed) after `before`.
          await assert.rejects(s.store.commit({ put: [pod('x', 'b')], delete: [] }, before), /changed since revision/);
        }
        assert.deepEqual(summary(r.events), [`DELETED Pod a${at(end)}`]);
      } finally {
        await r.stop();
      }
    }),
  );

  test(
    `${name}: the kinds filter: other kinds deliver no events, only the revision moves on`,
    withSubject({}, async (s) => {
      const r = new Recorder<'NetworkPolicy'>().start(s.source, ['NetworkPolicy'], await origin(s));
      try {
        await put(s, namespace('x'), pod('x', 'a'));
        // Dense: the batch revision moves past both writes. Shared: a policy marker arrives, and nothing before it.
        if (shared) await settle(s, [{ r, kinds: ['NetworkPolicy'] }]);
        else await until('the revision to move', () => r.revision >= 2);
        assert.deepEqual(summary(r.events), []);
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
      r.start(s.source, ['Pod', 'Namespace'], await origin(s));
      try {
        await put(s, namespace('x'));
        for (let i = 0; i < 200; i++) {
          if (i % 3 === 2)
            await s.store.commit({ put: [], delete: [{ kind: 'Pod', namespace: 'x', name: `p${i - 1}` }] });
          else await put(s, pod('x', `p${i}`, { i: String(i) }));
        }
        const end = await settle(s, [{ r, kinds: ['Pod', 'Namespace'] }], 'x', 20_000);
        const revisions = r.events.map((e) => e.revision);
        if (shared) {
          // One event per write (201), each kind's in increasing order.
          assert.equal(summary(r.events).length, 201, 'each write once');
          for (const k of ['Pod', 'Namespace']) {
            const revs = r.events.filter((e) => e.kind === k).map((e) => e.revision);
            assert.ok(
              revs.every((v, i) => i === 0 || v > revs[i - 1]!),
              `${k}: each revision once, in order`,
            );
          }
          assert.ok(
            r.batches.every((b, i) => i === 0 || b.revision >= r.batches[i - 1]!.revision),
            'batch revisions never go back',
          );
        } else {
          assert.deepEqual(
            revisions,
            Array.from({ length: end }, (_, i) => i + 1),
            'each revision once, in order (one object per commit here)',
          );
          assert.ok(
            r.batches.every((b, i) => i === 0 || b.revision > r.batches[i - 1]!.revision),
            'batch revisions increase',
          );
        }
      } finally {
        await r.stop();
      }
    }),
  );

  test(
    `${name}: resuming from the last revision seen misses nothing and repeats nothing`,
    withSubject({}, async (s) => {
      await put(s, namespace('x'));
      const first = new Recorder<'Pod'>().start(s.source, ['Pod'], await origin(s));
      await put(s, pod('x', 'a'));
      await until('a', () => first.events.length === 1);
      await first.stop();
      const resumeAt = first.revision;
      await put(s, pod('x', 'b'));
      await put(s, pod('x', 'c'));
      const second = new Recorder<'Pod'>().start(s.source, ['Pod'], resumeAt);
      try {
        await settle(s, [{ r: second, kinds: ['Pod'] }]);
        assert.deepEqual(
          [...summary(first.events), ...summary(second.events)],
          [`ADDED Pod a${at(2)}`, `ADDED Pod b${at(3)}`, `ADDED Pod c${at(4)}`],
        );
      } finally {
        await second.stop();
      }
    }),
  );

  test(
    `${name}: a revision older than the compacted log is RevisionTooOldError; a relist and a watch from it go on`,
    withSubject({ changeLogLimit: 5 }, async (s) => {
      const start = await origin(s);
      await put(s, namespace('x'));
      for (let i = 0; i < 12; i++) await put(s, pod('x', `p${i}`));
      const oldRev = start + 2;
      if (shared) await s.compact!();
      const old = new Recorder<'Pod'>().start(s.source, ['Pod'], oldRev);
      await until('the error', () => old.errors.length > 0, shared ? 15_000 : 5_000);
      assert.ok(old.errors[0] instanceof RevisionTooOldError, String(old.errors[0]));
      assert.equal((old.errors[0] as RevisionTooOldError).requested, oldRev);
      assert.deepEqual(old.events, []);
      await old.stop();
      const list = await s.source.list('Pod');
      assert.equal(listed(s, list.items).length, 12);
      const again = new Recorder<'Pod'>().start(s.source, ['Pod'], list.revision);
      try {
        await put(s, pod('x', 'late'));
        const end = await settle(s, [{ r: again, kinds: ['Pod'] }]);
        assert.deepEqual(summary(again.events), [`ADDED Pod late${at(end)}`]);
        assert.deepEqual(again.errors, []);
        if (!shared) {
          // The last `changeLogLimit` revisions can still be watched (an API server's window is not a count).
          const recent = new Recorder<'Pod'>().start(s.source, ['Pod'], end - 5);
          await until('recent', () => recent.revision >= end);
          assert.equal(recent.events.length, 5);
          await recent.stop();
        }
      } finally {
        await again.stop();
      }
    }),
  );

  test(
    `${name}: after stop() no batch is delivered`,
    withSubject({}, async (s) => {
      const r = new Recorder<'Namespace'>().start(s.source, ['Namespace'], await origin(s));
      await put(s, namespace('a'));
      await until('a', () => r.events.length === 1);
      await r.stop();
      // A second watcher that sees b proves b was delivered to watchers: the stopped one got none.
      const witness = new Recorder<'Namespace'>().start(s.source, ['Namespace'], r.revision);
      try {
        await put(s, namespace('b'));
        await until('the witness to see b', () => witness.events.length === 1);
        assert.deepEqual(summary(r.events), [`ADDED Namespace a${at(1)}`]);
        assert.deepEqual(r.errors, []);
      } finally {
        await witness.stop();
      }
    }),
  );
}
