import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cacheTtl, ResponseCache, type CacheableAnswer, type CacheLimits } from './response-cache.js';

const soa = (ttl: number, minimum: number) => ({ type: 'SOA', ttl, data: { minimum } });
const a = (ttl: number) => ({ type: 'A', ttl });

test('cache lifetimes: positive by the smallest TTL, negative by the SOA, the rest not at all', () => {
  const cases: Array<[string, CacheableAnswer, number | undefined]> = [
    ['positive', { rcode: 'NOERROR', truncated: false, answers: [a(300), a(60)], authorities: [] }, 60],
    ['positive capped at an hour', { rcode: 'NOERROR', truncated: false, answers: [a(86400)], authorities: [] }, 3600],
    ['TTL 0 is not cached', { rcode: 'NOERROR', truncated: false, answers: [a(0)], authorities: [] }, undefined],
    ['NXDOMAIN by SOA minimum', { rcode: 'NXDOMAIN', truncated: false, answers: [], authorities: [soa(900, 30)] }, 30],
    ['NODATA by SOA TTL', { rcode: 'NOERROR', truncated: false, answers: [], authorities: [soa(10, 600)] }, 10],
    ['negative without SOA', { rcode: 'NXDOMAIN', truncated: false, answers: [], authorities: [] }, undefined],
    ['SERVFAIL', { rcode: 'SERVFAIL', truncated: false, answers: [], authorities: [soa(60, 60)] }, undefined],
    ['truncated', { rcode: 'NOERROR', truncated: true, answers: [a(60)], authorities: [] }, undefined],
  ];
  for (const [name, answer, want] of cases) assert.equal(cacheTtl(answer), want, name);
});

test('entries expire after their TTL and report their age', () => {
  const c = new ResponseCache<string>();
  c.set('k', 'v', 10, 100, 1_000);
  assert.deepEqual(c.get('k', 5_500), { value: 'v', ageSeconds: 4 });
  assert.equal(c.get('k', 11_000), undefined);
  assert.equal(c.size, 0);
  assert.equal(c.bytes, 0);
});

test('the least recently used entry goes first', () => {
  const c = new ResponseCache<number>({ maxEntries: 2, maxBytes: 1000, maxTtl: 3600, maxNegativeTtl: 1800 });
  c.set('a', 1, 60, 1, 0);
  c.set('b', 2, 60, 1, 0);
  c.get('a', 1);
  c.set('c', 3, 60, 1, 2);
  assert.equal(c.get('b', 3), undefined);
  assert.equal(c.get('a', 3)?.value, 1);
  assert.equal(c.get('c', 3)?.value, 3);
});

test('whatever is stored, the cache stays within its entry and byte limits', () => {
  const limits: CacheLimits = { maxEntries: 20, maxBytes: 2000, maxTtl: 3600, maxNegativeTtl: 1800 };
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ key: fc.string({ maxLength: 3 }), ttl: fc.integer({ min: -5, max: 100 }), bytes: fc.nat(3000) }),
        { maxLength: 200 },
      ),
      (sets) => {
        const c = new ResponseCache<number>(limits);
        let now = 0;
        let bytes = 0;
        for (const s of sets) {
          c.set(s.key, s.bytes, s.ttl, s.bytes, now++);
          assert.ok(c.size <= limits.maxEntries);
          assert.ok(c.bytes <= limits.maxBytes);
        }
        for (const s of new Set(sets.map((x) => x.key))) bytes += c.get(s, now)?.value ?? 0;
        assert.ok(bytes <= c.bytes);
      },
    ),
  );
});
