import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  cidrContains,
  cidrsOverlap,
  formatCidr,
  formatIp,
  lastIp,
  parseCidr,
  parseIp,
  tryParseCidr,
  tryParseIp,
} from './ip.js';

test('formatIp matches Go net.IP.String for IPv6 (RFC 5952)', () => {
  const cases: Array<[string, string]> = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fd00:10:244::', 'fd00:10:244::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['FE80::A', 'fe80::a'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
  ];
  for (const [input, want] of cases) assert.equal(formatIp(parseIp(input)), want, input);
});

test('invalid addresses and CIDRs are rejected', () => {
  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1::2::3',
    'gggg::',
    '1:2:3:4:5:6:7:8:9',
    'abc',
  ]) {
    assert.equal(tryParseIp(bad), undefined, bad);
  }
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/-1', 'fd00::/129', '10.0.0.0/ 8', 'x/8']) {
    assert.equal(tryParseCidr(bad), undefined, bad);
  }
});

test('network math', () => {
  assert.equal(formatCidr(parseCidr('10.244.3.7/16')), '10.244.0.0/16');
  assert.equal(formatIp(lastIp(parseCidr('10.244.0.0/24'))), '10.244.0.255');
  assert.equal(cidrContains(parseCidr('10.244.0.0/16'), parseIp('10.244.9.9')), true);
  assert.equal(cidrContains(parseCidr('10.244.0.0/16'), parseIp('10.245.0.1')), false);
  assert.equal(cidrContains(parseCidr('fd00::/64'), parseIp('10.0.0.1')), false);
  assert.equal(cidrsOverlap(parseCidr('10.0.0.0/8'), parseCidr('10.1.0.0/16')), true);
  assert.equal(cidrsOverlap(parseCidr('10.0.0.0/16'), parseCidr('10.1.0.0/16')), false);
});

test('property: IPv4 and IPv6 text round-trips through parse and format', () => {
  fc.assert(fc.property(fc.ipV4(), (text) => formatIp(parseIp(text)) === text));
  fc.assert(
    fc.property(fc.ipV6(), (text) => {
      const once = formatIp(parseIp(text));
      return formatIp(parseIp(once)) === once && parseIp(once).value === parseIp(text).value;
    }),
  );
});
