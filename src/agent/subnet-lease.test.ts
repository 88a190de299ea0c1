import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/clock-fake.js';
import { MemoryLeaseStore } from '../testkit/lease-store-fake.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { parseNetConf } from '../core/flannel/net-conf.js';
import { SubnetLease, type SubnetLeaseOptions } from './subnet-lease.js';

const conf = parseNetConf('{"Network":"10.244.0.0/16","SubnetMin":"10.244.1.0","SubnetMax":"10.244.4.0"}');
const attrs = (ip: string) => ({ publicIp: ip, backendType: 'vxlan', backendData: { VNI: 1 } });

function setup(extra: Partial<SubnetLeaseOptions> = {}) {
  const clock = new FakeClock();
  const store = new MemoryLeaseStore(clock);
  const logs: string[] = [];
  let changes = 0;
  const make = (ip: string, more: Partial<SubnetLeaseOptions> = {}) =>
    new SubnetLease({
      store,
      conf,
      attrs: attrs(ip),
      ttlMs: 10_000,
      renewMarginMs: 5_000,
      relistMs: 3_000,
      clock,
      random: () => 0,
      log: new JsonLogger((l) => logs.push(l)),
      onPeersChanged: () => changes++,
      onLost: () => undefined,
      ...extra,
      ...more,
    });
  return { clock, store, logs, make, changes: () => changes };
}

test('a new node picks a free subnet; a restarted node reuses its lease', async () => {
  const { store, make } = setup();
  const a = make('10.99.0.1');
  const first = await a.start();
  assert.equal(first.subnet, '10.244.1.0/24');
  await a.stop();
  const again = await make('10.99.0.1').start();
  assert.equal(again.subnet, first.subnet, 'same node, same subnet');
  assert.equal((await store.listLeases()).length, 1);
});

test('losing a race for a subnet picks again', async () => {
  const { make } = setup();
  // random() = 0 makes both pick the first free subnet; the second must move on.
  const [a, b] = await Promise.all([make('10.99.0.1').start(), make('10.99.0.2').start()]);
  assert.notEqual(a.subnet, b.subnet);
});

test('after its lease expired, a node takes back the subnet in its subnet.env', async () => {
  const { clock, make } = setup();
  const a = make('10.99.0.1', { random: () => 0.99 });
  const held = await a.start();
  await a.stop();
  await clock.advance(20_000);
  const b = make('10.99.0.1', { previousSubnet: held.subnet });
  assert.equal((await b.start()).subnet, held.subnet);
});

test('an unreachable store: the node keeps its subnet and peers, retries, and renews when it returns', async () => {
  const { clock, store, make, logs } = setup();
  const peer = make('10.99.0.2');
  await peer.start();
  const a = make('10.99.0.1');
  const lease = await a.start();
  assert.equal(a.peers().length, 1);
  store.failing = true;
  await clock.advance(30_000);
  assert.ok(logs.some((l) => l.includes('cannot renew the lease')));
  assert.equal(a.lease().subnet, lease.subnet);
  assert.equal(a.peers().length, 1, 'peers are kept while the store is down');
  store.failing = false;
  await clock.advance(10_000);
  const live = await store.listLeases();
  assert.ok(
    live.some((l) => l.subnet === lease.subnet && l.publicIp === '10.99.0.1'),
    'the same subnet is held again',
  );
  await a.stop();
  await peer.stop();
});

test('peer leases appearing and going are reported', async () => {
  const { make, changes } = setup();
  const a = make('10.99.0.1');
  await a.start();
  const before = changes();
  const b = make('10.99.0.2');
  const bl = await b.start();
  assert.ok(changes() > before);
  assert.deepEqual(
    a.peers().map((l) => l.subnet),
    [bl.subnet],
  );
});
