// The embedded store against real SQLite files: lease semantics, and 20 processes racing for one
// subnet (exactly one wins), which is what BEGIN IMMEDIATE is there for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeClock } from '../testkit/clock-fake.js';
import { SqliteLeaseStore } from './lease-store-sqlite.js';
import { LeaseLostError, LeaseTakenError, type LeaseEvent } from '../ports/lease-store.js';

const attrs = (ip: string) => ({ publicIp: ip, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: '0e:77:0a:63:00:01' }, nodeName: `n-${ip}` });

test('config, acquire, taken, renew, lost, expiry, revoke', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-sqlite-'));
  const clock = new FakeClock();
  const store = new SqliteLeaseStore({ path: join(dir, 's.db'), clock, pollMs: 100 });
  try {
    assert.equal(await store.getConfig(), undefined);
    await store.putConfig('{"Network":"10.244.0.0/16"}');
    assert.equal(await store.getConfig(), '{"Network":"10.244.0.0/16"}');
    const l = await store.acquire('10.244.1.0/24', attrs('10.99.0.1'), 1000);
    assert.deepEqual(l, { ...attrs('10.99.0.1'), subnet: '10.244.1.0/24', expiresAt: clock.now() + 1000 });
    await assert.rejects(store.acquire('10.244.1.0/24', attrs('10.99.0.2'), 1000), LeaseTakenError);
    await assert.rejects(store.renew('10.244.1.0/24', attrs('10.99.0.2'), 1000), LeaseLostError);
    await clock.advance(500);
    assert.equal((await store.renew('10.244.1.0/24', attrs('10.99.0.1'), 1000)).expiresAt, clock.now() + 1000);
    await clock.advance(1001);
    assert.deepEqual(await store.listLeases(), [], 'expired leases are not listed');
    await assert.rejects(store.renew('10.244.1.0/24', attrs('10.99.0.1'), 1000), LeaseLostError);
    await store.acquire('10.244.1.0/24', attrs('10.99.0.2'), 1000);
    await store.revoke('10.244.1.0/24');
    assert.deepEqual(await store.listLeases(), []);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('watch reports added, changed and removed leases, removal by expiry included', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-sqlite-'));
  const clock = new FakeClock();
  const store = new SqliteLeaseStore({ path: join(dir, 's.db'), clock, pollMs: 100 });
  const events: LeaseEvent[] = [];
  const w = await store.watch((e) => events.push(e));
  try {
    await store.acquire('10.244.1.0/24', attrs('10.99.0.1'), 1000);
    await clock.advance(100);
    await store.renew('10.244.1.0/24', { ...attrs('10.99.0.1'), backendType: 'host-gw' }, 1000);
    await clock.advance(100);
    await clock.advance(1000);
    assert.deepEqual(
      events.map((e) => (e.type === 'added' ? `added ${e.lease.subnet} ${e.lease.backendType}` : `removed ${e.subnet}`)),
      ['added 10.244.1.0/24 vxlan', 'added 10.244.1.0/24 host-gw', 'removed 10.244.1.0/24'],
    );
  } finally {
    await w.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('20 processes acquire one subnet at once: exactly one wins', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-sqlite-'));
  const path = join(dir, 's.db');
  const mod = fileURLToPath(new URL('./lease-store-sqlite.js', import.meta.url));
  const script = `
    const { SqliteLeaseStore } = await import(${JSON.stringify(mod)});
    const store = new SqliteLeaseStore({ path: ${JSON.stringify(path)}, clock: { now: () => Date.now(), setTimeout: (f, ms) => { const t = setTimeout(f, ms); return { cancel: () => clearTimeout(t) }; } } });
    try { await store.acquire('10.244.7.0/24', { publicIp: process.argv[1], backendType: 'vxlan', backendData: {} }, 60000); console.log('won'); }
    catch (e) { console.log(e.name); }
    await store.close();`;
  try {
    await new SqliteLeaseStore({ path, clock: new FakeClock() }).close();
    const outs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        new Promise<string>((resolve) => {
          const c = spawn(process.execPath, ['--input-type=module', '-e', script, `10.99.0.${i + 1}`], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          c.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
          c.on('exit', () => resolve(out.trim()));
        }),
      ),
    );
    assert.equal(outs.filter((o) => o === 'won').length, 1, outs.join(','));
    assert.equal(outs.filter((o) => o === 'LeaseTakenError').length, 19, outs.join(','));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
