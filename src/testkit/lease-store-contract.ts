/**
 * The LeaseStore contract (src/ports/lease-store.ts): one suite every implementation must pass,
 * so that the agent's tests against the in-memory fake say something about SQLite and etcd. Run
 * by src/testkit/lease-store-fake.test.ts, src/adapters/lease-store-sqlite.test.ts and (against a
 * real etcd the test starts) test/lease-store-etcd.test.ts.
 *
 * Time is the subject's: a fake clock is advanced, a real store (etcd expires keys itself) waits.
 * Every wait for something asynchronous (a watch event, an expiry) is a wait-for-condition in
 * steps of the subject's time, never a fixed sleep that happens to be long enough.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Lease, type LeaseAttrs, type LeaseEvent, type LeaseStore } from '../ports/lease-store.js';
import { LeaseLostError, LeaseTakenError } from '../core/port-errors.js';

export interface LeaseStoreSubject {
  /** A store with no config and no lease in it. */
  store: LeaseStore;
  /** Another client of the same data (another connection or process-like client; the fake may return `store`). */
  open(): Promise<LeaseStore>;
  now(): number;
  /** Lets `ms` of the store's time pass (advance a fake clock, or wait). */
  pass(ms: number): Promise<void>;
  /** Closes every client and removes the data. */
  cleanup(): Promise<void>;
}

export interface LeaseStoreContractOptions {
  /** The shortest lease the store keeps exactly (etcd counts TTLs in whole seconds: 1000). */
  unitMs: number;
  /** How long a watch event or an expiry may take to show, at most. */
  patienceMs: number;
  /** Step of time between two looks while waiting. */
  stepMs: number;
  /** How much later than asked a lease may run out (etcd rounds a TTL up to the second). */
  expirySlackMs: number;
}

const attrs = (ip: string, more: Partial<LeaseAttrs> = {}): LeaseAttrs => ({
  publicIp: ip,
  backendType: 'vxlan',
  backendData: { VNI: 1, VtepMAC: `0e:77:0a:63:00:${ip.split('.').pop()!.padStart(2, '0')}` },
  nodeName: `n-${ip}`,
  ...more,
});

/** A lease without its expiry, for comparing what was written with what is read. */
const attrsOf = (l: Lease) => {
  const { expiresAt: _expiresAt, ...rest } = l;
  return rest;
};

const describeEvent = (e: LeaseEvent) =>
  e.type === 'added'
    ? `added ${e.lease.subnet} ${e.lease.publicIp} ${e.lease.backendType} ${e.lease.nodeName ?? '-'}`
    : `removed ${e.subnet}`;

