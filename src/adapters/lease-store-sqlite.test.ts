// The embedded store against real SQLite files: the LeaseStore contract (src/testkit/
// lease-store-contract.ts), and 20 processes racing for one subnet (exactly one wins), which is
// what BEGIN IMMEDIATE is there for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeClock } from '../testkit/clock-fake.js';
import { SqliteLeaseStore } from './lease-store-sqlite.js';
import type { LeaseStore } from '../ports/lease-store.js';
import { runLeaseStoreContract } from '../testkit/lease-store-contract.js';

runLeaseStoreContract('SQLite', { unitMs: 1_000, patienceMs: 5_000, stepMs: 100, expirySlackMs: 0 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-sqlite-'));
  const clock = new FakeClock();
  const path = join(dir, 's.db');
  const clients: LeaseStore[] = [];
  const open = async () => {
    const c = new SqliteLeaseStore({ path, clock, pollMs: 100 });
    clients.push(c);
    return c;
  };
  const store = await open();
  return {
    store,
    open,
    now: () => clock.now(),
    pass: (ms) => clock.advance(ms),
    cleanup: async () => {
      // Closing a client the test closed itself again is harmless (better-sqlite3's close is idempotent).
      for (const c of clients) await c.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
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
      Array.from(
        { length: 20 },
        (_, i) =>
          new Promise<string>((resolve) => {
            const c = spawn(process.execPath, ['--input-type=module', '-e', script, `10.99.0.${i + 1}`], {
              stdio: ['ignore', 'pipe', 'inherit'],
            });
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
