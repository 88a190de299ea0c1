import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/clock-fake.js';
import { SyncRunner } from './sync-runner.js';

function setup(failFirst = 0) {
  const clock = new FakeClock();
  const runs: number[] = [];
  const errors: number[] = [];
  let fails = failFirst;
  const runner = new SyncRunner({
    name: 't',
    clock,
    minIntervalMs: 100,
    resyncMs: 10_000,
    backoffInitialMs: 200,
    backoffMaxMs: 1_000,
    sync: async () => {
      runs.push(clock.now());
      if (fails > 0) {
        fails--;
        throw new Error('kernel said no');
      }
    },
    onError: (_e, attempt) => errors.push(attempt),
  });
  return { clock, runs, errors, runner };
}

test('a burst of triggers becomes one sync', async () => {
  const { clock, runs, runner } = setup();
  for (let i = 0; i < 50; i++) runner.trigger();
  await clock.advance(0);
  assert.equal(runs.length, 1);
  runner.stop();
});

test('syncs are at least minInterval apart', async () => {
  const { clock, runs, runner } = setup();
  runner.trigger();
  await clock.advance(0);
  runner.trigger();
  await clock.advance(50);
  assert.equal(runs.length, 1, 'not yet: inside the min interval');
  await clock.advance(50);
  assert.equal(runs.length, 2);
  assert.equal(runs[1]! - runs[0]!, 100);
  runner.stop();
});

test('failures retry with capped exponential backoff and are reported each time', async () => {
  const { clock, runs, errors, runner } = setup(4);
  runner.trigger();
  await clock.advance(5_000);
  assert.deepEqual(errors, [1, 2, 3, 4]);
  assert.equal(runs.length, 5, 'the fifth attempt succeeds');
  const gaps = runs.slice(1).map((t, i) => t - runs[i]!);
  assert.deepEqual(gaps, [200, 400, 800, 1000]);
  runner.stop();
});

test('a periodic resync runs without triggers', async () => {
  const { clock, runs, runner } = setup();
  runner.trigger();
  await clock.advance(0);
  await clock.advance(25_000);
  assert.equal(runs.length, 3);
  runner.stop();
  await clock.advance(25_000);
  assert.equal(runs.length, 3, 'nothing after stop');
});

test('status counts syncs and failures and keeps the last error until a success', async () => {
  const { clock, runner } = setup(2);
  assert.deepEqual(runner.status(), { syncs: 0, failures: 0, consecutiveFailures: 0 });
  runner.trigger();
  await clock.advance(0);
  assert.deepEqual(runner.status(), { syncs: 0, failures: 1, consecutiveFailures: 1, lastError: 'kernel said no' });
  await clock.advance(200);
  assert.deepEqual(runner.status(), { syncs: 0, failures: 2, consecutiveFailures: 2, lastError: 'kernel said no' });
  await clock.advance(400);
  assert.deepEqual(runner.status(), { syncs: 1, failures: 2, consecutiveFailures: 0, lastSyncAt: clock.now() });
  runner.stop();
});

test('whenIdle waits through failures until a sync succeeds, or until stop', async () => {
  const { clock, runner } = setup(100);
  runner.trigger();
  let idle = false;
  void runner.whenIdle().then(() => (idle = true));
  await clock.advance(3_000);
  assert.equal(idle, false, 'still failing: not idle');
  runner.stop();
  await clock.advance(0);
  assert.equal(idle, true, 'stop releases the waiters');
});