export function runLeaseStoreContract(
  name: string,
  o: LeaseStoreContractOptions,
  make: () => Promise<LeaseStoreSubject>,
): void {
  const u = o.unitMs;
  const withSubject = (title: string, body: (s: LeaseStoreSubject) => Promise<void>) =>
    test(`LeaseStore contract (${name}): ${title}`, { timeout: 60_000 }, async () => {
      const s = await make();
      try {
        await body(s);
      } finally {
        await s.cleanup();
      }
    });

  /** Passes time in steps until `check` holds (returns without throwing), or fails with its last error. */
  async function eventually(s: LeaseStoreSubject, what: string, check: () => Promise<void> | void): Promise<void> {
    let waited = 0;
    for (;;) {
      try {
        await check();
        return;
      } catch (err) {
        if (waited >= o.patienceMs)
          throw new Error(`waited ${waited} ms for ${what}: ${(err as Error).message}`, { cause: err });
      }
      await s.pass(o.stepMs);
      waited += o.stepMs;
    }
  }

  withSubject('nothing found: no config, no lease, renew is LeaseLost, revoke is quiet', async (s) => {
    assert.equal(await s.store.getConfig(), undefined);
    assert.deepEqual(await s.store.listLeases(), []);
    await assert.rejects(s.store.renew('10.244.9.0/24', attrs('10.99.0.9'), 10 * u), LeaseLostError);
    await s.store.revoke('10.244.9.0/24');
    assert.deepEqual(await s.store.listLeases(), [], 'a failed renew writes nothing');
  });

  withSubject('config: stored as given, replaced by the next put, seen by another client', async (s) => {
    const text = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}\n';
    await s.store.putConfig(text);
    assert.equal(await s.store.getConfig(), text);
    const other = await s.open();
    assert.equal(await other.getConfig(), text);
    await other.putConfig('{"Network":"10.245.0.0/16"}');
    assert.equal(await s.store.getConfig(), '{"Network":"10.245.0.0/16"}');
  });

  withSubject('acquire: returns the lease, lists it sorted by subnet, attributes round-trip', async (s) => {
    const t0 = s.now();
    const a = await s.store.acquire('10.244.2.0/24', attrs('10.99.0.2'), 10 * u);
    assert.deepEqual(attrsOf(a), { ...attrs('10.99.0.2'), subnet: '10.244.2.0/24' });
    assert.ok(
      a.expiresAt >= t0 + 10 * u && a.expiresAt <= s.now() + 10 * u + o.expirySlackMs,
      `expiresAt ${a.expiresAt - t0} ms after the call`,
    );
    // No node name and empty backend data are kept as such (no "" and no nulls).
    const bare: LeaseAttrs = { publicIp: '10.99.0.1', backendType: 'host-gw', backendData: {} };
    await s.store.acquire('10.244.1.0/24', bare, 10 * u);
    const listed = await (await s.open()).listLeases();
    assert.deepEqual(listed.map(attrsOf), [
      { ...bare, subnet: '10.244.1.0/24' },
      { ...attrs('10.99.0.2'), subnet: '10.244.2.0/24' },
    ]);
    for (const l of listed)
      assert.ok(l.expiresAt > s.now() && l.expiresAt <= s.now() + 10 * u + o.expirySlackMs, `${l.subnet} expiresAt`);
  });

  withSubject('acquire of a held subnet is LeaseTaken (for its own holder too) and changes nothing', async (s) => {
    const held = await s.store.acquire('10.244.3.0/24', attrs('10.99.0.3'), 10 * u);
    await assert.rejects(s.store.acquire('10.244.3.0/24', attrs('10.99.0.4'), 10 * u), LeaseTakenError);
    await assert.rejects(
      s.store.acquire('10.244.3.0/24', attrs('10.99.0.3', { backendType: 'host-gw' }), 10 * u),
      LeaseTakenError,
    );
    assert.deepEqual((await s.store.listLeases()).map(attrsOf), [attrsOf(held)]);
  });

  withSubject('eight clients race for one subnet: exactly one wins, the others get LeaseTaken', async (s) => {
    const clients = await Promise.all(Array.from({ length: 8 }, () => s.open()));
    const outcomes = await Promise.allSettled(
      clients.map((c, i) => c.acquire('10.244.7.0/24', attrs(`10.99.0.${i + 10}`), 10 * u)),
    );
    const won = outcomes.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const lost = outcomes.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    assert.equal(won.length, 1, `winners: ${won.map((l) => l.publicIp).join(',')}`);
    assert.equal(lost.length, 7);
    for (const e of lost) assert.ok(e instanceof LeaseTakenError, `a loser got ${String(e)}`);
    assert.deepEqual(
      (await s.store.listLeases()).map((l) => l.publicIp),
      [won[0]!.publicIp],
    );
  });

  withSubject(
    'renew: extends the lease past its first expiry and updates its attributes; others get LeaseLost',
    async (s) => {
      await s.store.acquire('10.244.4.0/24', attrs('10.99.0.4'), 3 * u);
      await s.pass(2 * u);
      const t = s.now();
      const r = await s.store.renew(
        '10.244.4.0/24',
        attrs('10.99.0.4', { backendData: { VNI: 7, VtepMAC: '0e:77:0a:63:00:44' } }),
        3 * u,
      );
      assert.ok(
        r.expiresAt >= t + 3 * u && r.expiresAt <= s.now() + 3 * u + o.expirySlackMs,
        `renewed expiresAt ${r.expiresAt - t} ms after the call`,
      );
      await assert.rejects(
        s.store.renew('10.244.4.0/24', attrs('10.99.0.5'), 3 * u),
        LeaseLostError,
        'another node cannot renew it',
      );
      await s.pass(2 * u);
      // 4 units after acquire: past the first expiry, inside the renewed one.
      const [l] = await s.store.listLeases();
      assert.deepEqual(l && attrsOf(l), {
        ...attrs('10.99.0.4', { backendData: { VNI: 7, VtepMAC: '0e:77:0a:63:00:44' } }),
        subnet: '10.244.4.0/24',
      });
      // The same attributes again: still the holder's lease.
      await s.store.renew(
        '10.244.4.0/24',
        attrs('10.99.0.4', { backendData: { VNI: 7, VtepMAC: '0e:77:0a:63:00:44' } }),
        3 * u,
      );
      assert.equal((await s.store.listLeases()).length, 1);
    },
  );

  withSubject('expiry: an unrenewed lease stops being listed, cannot be renewed, and is free to acquire', async (s) => {
    await s.store.acquire('10.244.5.0/24', attrs('10.99.0.5'), u);
    await s.store.acquire('10.244.6.0/24', attrs('10.99.0.6'), 20 * u);
    await s.pass(u);
    await eventually(s, 'the short lease to expire', async () =>
      assert.deepEqual(
        (await s.store.listLeases()).map((l) => l.subnet),
        ['10.244.6.0/24'],
      ),
    );
    await assert.rejects(s.store.renew('10.244.5.0/24', attrs('10.99.0.5'), u), LeaseLostError);
    const again = await (await s.open()).acquire('10.244.5.0/24', attrs('10.99.0.7'), 20 * u);
    assert.equal(again.publicIp, '10.99.0.7');
  });

  withSubject('revoke: the lease is gone at once and the subnet is free', async (s) => {
    await s.store.acquire('10.244.8.0/24', attrs('10.99.0.8'), 20 * u);
    await (await s.open()).revoke('10.244.8.0/24');
    assert.deepEqual(await s.store.listLeases(), []);
    await assert.rejects(s.store.renew('10.244.8.0/24', attrs('10.99.0.8'), 20 * u), LeaseLostError);
    await s.store.acquire('10.244.8.0/24', attrs('10.99.0.9'), 20 * u);
  });

  withSubject(
    'watch: exactly the changes made after it started, in order (added, changed, removed by revoke and by expiry)',
    async (s) => {
      await s.store.acquire('10.244.1.0/24', attrs('10.99.0.1'), 20 * u);
      const events: string[] = [];
      const leases: Lease[] = [];
      const w = await s.store.watch((e) => {
        events.push(describeEvent(e));
        if (e.type === 'added') leases.push(e.lease);
      });
      const writer = await s.open();
      const expect = async (want: string[]) =>
        eventually(s, want[want.length - 1]!, () => assert.deepEqual(events, want));
      const seen: string[] = [];
      await writer.acquire('10.244.2.0/24', attrs('10.99.0.2'), 20 * u);
      seen.push('added 10.244.2.0/24 10.99.0.2 vxlan n-10.99.0.2');
      await expect(seen);
      assert.ok(leases[0]!.expiresAt > s.now(), 'an event carries a live expiry');
      await writer.acquire('10.244.3.0/24', attrs('10.99.0.3'), 2 * u);
      seen.push('added 10.244.3.0/24 10.99.0.3 vxlan n-10.99.0.3');
      await expect(seen);
      // A renewal that changes an attribute is an event; one that only extends the lease is not.
      await writer.renew('10.244.2.0/24', attrs('10.99.0.2', { backendType: 'host-gw' }), 20 * u);
      seen.push('added 10.244.2.0/24 10.99.0.2 host-gw n-10.99.0.2');
      await expect(seen);
      await writer.renew('10.244.1.0/24', attrs('10.99.0.1'), 20 * u);
      await writer.revoke('10.244.1.0/24');
      seen.push('removed 10.244.1.0/24');
      await expect(seen);
      await s.pass(2 * u);
      seen.push('removed 10.244.3.0/24');
      await expect(seen);
      // Nothing more arrives.
      await s.pass(2 * u);
      assert.deepEqual(events, seen);
      await w.stop();
    },
  );

  withSubject('watch: a stopped watch and a closed client hear nothing more; stopping twice is harmless', async (s) => {
    const a: string[] = [];
    const w = await s.store.watch((e) => a.push(describeEvent(e)));
    await s.store.acquire('10.244.1.0/24', attrs('10.99.0.1'), 20 * u);
    await eventually(s, 'the first event', () => assert.equal(a.length, 1));
    await w.stop();
    await w.stop();
    const other = await s.open();
    const b: string[] = [];
    await other.watch((e) => b.push(describeEvent(e)));
    await other.close();
    await s.store.acquire('10.244.2.0/24', attrs('10.99.0.2'), 20 * u);
    await s.store.revoke('10.244.1.0/24');
    await s.pass(2 * u);
    assert.deepEqual(a, ['added 10.244.1.0/24 10.99.0.1 vxlan n-10.99.0.1']);
    assert.deepEqual(b, []);
  });
}
