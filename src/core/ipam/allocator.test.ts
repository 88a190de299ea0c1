// Unit tests of the allocator over the in-memory IpamStore: order (round-robin, wrap, skips),
// idempotence, requested addresses, exhaustion, rollback, CHECK, GC, and fast-check properties.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryIpamStore } from '../../testkit/ipam-store-fake.js';
import type { IpamStore } from '../../ports/ipam-store.js';
import { CniError } from '../cni/errors.js';
import { cidrContains, firstIp, formatIp, lastIp, parseIp, sameIp, type IpAddress } from '../net/ip.js';
import { allocate, checkAttachment, collectGarbage, freeCounts, nextFree, type Attachment } from './allocator.js';
import { canonicalizeRangeSet, gatewaysOf, isAllocatable, type IpRange, type RangeSpec } from './range.js';

const set = (...specs: RangeSpec[]): IpRange[] => canonicalizeRangeSet(specs, 's', (i) => `s[${i}]`);
const att = (containerId: string, ifname = 'eth0'): Attachment => ({ containerId, ifname });
const texts = (as: Array<{ ip: IpAddress }>) => as.map((a) => formatIp(a.ip));

async function one(store: IpamStore, sets: IpRange[][], id: string, ifname = 'eth0'): Promise<string[]> {
  return texts(await allocate(store, sets, att(id, ifname), []));
}

async function rejects(p: Promise<unknown>, code: number, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof CniError && err.code === code && message.test(err.message));
}

test('allocates in order from rangeStart, skipping the gateway, then reports exhaustion (IPv4 and IPv6)', async () => {
  const cases: Array<[string, IpRange[], string[], RegExp]> = [
    [
      'IPv4 /29',
      set({ subnet: '10.0.0.0/29' }),
      ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'],
      /range set 0 \(10\.0\.0\.1-10\.0\.0\.6 in 10\.0\.0\.0\/29\): all 5/,
    ],
    [
      'IPv6 /125',
      set({ subnet: 'fd00::/125' }),
      ['fd00::2', 'fd00::3', 'fd00::4', 'fd00::5', 'fd00::6', 'fd00::7'],
      /all 6 allocatable/,
    ],
    [
      'gateway in the middle',
      set({ subnet: '10.0.0.0/29', gateway: '10.0.0.4' }),
      ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.5', '10.0.0.6'],
      /all 5/,
    ],
  ];
  for (const [name, s, want, exhausted] of cases) {
    const store = new MemoryIpamStore();
    const got: string[] = [];
    for (let i = 0; i < want.length; i++) got.push(...(await one(store, [s], `c${i}`)));
    assert.deepEqual(got, want, name);
    await rejects(allocate(store, [s], att('late'), []), 100, exhausted);
    assert.equal((await store.list()).length, want.length, `${name}: exhaustion adds nothing`);
  }
});

test('round-robin: continues after the last reserved address and wraps to freed ones', async () => {
  const s = set({ subnet: '10.0.0.0/29' });
  const store = new MemoryIpamStore();
  assert.deepEqual(await one(store, [s], 'a'), ['10.0.0.2']);
  assert.deepEqual(await one(store, [s], 'b'), ['10.0.0.3']);
  await store.releaseById('a', 'eth0');
  assert.deepEqual(await one(store, [s], 'c'), ['10.0.0.4'], 'not the freed .2');
  for (const id of ['d', 'e']) await one(store, [s], id);
  assert.deepEqual(await one(store, [s], 'f'), ['10.0.0.2'], 'wraps to the freed .2');
  // Across the ranges of one set, wrapping from the last range to the first.
  const multi = set({ subnet: '10.1.0.0/30' }, { subnet: '10.2.0.0/30' });
  const m = new MemoryIpamStore();
  assert.deepEqual([await one(m, [multi], 'x'), await one(m, [multi], 'y')].flat(), ['10.1.0.2', '10.2.0.2']);
  await m.releaseById('x', 'eth0');
  assert.deepEqual(await one(m, [multi], 'z'), ['10.1.0.2']);
});

test('a last reserved address outside the set (config changed) restarts at rangeStart', async () => {
  const s = set({ subnet: '10.0.0.0/24' });
  const store = new MemoryIpamStore();
  await store.reserve('old', 'eth0', '192.168.0.9', 0);
  assert.deepEqual(await one(store, [s], 'a'), ['10.0.0.2']);
});

test('ADD is idempotent per (container, ifname); another ifname gets its own address', async () => {
  const sets = [set({ subnet: '10.0.0.0/24' }), set({ subnet: 'fd00::/64' })];
  const store = new MemoryIpamStore();
  const first = await allocate(store, sets, att('c1'), []);
  const again = await allocate(store, sets, att('c1'), []);
  assert.deepEqual(texts(again), texts(first));
  assert.deepEqual(
    again.map((a) => a.reused),
    [true, true],
  );
  assert.deepEqual(await one(store, sets, 'c1', 'net1'), ['10.0.0.3', 'fd00::3']);
  assert.equal((await store.list()).length, 4);
});

