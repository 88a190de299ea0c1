import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cidrsOverlap, parseCidr } from '../net/ip.js';
import { resolveLeases, type LeaseView } from './lease-conflicts.js';

const own: LeaseView = { subnet: '10.244.1.0/24', publicIp: '10.99.0.1', nodeName: 'n1' };
const n2: LeaseView = { subnet: '10.244.2.0/24', publicIp: '10.99.0.2', nodeName: 'n2' };
const n3: LeaseView = { subnet: '10.244.3.0/24', publicIp: '10.99.0.3', nodeName: 'n3' };

test('lease conflicts: no conflict, everything is used and remembered', () => {
  const r = resolveLeases(own, [n3, n2], new Map());
  assert.deepEqual(r.use, [n2, n3]);
  assert.deepEqual(r.conflicts, []);
  assert.deepEqual([...r.lastGood.keys()].sort(), [n2.subnet, n3.subnet]);
});

test("lease conflicts: a new lease with a known peer's address is ignored, naming both nodes", () => {
  const good = resolveLeases(own, [n2, n3], new Map()).lastGood;
  const forged = { subnet: '10.244.9.0/24', publicIp: n3.publicIp, nodeName: 'evil' };
  const r = resolveLeases(own, [n2, n3, forged], good);
  assert.deepEqual(r.use, [n2, n3]);
  assert.equal(r.conflicts.length, 1);
  assert.match(
    r.conflicts[0]!,
    /node evil \(10\.244\.9\.0\/24 at 10\.99\.0\.3\).*claims the address 10\.99\.0\.3 of node n3.*ignored/,
  );
});

test("lease conflicts: a known lease rewritten to another node's address keeps its last good value", () => {
  const good = resolveLeases(own, [n2, n3], new Map()).lastGood;
  const rewritten = { ...n2, publicIp: n3.publicIp };
  const r = resolveLeases(own, [rewritten, n3], good);
  assert.deepEqual(r.use, [n3, n2], 'n2 is still routed at its own address');
  assert.match(r.conflicts[0]!, /node n2 .* claims the address 10\.99\.0\.3 of node n3.*last good value, 10\.99\.0\.2/);
  // Once the rewrite is undone, the conflict is gone.
  assert.deepEqual(resolveLeases(own, [n2, n3], r.lastGood).conflicts, []);
});

test("lease conflicts: leases claiming this node's address or overlapping its subnet are ignored", () => {
  const r = resolveLeases(
    own,
    [
      { subnet: '10.244.7.0/24', publicIp: own.publicIp, nodeName: 'x' },
      { subnet: '10.244.1.128/25', publicIp: '10.99.0.8', nodeName: 'y' },
    ],
    new Map(),
  );
  assert.deepEqual(r.use, []);
  assert.equal(r.conflicts.length, 2);
  assert.ok(r.conflicts.every((c) => /node n1 .*this node.*ignored/.test(c)));
});

test('lease conflicts (property): what is used never shares an address or overlaps, with itself or this node', () => {
  const lease = fc.record({
    subnet: fc
      .integer({ min: 0, max: 15 })
      .chain((i) => fc.constantFrom(`10.244.${i}.0/24`, `10.244.${i}.0/25`, `10.244.${i & 14}.0/23`)),
    publicIp: fc.integer({ min: 1, max: 6 }).map((i) => `10.99.0.${i}`),
    nodeName: fc.constantFrom('a', 'b', 'c'),
  });
  fc.assert(
    fc.property(fc.array(lease, { maxLength: 8 }), fc.array(lease, { maxLength: 8 }), (before, now) => {
      const first = resolveLeases(own, before, new Map());
      const r = resolveLeases(own, now, first.lastGood);
      const all = [own, ...r.use];
      for (let i = 0; i < all.length; i++)
        for (let j = i + 1; j < all.length; j++) {
          assert.notEqual(all[i]!.publicIp, all[j]!.publicIp);
          assert.ok(!cidrsOverlap(parseCidr(all[i]!.subnet), parseCidr(all[j]!.subnet)));
        }
      // Every lease is either used (as itself or at its last good value) or reported.
      assert.equal(
        r.use.length + r.conflicts.length - r.conflicts.filter((c) => /last good/.test(c)).length,
        now.length,
      );
    }),
  );
});
