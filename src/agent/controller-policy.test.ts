import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/clock-fake.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { PromMetrics } from '../adapters/metrics-prom.js';
import type { Nft } from '../ports/nft.js';
import { NftTx } from '../core/nft/tx.js';
import { PolicyController, type PolicyLoopHooks } from './controller-policy.js';

test('the policy loop, wrapped: applied revisions, failures and recovery reach status and /metrics', async () => {
  const clock = new FakeClock();
  const metrics = new PromMetrics();
  let nftFails = false;
  const nft: Nft = {
    apply: async () => {
      await clock.advance(30);
      if (nftFails) throw new Error('nft: Could not process rule: No such file or directory');
    },
    listTable: async () => undefined,
  };
  let hooks: PolicyLoopHooks | undefined;
  let changes = 0;
  const events: string[] = [];
  const c = new PolicyController({
    nft,
    log: new JsonLogger(() => undefined),
    clock,
    metrics,
    onChange: () => changes++,
    make: (h) => {
      hooks = h;
      return { start: () => events.push('start'), stop: () => events.push('stop') };
    },
  });
  assert.equal(c.status().state, 'pending');
  await c.start();
  assert.equal(c.status().state, 'starting');
  // What the loop does on a sync: one transaction, then onApplied with the revision.
  const sync = async (revision: number) => {
    try {
      await hooks!.nft.apply(new NftTx(), 'apply NetworkPolicy sets');
      hooks!.onApplied({ revision, appliedAt: clock.now(), changed: true });
    } catch (err) {
      hooks!.log
        .with({ component: 'policy' })
        .error('policy sync failed; the kernel keeps the last applied rules', { error: (err as Error).message });
    }
  };
  await sync(7);
  let st = c.status();
  assert.deepEqual(
    { state: st.state, ready: st.ready, revision: st.revision, syncs: st.syncs, failures: st.failures },
    { state: 'ready', ready: true, revision: '7', syncs: 1, failures: 0 },
  );
  nftFails = true;
  await sync(8);
  st = c.status();
  assert.deepEqual(
    { state: st.state, ready: st.ready, revision: st.revision, failures: st.failures },
    { state: 'failing', ready: false, revision: '7', failures: 1 },
  );
  assert.match(st.lastError ?? '', /No such file or directory/);
  const text = (await metrics.render()).text;
  assert.match(text, /weft_controller_sync_errors_total\{controller="policy"\} 1/);
  assert.match(text, /weft_controller_ready\{controller="policy"\} 0/);
  assert.match(text, /weft_policy_revision 7/);
  nftFails = false;
  await sync(8);
  st = c.status();
  assert.deepEqual(
    { state: st.state, revision: st.revision, lastError: st.lastError },
    { state: 'ready', revision: '8', lastError: undefined },
  );
  assert.match((await metrics.render()).text, /weft_controller_sync_duration_seconds_sum\{controller="policy"\} 0\.06/);
  assert.ok(changes >= 3, 'every applied revision and failure was announced to the status writer');
  await c.stop();
  assert.deepEqual(events, ['start', 'stop']);
  assert.equal(c.status().state, 'stopped');
});