test('requested addresses: granted, or refused when taken (code 100) leaving nothing behind', async () => {
  const sets = [set({ subnet: '10.0.0.0/24' }), set({ subnet: 'fd00::/64' })];
  const store = new MemoryIpamStore();
  assert.deepEqual(texts(await allocate(store, sets, att('a'), [parseIp('10.0.0.50'), undefined])), [
    '10.0.0.50',
    'fd00::2',
  ]);
  await rejects(
    allocate(store, sets, att('b'), [undefined, parseIp('fd00::2')]),
    100,
    /requested IP address fd00::2 is not available in range set 1 \(held by a\/eth0\)/,
  );
  assert.deepEqual(
    (await store.list()).map((r) => r.containerId),
    ['a', 'a'],
    'b reserved nothing',
  );
  await rejects(
    allocate(store, sets, att('a'), [parseIp('10.0.0.51'), undefined]),
    7,
    /a\/eth0 already holds 10\.0\.0\.50 in range set 0/,
  );
  assert.deepEqual(texts(await allocate(store, sets, att('a'), [parseIp('10.0.0.50'), undefined])), [
    '10.0.0.50',
    'fd00::2',
  ]);
});

test('a failed dual-stack ADD releases what it reserved, and only that', async () => {
  const sets = [set({ subnet: '10.0.0.0/24' }), set({ subnet: 'fd00::/126' })];
  const store = new MemoryIpamStore();
  await one(store, [sets[1]!], 'full-v6-1');
  await one(store, [sets[1]!], 'full-v6-2');
  await rejects(allocate(store, sets, att('c'), []), 100, /range set 1/);
  assert.deepEqual(await store.getById('c', 'eth0'), [], 'the IPv4 reservation was rolled back');
  // An I/O failure in the second set is code 5 and rolls back the first.
  const inner = new MemoryIpamStore();
  const flaky: IpamStore = {
    reserve: (id, ifname, ip, idx) =>
      idx === 1 ? Promise.reject(new Error('EIO: disk on fire')) : inner.reserve(id, ifname, ip, idx),
    lastReserved: (i) => inner.lastReserved(i),
    releaseById: (i, f) => inner.releaseById(i, f),
    release: (ip) => inner.release(ip),
    getById: (i, f) => inner.getById(i, f),
    list: () => inner.list(),
  };
  await rejects(
    allocate(flaky, [set({ subnet: '10.0.0.0/24' }), set({ subnet: 'fd00::/64' })], att('d'), []),
    5,
    /reserve fd00::2: EIO: disk on fire/,
  );
  assert.deepEqual(await inner.list(), []);
});

test('id-only reservations (old reference format) count as taken and as held by their container', async () => {
  const s = set({ subnet: '10.0.0.0/29' });
  const store = new MemoryIpamStore();
  store.seed({ ip: '10.0.0.2', containerId: 'legacy', ifname: undefined });
  assert.deepEqual(await one(store, [s], 'new'), ['10.0.0.3']);
  assert.deepEqual(await one(store, [s], 'legacy', 'eth7'), ['10.0.0.2'], 'the legacy holder gets its address back');
  await checkAttachment(store, [s], att('legacy', 'eth1'), []);
});

test('CHECK: every range set must hold an address, and the prevResult addresses must be ours', async () => {
  const sets = [set({ subnet: '10.0.0.0/24' }), set({ subnet: 'fd00::/64' })];
  const store = new MemoryIpamStore();
  await allocate(store, sets, att('c1'), []);
  await checkAttachment(store, sets, att('c1'), [parseIp('10.0.0.2'), parseIp('fd00::2'), parseIp('192.168.9.9')]);
  await rejects(checkAttachment(store, sets, att('c2'), []), 103, /c2\/eth0 holds no address in range set 0/);
  await rejects(
    checkAttachment(store, sets, att('c1'), [parseIp('10.0.0.7')]),
    103,
    /prevResult address 10\.0\.0\.7 is not reserved for c1\/eth0/,
  );
  await store.release('fd00::2');
  await rejects(checkAttachment(store, sets, att('c1'), []), 103, /range set 1/);
});

test('GC frees reservations not in the valid list, matching ifname too; id-only ones by container', async () => {
  const s = set({ subnet: '10.0.0.0/24' });
  const store = new MemoryIpamStore();
  for (const [id, ifname] of [
    ['keep', 'eth0'],
    ['keep', 'eth1'],
    ['gone', 'eth0'],
  ] as const)
    await one(store, [s], id, ifname);
  store.seed({ ip: '10.0.0.100', containerId: 'keep', ifname: undefined });
  store.seed({ ip: '10.0.0.101', containerId: 'old-gone', ifname: undefined });
  const freed = await collectGarbage(store, [att('keep', 'eth0')]);
  assert.deepEqual(freed.sort(), ['10.0.0.101', '10.0.0.3', '10.0.0.4']);
  assert.deepEqual((await store.list()).map((r) => r.ip).sort(), ['10.0.0.100', '10.0.0.2']);
  assert.deepEqual((await collectGarbage(store, [])).sort(), ['10.0.0.100', '10.0.0.2']);
});

