// Unit tests of range canonicalisation: the reference's defaults and weft's validation, for IPv4
// and IPv6, table-driven.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr, formatIp, parseIp } from '../net/ip.js';
import {
  allocatableCount,
  canonicalizeRange,
  canonicalizeRangeSet,
  isAllocatable,
  RangeConfigError,
  requireDisjointSets,
  type RangeSpec,
} from './range.js';

const F = 'ipam.ranges[0][0]';

test('canonicalizeRange fills in the reference defaults', () => {
  const cases: Array<{ name: string; spec: RangeSpec; want: [string, string, string, string] }> = [
    {
      name: 'IPv4 /24 defaults',
      spec: { subnet: '10.244.1.0/24' },
      want: ['10.244.1.0/24', '10.244.1.1', '10.244.1.254', '10.244.1.1'],
    },
    {
      name: 'IPv4 /30 is the smallest',
      spec: { subnet: '10.0.0.0/30' },
      want: ['10.0.0.0/30', '10.0.0.1', '10.0.0.2', '10.0.0.1'],
    },
    {
      name: 'IPv6 /64: last address included',
      spec: { subnet: 'fd00:10:244:1::/64' },
      want: ['fd00:10:244:1::/64', 'fd00:10:244:1::1', 'fd00:10:244:1:ffff:ffff:ffff:ffff', 'fd00:10:244:1::1'],
    },
    { name: 'IPv6 /126', spec: { subnet: 'fd00::/126' }, want: ['fd00::/126', 'fd00::1', 'fd00::3', 'fd00::1'] },
    {
      name: 'explicit start, end and gateway',
      spec: {
        subnet: '192.168.0.0/16',
        rangeStart: '192.168.10.0',
        rangeEnd: '192.168.10.255',
        gateway: '192.168.0.254',
      },
      want: ['192.168.0.0/16', '192.168.10.0', '192.168.10.255', '192.168.0.254'],
    },
    {
      name: 'non-canonical IPv6 text is canonicalised',
      spec: { subnet: 'FD00:0:0::/120', gateway: 'fd00::00fe' },
      want: ['fd00::/120', 'fd00::1', 'fd00::ff', 'fd00::fe'],
    },
  ];
  for (const c of cases) {
    const r = canonicalizeRange(c.spec, F);
    assert.deepEqual([formatCidr(r.subnet), formatIp(r.start), formatIp(r.end), formatIp(r.gateway)], c.want, c.name);
  }
});

