// Runs the IpamStore contract against the in-memory fake and the disk store, plus disk-only
// checks of the exact on-disk format the reference host-local plugin reads and writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskIpamStore, parseReservation } from './ipam-disk-store.js';
import { MemoryIpamStore } from '../testkit/ipam-store-fake.js';
import { runIpamStoreContract } from '../testkit/ipam-store-contract.js';

runIpamStoreContract('memory', async () => {
  const store = new MemoryIpamStore();
  return {
    store,
    seedLegacy: async (ip, containerId) => store.seed({ ip, containerId, ifname: undefined }),
    cleanup: async () => undefined,
  };
});

async function tempNetwork(): Promise<{ root: string; dir: string }> {
  const root = await mkdtemp(join(tmpdir(), 'weft-ipam-'));
  const dir = join(root, 'net');
  await mkdir(dir);
  return { root, dir };
}

runIpamStoreContract('disk', async () => {
  const { root, dir } = await tempNetwork();
  return {
    store: new DiskIpamStore(dir),
    seedLegacy: (ip, containerId) => writeFile(join(dir, ip), containerId),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

test('disk store writes the reference layout byte for byte', async () => {
  const { root, dir } = await tempNetwork();
  try {
    const store = new DiskIpamStore(dir);
    await store.reserve(' c1 ', 'eth0', '10.0.0.2', 0);
    await store.reserve('c1', 'eth0', 'fd00::2', 1);
    await writeFile(join(dir, 'lock'), '');
    assert.deepEqual((await readdir(dir)).sort(), [
      '10.0.0.2',
      'fd00::2',
      'last_reserved_ip.0',
      'last_reserved_ip.1',
      'lock',
    ]);
    assert.equal(
      await readFile(join(dir, '10.0.0.2'), 'utf8'),
      'c1\r\neth0',
      'container id trimmed, CRLF, no trailing newline',
    );
    assert.equal(await readFile(join(dir, 'last_reserved_ip.1'), 'utf8'), 'fd00::2');
    assert.equal((await stat(join(dir, '10.0.0.2'))).mode & 0o777, 0o644);
    assert.equal((await store.list()).length, 2, 'lock and last_reserved_ip are not reservations');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a failed reservation leaves no file behind', async () => {
  const { root, dir } = await tempNetwork();
  try {
    const store = new DiskIpamStore(dir);
    // last_reserved_ip.0 being a directory makes the rename fail after the reservation was made.
    await mkdir(join(dir, 'last_reserved_ip.0'));
    await writeFile(join(dir, 'last_reserved_ip.0', 'x'), '');
    await assert.rejects(store.reserve('c1', 'eth0', '10.0.0.2', 0), /last reserved of range set 0/);
    assert.deepEqual((await readdir(dir)).sort(), ['last_reserved_ip.0']);
    // A store whose directory is missing fails the reserve and creates nothing.
    const gone = new DiskIpamStore(join(root, 'missing'));
    await assert.rejects(gone.reserve('c1', 'eth0', '10.0.0.2', 0), /ENOENT/);
    assert.deepEqual(await gone.list(), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('reservation file contents are parsed like the reference (trimmed; id-only is legacy)', () => {
  assert.deepEqual(parseReservation('10.0.0.2', 'c1\r\neth0'), { ip: '10.0.0.2', containerId: 'c1', ifname: 'eth0' });
  assert.deepEqual(parseReservation('10.0.0.2', 'c1\r\neth0\n'), { ip: '10.0.0.2', containerId: 'c1', ifname: 'eth0' });
  assert.deepEqual(parseReservation('10.0.0.2', '  c1 \n'), { ip: '10.0.0.2', containerId: 'c1', ifname: undefined });
});
