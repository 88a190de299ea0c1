/**
 * The IpamStore contract: one suite of behaviour every implementation must show (the in-memory
 * fake and the disk store), so that allocator tests against the fake say something about disk.
 * Call runIpamStoreContract from a *.test.ts file with a factory for fresh, empty stores.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IpamStore } from '../ports/ipam-store.js';

export interface ContractSubject {
  store: IpamStore;
  /** Writes an id-only reservation, as an old reference plugin did. */
  seedLegacy(ip: string, containerId: string): Promise<void>;
  cleanup(): Promise<void>;
}

export function runIpamStoreContract(name: string, make: () => Promise<ContractSubject>): void {
  const withSubject = (title: string, body: (s: ContractSubject) => Promise<void>) =>
    test(`IpamStore contract (${name}): ${title}`, async () => {
      const subject = await make();
      try {
        await body(subject);
      } finally {
        await subject.cleanup();
      }
    });

  withSubject('an empty store has nothing', async ({ store }) => {
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await store.getById('c', 'eth0'), []);
    assert.deepEqual(await store.releaseById('c', 'eth0'), []);
    assert.equal(await store.release('10.0.0.2'), false);
    assert.equal(await store.lastReserved(0), undefined);
  });

  withSubject('reserve is exclusive and records the last reserved address per range set', async ({ store }) => {
    assert.equal(await store.reserve('c1', 'eth0', '10.0.0.2', 0), true);
    assert.equal(await store.reserve('c2', 'eth0', '10.0.0.2', 0), false);
    assert.equal(await store.reserve('c1', 'eth0', 'fd00::2', 1), true);
    assert.equal(await store.lastReserved(0), '10.0.0.2');
    assert.equal(await store.lastReserved(1), 'fd00::2');
    assert.equal(await store.reserve('c2', 'eth0', '10.0.0.3', 0), true);
    assert.equal(await store.lastReserved(0), '10.0.0.3');
    const all = (await store.list()).sort((a, b) => a.ip.localeCompare(b.ip));
    assert.deepEqual(all, [
      { ip: '10.0.0.2', containerId: 'c1', ifname: 'eth0' },
      { ip: '10.0.0.3', containerId: 'c2', ifname: 'eth0' },
      { ip: 'fd00::2', containerId: 'c1', ifname: 'eth0' },
    ]);
  });

  withSubject('getById and releaseById match container and ifname', async ({ store }) => {
    await store.reserve('c1', 'eth0', '10.0.0.2', 0);
    await store.reserve('c1', 'eth1', '10.0.0.3', 0);
    await store.reserve('c1', 'eth0', 'fd00::2', 1);
    assert.deepEqual((await store.getById('c1', 'eth0')).sort(), ['10.0.0.2', 'fd00::2']);
    assert.deepEqual((await store.releaseById('c1', 'eth0')).sort(), ['10.0.0.2', 'fd00::2']);
    assert.deepEqual(await store.getById('c1', 'eth0'), []);
    assert.deepEqual(await store.getById('c1', 'eth1'), ['10.0.0.3']);
    assert.equal(await store.release('10.0.0.3'), true);
    assert.deepEqual(await store.list(), []);
    assert.equal(await store.reserve('c9', 'eth0', '10.0.0.3', 0), true, 'a released address can be reserved again');
  });

  withSubject(
    'id-only reservations: held by every ifname, released only when nothing current-format is',
    async ({ store, seedLegacy }) => {
      await seedLegacy('10.0.0.9', 'old');
      assert.deepEqual(await store.list(), [{ ip: '10.0.0.9', containerId: 'old', ifname: undefined }]);
      assert.deepEqual(await store.getById('old', 'eth3'), ['10.0.0.9']);
      assert.equal(await store.reserve('x', 'eth0', '10.0.0.9', 0), false);
      await store.reserve('old', 'eth0', '10.0.0.10', 0);
      assert.deepEqual(await store.releaseById('old', 'eth0'), ['10.0.0.10']);
      assert.deepEqual(await store.releaseById('old', 'eth0'), ['10.0.0.9']);
      assert.deepEqual(await store.list(), []);
    },
  );
}