test('canonicalizeRange rejects bad ranges, naming the field', () => {
  const cases: Array<{ name: string; spec: RangeSpec; field: string; reason: RegExp }> = [
    {
      name: 'prefix too long',
      spec: { subnet: '10.0.0.0/33' },
      field: `${F}.subnet`,
      reason: /invalid CIDR "10\.0\.0\.0\/33"/,
    },
    { name: 'not a CIDR', spec: { subnet: '10.0.0.0' }, field: `${F}.subnet`, reason: /invalid CIDR/ },
    { name: '/31 too small', spec: { subnet: '10.0.0.0/31' }, field: `${F}.subnet`, reason: /too small/ },
    { name: '/32 too small', spec: { subnet: '10.0.0.1/32' }, field: `${F}.subnet`, reason: /too small/ },
    { name: '/127 too small', spec: { subnet: 'fd00::/127' }, field: `${F}.subnet`, reason: /too small/ },
    {
      name: 'host bits set',
      spec: { subnet: '10.0.0.1/24' },
      field: `${F}.subnet`,
      reason: /host bits set; the network address is 10\.0\.0\.0\/24/,
    },
    {
      name: 'gateway outside',
      spec: { subnet: '10.0.0.0/24', gateway: '10.1.0.1' },
      field: `${F}.gateway`,
      reason: /not in subnet 10\.0\.0\.0\/24/,
    },
    {
      name: 'gateway other family',
      spec: { subnet: '10.0.0.0/24', gateway: 'fd00::1' },
      field: `${F}.gateway`,
      reason: /same family/,
    },
    {
      name: 'rangeStart outside',
      spec: { subnet: '10.0.0.0/24', rangeStart: '10.0.1.1' },
      field: `${F}.rangeStart`,
      reason: /not in subnet/,
    },
    {
      name: 'rangeEnd outside',
      spec: { subnet: 'fd00::/64', rangeEnd: 'fd01::1' },
      field: `${F}.rangeEnd`,
      reason: /not in subnet/,
    },
    {
      name: 'rangeStart junk',
      spec: { subnet: '10.0.0.0/24', rangeStart: '10.0.0.x' },
      field: `${F}.rangeStart`,
      reason: /invalid IP address/,
    },
    {
      name: 'start after end',
      spec: { subnet: '10.0.0.0/24', rangeStart: '10.0.0.50', rangeEnd: '10.0.0.20' },
      field: `${F}.rangeStart`,
      reason: /after rangeEnd/,
    },
    {
      name: 'start after default end (broadcast)',
      spec: { subnet: '10.0.0.0/24', rangeStart: '10.0.0.255' },
      field: `${F}.rangeStart`,
      reason: /after rangeEnd 10\.0\.0\.254/,
    },
    {
      name: 'only the gateway',
      spec: { subnet: '10.0.0.0/24', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.1' },
      field: F,
      reason: /no allocatable address/,
    },
    {
      name: 'only network address',
      spec: { subnet: '10.0.0.0/24', rangeStart: '10.0.0.0', rangeEnd: '10.0.0.0' },
      field: F,
      reason: /no allocatable address/,
    },
  ];
  for (const c of cases) {
    assert.throws(
      () => canonicalizeRange(c.spec, F),
      (err: unknown) => err instanceof RangeConfigError && err.field === c.field && c.reason.test(err.reason),
      c.name,
    );
  }
});

test('network, IPv4 broadcast and gateways are never allocatable, even inside the interval', () => {
  const r = canonicalizeRange({ subnet: '10.0.0.0/29', rangeStart: '10.0.0.0', rangeEnd: '10.0.0.7' }, F);
  const gw = [r.gateway];
  const allocatable = [0, 1, 2, 3, 4, 5, 6, 7].filter((i) => isAllocatable(r, parseIp(`10.0.0.${i}`), gw));
  assert.deepEqual(allocatable, [2, 3, 4, 5, 6]);
  assert.equal(allocatableCount(r, gw), 5n);
  const v6 = canonicalizeRange({ subnet: 'fd00::/125', rangeStart: 'fd00::' }, F);
  assert.equal(
    allocatableCount(v6, [v6.gateway]),
    6n,
    'IPv6: ::0 and the gateway ::1 are skipped, the last address is not',
  );
  assert.equal(isAllocatable(v6, parseIp('fd00::7'), [v6.gateway]), true);
});

test('range sets: one family, no overlap; sets disjoint from each other', () => {
  const fieldOf = (i: number) => `ipam.ranges[0][${i}]`;
  const ok = canonicalizeRangeSet(
    [
      { subnet: '10.0.0.0/24', rangeEnd: '10.0.0.100' },
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.101' },
      { subnet: '10.1.0.0/24' },
    ],
    'ipam.ranges[0]',
    fieldOf,
  );
  assert.equal(ok.length, 3);
  const bad: Array<[string, RangeSpec[], string, RegExp]> = [
    ['empty', [], 'ipam.ranges[0]', /empty range set/],
    [
      'mixed families',
      [{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }],
      fieldOf(1),
      /mixes IPv6 into an IPv4 range set/,
    ],
    ['overlap', [{ subnet: '10.0.0.0/24' }, { subnet: '10.0.0.0/25' }], fieldOf(1), /overlaps/],
  ];
  for (const [name, specs, field, reason] of bad) {
    assert.throws(
      () => canonicalizeRangeSet(specs, 'ipam.ranges[0]', fieldOf),
      (err: unknown) => err instanceof RangeConfigError && err.field === field && reason.test(err.reason),
      name,
    );
  }
  const a = canonicalizeRangeSet([{ subnet: '10.0.0.0/24' }], 's0', fieldOf);
  const b = canonicalizeRangeSet([{ subnet: '10.0.0.128/25' }], 's1', fieldOf);
  const c = canonicalizeRangeSet([{ subnet: 'fd00::/64' }], 's2', fieldOf);
  assert.throws(
    () => requireDisjointSets([a, c, b], (i) => `ipam.ranges[${i}]`),
    /ipam\.ranges\[2\]: range set 2 .* overlaps range set 0/,
  );
  assert.doesNotThrow(() => requireDisjointSets([a, c], (i) => `ipam.ranges[${i}]`));
});
