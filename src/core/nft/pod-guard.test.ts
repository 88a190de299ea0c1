/**
 * The pod guard's table as data and text: which elements an attachment owns, that ADD and DEL
 * touch only those, that the agent's lift removes only covered pending addresses, and that what
 * the fake nft lists parses back to what was added.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GUARD_OBJECTS, GUARD_TABLE, podMac } from '../names.js';
import { NftFake } from '../../testkit/nft-fake.js';
import {
  canonical,
  guardElementsFor,
  linkLocalOf,
  parseGuardElements,
  pendingLifts,
  pendingLiftTx,
  renderGuardAdd,
  renderGuardRemove,
  type GuardElement,
  type GuardTarget,
} from './pod-guard.js';

const V4: GuardTarget = {
  hostVeth: 'vethaaaa',
  mac: '0A:58:0A:F4:01:02',
  addresses: [{ family: 4, address: '10.244.1.2' }],
  awaitPolicy: true,
};
const DUAL: GuardTarget = {
  hostVeth: 'vethbbbb',
  mac: '52:54:00:12:34:56',
  addresses: [
    { family: 4, address: '10.244.1.3' },
    { family: 6, address: 'fd00:244:1::3' },
  ],
  awaitPolicy: false,
};

const ids = (els: readonly GuardElement[]) => els.map((e) => `${e.set} ${e.key.join(' . ')}`).sort();

async function listed(nft: NftFake): Promise<GuardElement[]> {
  const objects = await nft.listTable('bridge', GUARD_TABLE);
  return objects ? parseGuardElements(objects) : [];
}

test('pod guard: the link-local address is the EUI-64 one the kernel derives from the MAC', () => {
  assert.equal(linkLocalOf('52:54:00:12:34:56'), 'fe80::5054:ff:fe12:3456');
  assert.equal(linkLocalOf('02:00:00:00:00:01'), 'fe80::0:ff:fe00:1');
  assert.throws(() => linkLocalOf('52:54:00:12:34'), /not a MAC address/);
});

test('pod guard: pod MACs are unicast, locally administered and stable per (container, interface)', () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 64 }), fc.constantFrom('eth0', 'net1'), (id, ifname) => {
      const mac = podMac(id, ifname);
      assert.match(mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      const first = Number.parseInt(mac.slice(0, 2), 16);
      assert.equal(first & 0x01, 0, 'unicast');
      assert.equal(first & 0x02, 0x02, 'locally administered');
      assert.equal(podMac(id, ifname), mac);
    }),
  );
  assert.notEqual(podMac('a', 'eth0'), podMac('b', 'eth0'));
  // With an IPv4 address: 0a:58 and its bytes, so a reused address keeps its MAC.
  assert.equal(podMac('a', 'eth0', '10.244.1.2'), '0a:58:0a:f4:01:02');
  assert.equal(podMac('b', 'net1', '10.244.1.2'), podMac('a', 'eth0', '10.244.1.2'));
  assert.notEqual(podMac('a', 'eth0'), podMac('a', 'net1'));
});

test('pod guard: an IPv4-only pod gets no IPv6 element (its IPv6 is dropped), and waits only when asked', () => {
  assert.deepEqual(ids(guardElementsFor('t1', V4)), [
    `${GUARD_OBJECTS.pendingSet[4]} 10.244.1.2`,
    `${GUARD_OBJECTS.portSet} vethaaaa`,
    `${GUARD_OBJECTS.addrSet[4]} vethaaaa . 0a:58:0a:f4:01:02 . 10.244.1.2`,
  ]);
  assert.deepEqual(ids(guardElementsFor('t2', DUAL)), [
    `${GUARD_OBJECTS.portSet} vethbbbb`,
    `${GUARD_OBJECTS.addrSet[4]} vethbbbb . 52:54:00:12:34:56 . 10.244.1.3`,
    `${GUARD_OBJECTS.addrSet[6]} vethbbbb . 52:54:00:12:34:56 . ::`,
    `${GUARD_OBJECTS.addrSet[6]} vethbbbb . 52:54:00:12:34:56 . fd00:244:1::3`,
    `${GUARD_OBJECTS.addrSet[6]} vethbbbb . 52:54:00:12:34:56 . fe80::5054:ff:fe12:3456`,
  ]);
  for (const e of guardElementsFor('t2', DUAL)) assert.equal(e.comment, 't2');
});

test('pod guard: the rules check the port, frame MAC and source together and drop anything unmatched', () => {
  const text = renderGuardAdd('t1', V4, []).render();
  assert.match(text, /add table bridge weft-guard/);
  assert.match(text, /type filter hook prerouting priority -200; policy accept;/);
  assert.match(text, /iifname @ports jump from-pod/);
  assert.match(
    text,
    /ether type 2054 iifname \. ether saddr \. arp saddr ip @ports-v4 iifname \. arp saddr ether \. arp saddr ip @ports-v4 accept/,
  );
  assert.match(text, /ether type 2048 iifname \. ether saddr \. ip saddr @ports-v4 ip saddr != @pending-v4 accept/);
  assert.match(text, /ether type 2048 counter drop comment "IPv4 source or MAC is not the port's pod/);
  assert.match(text, /ether type 34525 iifname \. ether saddr \. ip6 saddr @ports-v6 ip6 saddr != @pending-v6 accept/);
  assert.match(text, /ether type 2048 ip daddr @pending-v4 counter drop/);
  // The last rule of from-pod drops what no rule accepted (forged ARP, other ethertypes).
  const fromPod = text.split('\n').filter((l) => l.startsWith(`add rule bridge ${GUARD_TABLE} from-pod `));
  assert.equal(fromPod.length, 6);
  assert.match(fromPod.at(-1) ?? '', /counter drop/);
});

test('pod guard: ADD and DEL of two attachments in the fake nft touch only their own elements', async () => {
  const nft = new NftFake();
  await nft.apply(renderGuardAdd('t1', V4, await listed(nft)), 'add t1');
  await nft.apply(renderGuardAdd('t2', DUAL, await listed(nft)), 'add t2');
  assert.deepEqual(ids(await listed(nft)), ids([...guardElementsFor('t1', V4), ...guardElementsFor('t2', DUAL)]));
  // A retried ADD of t1 with another address replaces t1's elements and keeps t2's.
  const moved = { ...V4, addresses: [{ family: 4 as const, address: '10.244.1.7' }] };
  await nft.apply(renderGuardAdd('t1', moved, await listed(nft)), 'add t1 again');
  assert.deepEqual(ids(await listed(nft)), ids([...guardElementsFor('t1', moved), ...guardElementsFor('t2', DUAL)]));
  await nft.apply(renderGuardRemove('t1', await listed(nft)), 'del t1');
  assert.deepEqual(ids(await listed(nft)), ids(guardElementsFor('t2', DUAL)));
  assert.equal(renderGuardRemove('t1', await listed(nft)).empty, true, 'a second DEL has nothing to do');
  const last = renderGuardRemove('t2', await listed(nft));
  assert.match(last.render(), /^delete table bridge weft-guard$/m);
  await nft.apply(last, 'del t2');
  assert.equal(await nft.listTable('bridge', GUARD_TABLE), undefined);
});

test('pod guard: the lift removes only the covered pending addresses, in any spelling; "all" removes every one', async () => {
  const nft = new NftFake();
  const v6 = { ...DUAL, awaitPolicy: true };
  await nft.apply(renderGuardAdd('t1', V4, []), 'add t1');
  await nft.apply(renderGuardAdd('t2', v6, await listed(nft)), 'add t2');
  const current = await listed(nft);
  assert.deepEqual(ids(pendingLifts(current, new Set())), []);
  assert.equal(pendingLiftTx(current, new Set()).empty, true);
  const some = new Set([canonical('fd00:244:1:0:0:0:0:3'), canonical('10.244.1.2')]);
  assert.deepEqual(ids(pendingLifts(current, some)), [
    `${GUARD_OBJECTS.pendingSet[4]} 10.244.1.2`,
    `${GUARD_OBJECTS.pendingSet[6]} fd00:244:1::3`,
  ]);
  await nft.apply(pendingLiftTx(current, some), 'lift');
  const after = await listed(nft);
  assert.deepEqual(ids(after.filter((e) => e.set.startsWith('pending'))), [
    `${GUARD_OBJECTS.pendingSet[4]} 10.244.1.3`,
  ]);
  assert.equal(after.filter((e) => !e.set.startsWith('pending')).length, current.length - 3, 'nothing else moved');
  await nft.apply(pendingLiftTx(after, 'all'), 'lift all');
  assert.deepEqual(
    (await listed(nft)).filter((e) => e.set.startsWith('pending')),
    [],
  );
});

test('pod guard: a lift that races a DEL fails whole and changes nothing', async () => {
  const nft = new NftFake();
  await nft.apply(renderGuardAdd('t1', V4, []), 'add t1');
  await nft.apply(renderGuardAdd('t2', { ...DUAL, awaitPolicy: true }, await listed(nft)), 'add t2');
  const stale = await listed(nft);
  await nft.apply(renderGuardRemove('t1', stale), 'del t1');
  const before = ids(await listed(nft));
  await assert.rejects(nft.apply(pendingLiftTx(stale, 'all'), 'stale lift'));
  assert.deepEqual(ids(await listed(nft)), before);
});
