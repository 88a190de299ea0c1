import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/clock-fake.js';
import { pollingWatch } from './lease-watch-poll.js';
import type { Lease, LeaseEvent } from '../ports/lease-store.js';

function lease(subnet: string, expiresAt: number): Lease {
  return {
    subnet,
    publicIp: `192.168.0.${subnet.split('.')[2]}`,
    backendType: 'vxlan',
    backendData: {},
    expiresAt,
  } as Lease;
}

/** A store whose list() is counted and whose change hint is set by the test. */
function fakeStore(clock: FakeClock, leases: Lease[]) {
  const s = { leases, lists: 0, written: false };
  return {
    s,
    list: async () => {
      s.lists++;
      return s.leases.filter((l) => l.expiresAt > clock.now());
    },
    changed: () => {
      const w = s.written;
      s.written = false;
      return w;
    },
  };
}

test('with a change hint, polls without a write skip the list until the full-list period', async () => {
  const clock = new FakeClock(0);
  const f = fakeStore(clock, [lease('10.244.1.0/24', 1e9)]);
  const events: LeaseEvent[] = [];
  const w = await pollingWatch(f.list, clock, 200, (e) => events.push(e), undefined, f.changed);
  assert.equal(f.s.lists, 1, 'the first list');
  await clock.advance(4_800);
  assert.equal(f.s.lists, 1, 'no write: no list for 24 polls');
  await clock.advance(400);
  assert.equal(f.s.lists, 2, 'a full list after 5 s anyway');
  await w.stop();
});

test('a write is seen at the next poll', async () => {
  const clock = new FakeClock(0);
  const f = fakeStore(clock, [lease('10.244.1.0/24', 1e9)]);
  const events: LeaseEvent[] = [];
  const w = await pollingWatch(f.list, clock, 200, (e) => events.push(e), undefined, f.changed);
  f.s.leases = [...f.s.leases, lease('10.244.2.0/24', 1e9)];
  f.s.written = true;
  await clock.advance(200);
  assert.deepEqual(
    events.map((e) => (e.type === 'added' ? e.lease.subnet : e.subnet)),
    ['10.244.2.0/24'],
  );
  await w.stop();
});

test('an expiry, which writes nothing, is seen at the first poll after it', async () => {
  const clock = new FakeClock(0);
  const f = fakeStore(clock, [lease('10.244.1.0/24', 1e9), lease('10.244.3.0/24', 1_000)]);
  const events: LeaseEvent[] = [];
  const w = await pollingWatch(f.list, clock, 200, (e) => events.push(e), undefined, f.changed);
  await clock.advance(800);
  assert.deepEqual(events, []);
  await clock.advance(200);
  assert.deepEqual(events, [{ type: 'removed', subnet: '10.244.3.0/24' }]);
  await w.stop();
});

test('without a hint every poll lists', async () => {
  const clock = new FakeClock(0);
  const f = fakeStore(clock, [lease('10.244.1.0/24', 1e9)]);
  const w = await pollingWatch(f.list, clock, 200, () => undefined);
  await clock.advance(1_000);
  assert.equal(f.s.lists, 6);
  await w.stop();
});

test('a wake hint (inotify on the store file) looks at once, without waiting for the poll; stop unsubscribes it', async () => {
  const clock = new FakeClock(0);
  const f = fakeStore(clock, [lease('10.244.1.0/24', 1e9)]);
  const events: LeaseEvent[] = [];
  let wake: () => void = () => undefined;
  let subscribed = 0;
  const w = await pollingWatch(
    f.list,
    clock,
    2_000,
    (e) => events.push(e),
    undefined,
    f.changed,
    (fn) => {
      subscribed++;
      wake = fn;
      return () => subscribed--;
    },
  );
  assert.equal(subscribed, 1);
  f.s.leases.push(lease('10.244.2.0/24', 1e9));
  f.s.written = true;
  wake();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    events.map((e) => (e.type === 'added' ? e.lease.subnet : e.subnet)),
    ['10.244.2.0/24'],
    'seen at once, no clock time passed',
  );
  await w.stop();
  assert.equal(subscribed, 0);
});