test('freeCounts counts allocatable addresses minus reservations inside each set', () => {
  const sets = [set({ subnet: '10.0.0.0/29' }), set({ subnet: 'fd00::/64' })];
  const res = [
    { ip: '10.0.0.2', containerId: 'a', ifname: 'eth0' },
    { ip: '10.0.0.1', containerId: 'stray-gateway', ifname: 'eth0' },
    { ip: '172.16.0.1', containerId: 'elsewhere', ifname: 'eth0' },
  ];
  assert.deepEqual(freeCounts(sets, res), [4n, (1n << 64n) - 2n]);
});

/** The reference's walk, candidate by candidate, as the oracle for nextFree. */
function naiveNext(s: IpRange[], after: IpAddress | undefined, taken: Set<bigint>): bigint | undefined {
  const all = s.flatMap((r) =>
    Array.from({ length: Number(r.end.value - r.start.value + 1n) }, (_, i) => ({ r, v: r.start.value + BigInt(i) })),
  );
  const at = after ? all.findIndex((c) => c.v === after.value) : -1;
  const gws = gatewaysOf([s]);
  for (let k = 0; k < all.length; k++) {
    const c = all[(at + 1 + k) % all.length]!;
    if (isAllocatable(c.r, { family: 4, value: c.v }, gws) && !taken.has(c.v)) return c.v;
  }
  return undefined;
}

test('property: nextFree agrees with a naive candidate-by-candidate walk', () => {
  const s = set(
    { subnet: '10.0.0.0/28', rangeStart: '10.0.0.3', rangeEnd: '10.0.0.9' },
    { subnet: '10.0.1.0/29', rangeStart: '10.0.1.0', rangeEnd: '10.0.1.7' },
  );
  const candidates = [...Array(16).keys()]
    .map((i) => 0x0a000000n + BigInt(i))
    .concat([...Array(8).keys()].map((i) => 0x0a000100n + BigInt(i)));
  fc.assert(
    fc.property(
      fc.subarray(candidates),
      fc.option(fc.constantFrom(...candidates), { nil: undefined }),
      (taken, after) => {
        const t = new Set(taken);
        const afterIp = after === undefined ? undefined : { family: 4 as const, value: after };
        const got = nextFree(s, afterIp, gatewaysOf([s]), (ip) => t.has(ip.value));
        assert.equal(got?.ip.value, naiveNext(s, afterIp, t));
      },
    ),
    { numRuns: 500 },
  );
});

for (const [label, spec] of [
  ['IPv4', { subnet: '10.9.0.0/28', gateway: '10.9.0.7' }],
  ['IPv6', { subnet: 'fd00:9::/124' }],
] as const) {
  test(`property (${label}): random ADD/DEL sequences never give one address to two attachments`, async () => {
    const s = set(spec);
    const capacity = Number(freeCounts([s], [])[0]);
    const op = fc.record({
      del: fc.boolean(),
      id: fc.integer({ min: 0, max: 24 }),
      ifname: fc.constantFrom('eth0', 'eth1'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 80 }), async (ops) => {
        const store = new MemoryIpamStore();
        const model = new Map<string, string>();
        for (const o of ops) {
          const who = `c${o.id}/${o.ifname}`;
          if (o.del) {
            await store.releaseById(`c${o.id}`, o.ifname);
            model.delete(who);
            continue;
          }
          try {
            const [a] = await allocate(store, [s], att(`c${o.id}`, o.ifname), []);
            const r = s[0]!;
            assert.ok(cidrContains(r.subnet, a!.ip) && !sameIp(a!.ip, r.gateway) && !sameIp(a!.ip, firstIp(r.subnet)));
            if (label === 'IPv4') assert.ok(!sameIp(a!.ip, lastIp(r.subnet)), 'never the broadcast');
            const text = formatIp(a!.ip);
            for (const [other, ip] of model)
              assert.ok(other === who || ip !== text, `${text} given to ${who} and ${other}`);
            if (model.has(who)) assert.equal(model.get(who), text, 'idempotent');
            model.set(who, text);
          } catch (err) {
            assert.ok(err instanceof CniError && err.code === 100, String(err));
            assert.equal(model.size, capacity, 'exhausted only when every address is held');
          }
        }
        assert.equal((await store.list()).length, model.size);
      }),
      { numRuns: 200 },
    );
  });
}
