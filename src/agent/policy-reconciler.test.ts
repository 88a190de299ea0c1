import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/clock-fake.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { FakeCluster } from '../testkit/cluster-source-fake.js';
import { nodePodStatus } from '../core/k8s/pod-status.js';
import { ClusterCache } from './cluster-cache.js';
import { parseManifest } from '../core/k8s/parse.js';
import type { Nft } from '../ports/nft.js';
import type { NftTx } from '../core/nft/tx.js';
import { PolicyReconciler, type PolicyApplied, type PolicyReconcilerOptions } from './policy-reconciler.js';
import { DEFAULT_FLOW_LOG, dropPrefix, FlowPolicyIndex } from '../core/policy/flow-log.js';
import { NftFake } from '../testkit/nft-fake.js';
import { GUARD_TABLE } from '../core/names.js';
import { parseGuardElements, renderGuardAdd } from '../core/nft/pod-guard.js';

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
  async apply(tx: NftTx): Promise<void> {
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

/** Lets the fake's watch deliver and the cache wake its subscribers. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Harness {
  clock: FakeClock;
  cache: ClusterCache;
}

async function withReconciler(
  body: (
    r: PolicyReconciler,
    store: FakeCluster,
    nft: RecordingNft,
    applied: PolicyApplied[],
    h: Harness,
  ) => Promise<void>,
  extra: Partial<PolicyReconcilerOptions> = {},
): Promise<void> {
  const clock = new FakeClock();
  const store = new FakeCluster();
  const nft = new RecordingNft();
  const applied: PolicyApplied[] = [];
  const log = new JsonLogger(() => undefined);
  await store.commit({ put: parseManifest(MANIFEST), delete: [] });
  const [pod] = await store.list('Pod');
  await store.setPodStatus('x', 'a', pod!.meta.uid, nodePodStatus({ phase: 'Running', podIP: '10.244.1.2' }));
  const cache = new ClusterCache({
    source: store.source(),
    kinds: ['NetworkPolicy', 'Pod', 'Namespace', 'Service'],
    clock,
    log,
  });
  await cache.start();
  const r = new PolicyReconciler({ node: 'n1', cache, nft, log, clock, onApplied: (a) => applied.push(a), ...extra });
  try {
    await body(r, store, nft, applied, { clock, cache });
  } finally {
    r.stop();
    await cache.stop();
  }
}

/** Commits and waits until the cache has the change. */
async function commit(store: FakeCluster, manifest: string): Promise<void> {
  await store.commit({ put: parseManifest(manifest), delete: [] });
  await flush();
}

test('the first sync builds the table; an unchanged cache applies nothing; a policy is an element-level change reported with its revision', () =>
  withReconciler(async (r, store, nft, applied) => {
    assert.equal(await r.sync(), true);
    assert.match(nft.applied[0]!, /add table inet weft-policy/);
    assert.deepEqual(
      applied.map((a) => [a.revision, a.changed]),
      [[3, true]],
    );
    assert.equal(await r.sync(), false, 'nothing changed');
    assert.equal(nft.applied.length, 1);
    await commit(store, DENY);
    assert.equal(await r.sync(), true);
    assert.doesNotMatch(nft.applied[1]!, /add table/);
    assert.match(
      nft.applied[1]!,
      /add element inet weft-policy ingress-pods \{ 10\.244\.1\.2 : jump in-[0-9a-f]{16} \}/,
    );
    assert.doesNotMatch(nft.applied[1]!, /delete table|flush table/);
    assert.deepEqual(
      applied.map((a) => a.revision),
      [3, 4],
    );
  }));

test('a new revision that changes nothing here is still reported (not changed), so waiters see this node is done', () =>
  withReconciler(async (r, store, nft, applied) => {
    await r.sync();
    await commit(store, `apiVersion: v1\nkind: Namespace\nmetadata: { name: other }\n`);
    assert.equal(await r.sync(), false);
    assert.equal(nft.applied.length, 1);
    assert.deepEqual(
      applied.map((a) => [a.revision, a.changed]),
      [
        [3, true],
        [4, false],
      ],
    );
  }));

test('kicks during a sync are coalesced into one more sync, and syncs never overlap', () =>
  withReconciler(async (r, store, nft) => {
    await r.sync();
    nft.hold();
    await commit(store, DENY);
    r.kick();
    await nft.entered;
    // While the first transaction is held, more changes and kicks arrive.
    await commit(store, DENY.replace('Ingress', 'Egress'));
    r.kick();
    r.kick();
    r.kick();
    nft.release();
    await r.idle();
    assert.equal(nft.applied.length, 3, 'the held sync, then exactly one more');
    assert.match(
      nft.applied[2]!,
      /add element inet weft-policy egress-pods \{ 10\.244\.1\.2 : jump eg-[0-9a-f]{16} \}/,
    );
  }));

test('a failed apply is retried on the next kick, and nothing is reported until it lands', () =>
  withReconciler(async (r, store, nft, applied) => {
    await r.sync();
    await commit(store, DENY);
    nft.fail = true;
    await assert.rejects(r.sync(), /injected failure/);
    assert.deepEqual(
      applied.map((a) => a.revision),
      [3],
    );
    nft.fail = false;
    assert.equal(await r.sync(), true, 'the same inputs are synced again after a failure');
    assert.deepEqual(
      applied.map((a) => a.revision),
      [3, 4],
    );
  }));

test('after start, a cache event of its kinds syncs at once; a Service change and a node heartbeat wake nothing', () =>
  withReconciler(async (r, store, nft) => {
    r.start();
    await r.idle();
    assert.equal(nft.applied.length, 1, 'start syncs at once');
    const syncs = () => r.syncs + r.failures;
    const before = { applied: nft.applied.length, syncs: syncs() };
    let kicks = 0;
    const kick = r.kick.bind(r);
    r.kick = () => {
      kicks++;
      kick();
    };
    await store.putNode({ name: 'n1', internalIP: '10.99.0.1', ready: true, heartbeat: 't' });
    await commit(
      store,
      `apiVersion: v1\nkind: Service\nmetadata: { name: s, namespace: x }\nspec: { ports: [{ port: 80 }] }\n`,
    );
    await r.idle();
    assert.equal(kicks, 0, 'neither a heartbeat nor a Service kicks the policy loop');
    assert.deepEqual({ applied: nft.applied.length, syncs: syncs() }, before);
    await commit(store, DENY);
    assert.equal(kicks, 1, 'one kick for the policy');
    await r.idle();
    assert.equal(nft.applied.length, 2, 'the policy was applied without waiting for the resync timer');
  }));

test('a revision reached only through other kinds (a Service) is reported without a sync, once the last sync landed', () =>
  withReconciler(async (r, store, nft, applied) => {
    await commit(
      store,
      `apiVersion: v1\nkind: Service\nmetadata: { name: early, namespace: x }\nspec: { ports: [{ port: 80 }] }\n`,
    );
    assert.equal(applied.length, 0, 'nothing is reported before the first sync');
    await r.sync();
    await commit(
      store,
      `apiVersion: v1\nkind: Service\nmetadata: { name: s, namespace: x }\nspec: { ports: [{ port: 80 }] }\n`,
    );
    assert.deepEqual(
      applied.map((a) => [a.revision, a.changed]),
      [
        [4, true],
        [5, false],
      ],
    );
    assert.equal(nft.applied.length, 1, 'no sync for it');
    nft.fail = true;
    await commit(store, DENY);
    await assert.rejects(r.sync(), /injected failure/);
    await commit(
      store,
      `apiVersion: v1\nkind: Service\nmetadata: { name: t, namespace: x }\nspec: { ports: [{ port: 80 }] }\n`,
    );
    assert.deepEqual(
      applied.map((a) => a.revision),
      [4, 5],
      'not while a policy change has not landed',
    );
  }));

test('an unchanged store is left alone until the periodic rebuild is due; then the whole table is rebuilt in one transaction', () =>
  withReconciler(async (r, store, nft, _applied, h) => {
    await commit(store, DENY);
    assert.equal(await r.sync(), true);
    await h.clock.advance(60_000);
    assert.equal(await r.sync(), false, 'a minute later: nothing to do');
    await h.clock.advance(240_000);
    assert.equal(await r.sync(), true, 'five minutes after the last rebuild');
    assert.equal(nft.applied.length, 2);
    assert.match(
      nft.applied[1]!,
      /^add table inet weft-policy[^\n]*\ndelete table inet weft-policy\nadd table inet weft-policy/,
    );
    assert.match(nft.applied[1]!, /add element inet weft-policy ingress-pods \{ 10\.244\.1\.2 : jump in-/);
  }));

test('pods pending in the pod guard are let out in the same transaction as their rules, once; an unknown address stays pending; a failed transaction lets out nothing and is retried', async () => {
  const clock = new FakeClock();
  const store = new FakeCluster();
  const nft = new NftFake();
  const log = new JsonLogger(() => undefined);
  await store.commit({ put: parseManifest(MANIFEST), delete: [] });
  const [pod] = await store.list('Pod');
  await store.setPodStatus('x', 'a', pod!.meta.uid, nodePodStatus({ phase: 'Running', podIP: '10.244.1.2' }));
  const pending = async () => {
    const objects = await nft.listTable('bridge', GUARD_TABLE);
    return (objects ? parseGuardElements(objects) : [])
      .filter((e) => e.set.startsWith('pending'))
      .map((e) => String(e.key[0]))
      .sort();
  };
  const guard = async (tag: string, address: string) => {
    const objects = await nft.listTable('bridge', GUARD_TABLE);
    const target = { hostVeth: `v-${tag}`, mac: '02:00:00:00:00:01', addresses: [{ family: 4 as const, address }] };
    await nft.apply(
      renderGuardAdd(tag, { ...target, awaitPolicy: true }, objects ? parseGuardElements(objects) : []),
      `guard ${tag}`,
    );
  };
  const cache = new ClusterCache({ source: store.source(), kinds: ['NetworkPolicy', 'Pod', 'Namespace'], clock, log });
  await cache.start();
  const r = new PolicyReconciler({ node: 'n1', cache, nft, log, clock });
  try {
    // No policy yet: pod a is let out all the same (nothing isolates it); 10.244.1.9 is no pod's.
    await guard('a', '10.244.1.2');
    await guard('unknown', '10.244.1.9');
    await r.sync();
    assert.deepEqual(await pending(), ['10.244.1.9']);
    assert.match(
      nft.applied.at(-1)!,
      /add table inet weft-policy[\s\S]*delete element bridge weft-guard pending-v4 \{ 10\.244\.1\.2 \}/,
    );
    // A policy and a new local pod b: b's rules and its release are one transaction.
    await commit(store, DENY);
    await commit(
      store,
      `apiVersion: v1\nkind: Pod\nmetadata: { name: b, namespace: x }\nspec: { nodeName: n1, containers: [{ name: s }] }\n`,
    );
    const b = (await store.list('Pod')).find((p) => p.object.metadata.name === 'b')!;
    await store.setPodStatus('x', 'b', b.meta.uid, nodePodStatus({ phase: 'Running', podIP: '10.244.1.3' }));
    await flush();
    await guard('b', '10.244.1.3');
    nft.failNext = 'injected';
    await assert.rejects(r.sync(), /injected/);
    assert.deepEqual(await pending(), ['10.244.1.3', '10.244.1.9'], 'a failed transaction lets out nothing');
    assert.equal(await r.sync(), true, 'the same inputs are synced again');
    const tx = nft.applied.at(-1)!;
    assert.match(tx, /add element inet weft-policy ingress-pods \{[^}]*10\.244\.1\.3 : jump in-/);
    assert.match(tx, /delete element bridge weft-guard pending-v4 \{ 10\.244\.1\.3 \}/);
    assert.doesNotMatch(tx, /pending-v4 \{ 10\.244\.1\.2 \}/, 'a is not let out twice');
    assert.deepEqual(await pending(), ['10.244.1.9']);
  } finally {
    r.stop();
    await cache.stop();
  }
});

test('admit: a pod an ADD has just wired is synced as running before its status says so, and let out with its rules; a wrong uid is not', async () => {
  const clock = new FakeClock();
  const store = new FakeCluster();
  const nft = new NftFake();
  const log = new JsonLogger(() => undefined);
  await store.commit({ put: parseManifest(MANIFEST + '---\n' + DENY), delete: [] });
  const [pod] = await store.list('Pod');
  const cache = new ClusterCache({ source: store.source(), kinds: ['NetworkPolicy', 'Pod', 'Namespace'], clock, log });
  await cache.start();
  const r = new PolicyReconciler({ node: 'n1', cache, nft, log, clock });
  try {
    r.start();
    await r.idle();
    const target = {
      hostVeth: 'v-a',
      mac: '02:00:00:00:00:01',
      addresses: [{ family: 4 as const, address: '10.244.1.2' }],
    };
    await nft.apply(renderGuardAdd('a', { ...target, awaitPolicy: true }, []), 'guard a');
    // A wrong uid is some other pod's ADD: it is not counted, and the wait runs out.
    const wrong = r.admit({ namespace: 'x', name: 'a', uid: 'not-this-one', ip: '10.244.1.2' }, 1000);
    await r.idle();
    await clock.advance(1000);
    assert.equal(await wrong, false);
    const ok = await r.admit({ namespace: 'x', name: 'a', uid: pod!.meta.uid, ip: '10.244.1.2' }, 1000);
    assert.equal(ok, true);
    const tx = nft.applied.at(-1)!;
    assert.match(tx, /add element inet weft-policy ingress-pods \{ 10\.244\.1\.2 : jump in-/);
    assert.match(tx, /delete element bridge weft-guard pending-v4 \{ 10\.244\.1\.2 \}/);
  } finally {
    r.stop();
    await cache.stop();
  }
});

test('with flow logging the group chains log, and the index knows each chain before its transaction', async () => {
  const index = new FlowPolicyIndex();
  /** Transactions applied when onPlanned was called. */
  const appliedBefore: number[] = [];
  let nftRef: RecordingNft | undefined;
  await withReconciler(
    async (r, store, nft) => {
      nftRef = nft;
      await r.sync();
      await commit(store, DENY);
      assert.equal(await r.sync(), true);
      const chain = /jump (in-[0-9a-f]{16})/.exec(nft.applied[1]!)![1]!;
      assert.match(
        nft.applied[1]!,
        new RegExp(
          `add rule inet weft-policy ${chain} limit rate 100/second burst 20 packets log group 27 prefix "weft d ${chain}"`,
        ),
      );
      assert.deepEqual(index.decision(dropPrefix(chain)), {
        verdict: 'denied',
        direction: 'Ingress',
        policies: ['x/deny'],
      });
      assert.deepEqual(appliedBefore, [0, 1], "each sync's chains reach the index before its transaction");
    },
    {
      flowLog: DEFAULT_FLOW_LOG,
      onPlanned: (chains) => {
        index.update(chains);
        appliedBefore.push(nftRef?.applied.length ?? 0);
      },
    },
  );
});
