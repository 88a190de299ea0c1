import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../adapters/fake-clock.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { SqliteObjectStore } from '../adapters/object-store-sqlite.js';
import { parseManifest } from '../core/k8s/parse.js';
import type { Nft, NftBatch } from '../ports/nft.js';
import { PolicyReconciler, type PolicyApplied } from './policy-reconciler.js';

/** An nft that records each transaction and can be held until released. */
class RecordingNft implements Nft {
  readonly applied: string[] = [];
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  private onEnter: (() => void) | undefined;
  /** Resolves when a held apply has started (set by hold()). */
  entered: Promise<void> = Promise.resolve();
  fail = false;
  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
    this.entered = new Promise((r) => (this.onEnter = r));
  }
  release(): void {
    this.open?.();
    this.gate = undefined;
  }
  async apply(tx: NftBatch): Promise<void> {
    this.onEnter?.();
    await this.gate;
    if (this.fail) throw new Error('nft: injected failure');
    this.applied.push(tx.render());
  }
  async listTable(): Promise<unknown[] | undefined> {
    return undefined;
  }
}

const MANIFEST = `
apiVersion: v1
kind: Namespace
metadata: { name: x }
---
apiVersion: v1
kind: Pod
metadata: { name: a, namespace: x, labels: { app: a } }
spec: { nodeName: n1, containers: [{ name: s }] }
`;
const DENY = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny, namespace: x }
spec: { podSelector: {}, policyTypes: [Ingress] }
`;

interface Harness {
  clock: FakeClock;
  /** Fires the wake subscription, as a file watch would. */
  wake: () => void;
}

async function withReconciler(body: (r: PolicyReconciler, store: SqliteObjectStore, nft: RecordingNft, applied: PolicyApplied[], h: Harness) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-policy-rec-'));
  const clock = new FakeClock();
  const store = new SqliteObjectStore(join(dir, 'objects.db'), clock);
  const nft = new RecordingNft();
  const applied: PolicyApplied[] = [];
  const h: Harness = { clock, wake: () => assert.fail('not subscribed') };
  const r = new PolicyReconciler({
    node: 'n1',
    store,
    nft,
    log: new JsonLogger(() => undefined),
    clock,
    onApplied: (a) => applied.push(a),
    wake: (onChange) => {
      h.wake = onChange;
      return () => (h.wake = () => undefined);
    },
  });
  try {
    await store.commit({ put: parseManifest(MANIFEST), delete: [] });
    const [pod] = await store.list('Pod');
    await store.setPodStatus('x', 'a', { namespace: 'x', name: 'a', uid: pod!.meta.uid, node: 'n1', phase: 'Running', podIP: '10.244.1.2', netns: 'p', containerId: 'c' });
    await body(r, store, nft, applied, h);
  } finally {
    r.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the first sync builds the table; an unchanged store applies nothing; a policy is an element-level change reported with its revision', () =>
  withReconciler(async (r, store, nft, applied) => {
    assert.equal(await r.sync(), true);
    assert.match(nft.applied[0]!, /add table inet weft-policy/);
    assert.deepEqual(applied.map((a) => [a.revision, a.changed]), [[1, true]]);
    assert.equal(await r.sync(), false, 'nothing changed');
    assert.equal(nft.applied.length, 1);
    await store.commit({ put: parseManifest(DENY), delete: [] });
    assert.equal(await r.sync(), true);
    assert.doesNotMatch(nft.applied[1]!, /add table/);
    assert.match(nft.applied[1]!, /add element inet weft-policy ingress-pods \{ 10\.244\.1\.2 : jump in-[0-9a-f]{16} \}/);
    assert.doesNotMatch(nft.applied[1]!, /delete table|flush table/);
    assert.deepEqual(applied.map((a) => a.revision), [1, 2]);
  }));

test('a new revision that changes nothing here is still reported (not changed), so waiters see this node is done', () =>
  withReconciler(async (r, store, nft, applied) => {
    await r.sync();
    await store.commit({ put: parseManifest(`apiVersion: v1\nkind: Namespace\nmetadata: { name: other }\n`), delete: [] });
    assert.equal(await r.sync(), false);
    assert.equal(nft.applied.length, 1);
    assert.deepEqual(applied.map((a) => [a.revision, a.changed]), [[1, true], [2, false]]);
  }));

test('kicks during a sync are coalesced into one more sync, and syncs never overlap', () =>
  withReconciler(async (r, store, nft) => {
    await r.sync();
    nft.hold();
    await store.commit({ put: parseManifest(DENY), delete: [] });
    r.kick();
    await nft.entered;
    // While the first transaction is held, three more changes and kicks arrive.
    await store.commit({ put: parseManifest(DENY.replace('Ingress', 'Egress')), delete: [] });
    r.kick();
    r.kick();
    r.kick();
    nft.release();
    await r.idle();
    assert.equal(nft.applied.length, 3, 'the held sync, then exactly one more');
    assert.match(nft.applied[2]!, /add element inet weft-policy egress-pods \{ 10\.244\.1\.2 : jump eg-[0-9a-f]{16} \}/);
  }));

test('a failed apply is retried on the next kick, and nothing is reported until it lands', () =>
  withReconciler(async (r, store, nft, applied) => {
    await r.sync();
    await store.commit({ put: parseManifest(DENY), delete: [] });
    nft.fail = true;
    await assert.rejects(r.sync(), /injected failure/);
    assert.deepEqual(applied.map((a) => a.revision), [1]);
    nft.fail = false;
    assert.equal(await r.sync(), true, 'the same store token is synced again after a failure');
    assert.deepEqual(applied.map((a) => a.revision), [1, 2]);
  }));

test('a wake that comes before its write is visible is followed by a second look 20 ms later (no wait for the 1 s fallback)', () =>
  withReconciler(async (r, store, nft, _applied, h) => {
    r.start();
    await r.idle();
    assert.equal(nft.applied.length, 1, 'start syncs at once');
    h.wake();
    await r.idle();
    assert.equal(nft.applied.length, 1, 'the wake found nothing new yet');
    await store.commit({ put: parseManifest(DENY), delete: [] });
    await h.clock.advance(19);
    await r.idle();
    assert.equal(nft.applied.length, 1, 'nothing looks again before 20 ms');
    await h.clock.advance(1);
    await r.idle();
    assert.equal(nft.applied.length, 2, 'the second look, 20 ms after the wake (not the 1 s fallback), applied the policy');
  }));

test('an unchanged store is left alone until the periodic rebuild is due; then the whole table is rebuilt in one transaction', () =>
  withReconciler(async (r, store, nft, _applied, h) => {
    await store.commit({ put: parseManifest(DENY), delete: [] });
    assert.equal(await r.sync(), true);
    await h.clock.advance(60_000);
    assert.equal(await r.sync(), false, 'a minute later: nothing to do');
    await h.clock.advance(240_000);
    assert.equal(await r.sync(), true, 'five minutes after the last rebuild');
    assert.equal(nft.applied.length, 2);
    assert.match(nft.applied[1]!, /^add table inet weft-policy[^\n]*\ndelete table inet weft-policy\nadd table inet weft-policy/);
    assert.match(nft.applied[1]!, /add element inet weft-policy ingress-pods \{ 10\.244\.1\.2 : jump in-/);
  }));
