import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIp } from '../net/ip.js';
import {
  canonicalIp,
  dashedIp,
  inZone,
  ipOfDashed,
  ipOfReverseName,
  labelsBelow,
  normalizeName,
  reverseName,
} from './dns-names.js';

test('normal form, zones and labels', () => {
  const cases: Array<[string, () => unknown, unknown]> = [
    ['trailing dot and case', () => normalizeName('Web.X.svc.Cluster.Local.'), 'web.x.svc.cluster.local'],
    ['in zone', () => inZone('web.x.svc.cluster.local', 'cluster.local'), true],
    ['apex is in zone', () => inZone('cluster.local', 'cluster.local'), true],
    ['suffix without a dot is not', () => inZone('xcluster.local', 'cluster.local'), false],
    ['labels below', () => labelsBelow('web.x.svc.cluster.local', 'cluster.local'), ['web', 'x', 'svc']],
    ['labels below the apex', () => labelsBelow('cluster.local', 'cluster.local'), []],
    ['dashed IPv4', () => dashedIp('10.244.1.5'), '10-244-1-5'],
    ['dashed IPv6', () => dashedIp('fd00::5'), 'fd00--5'],
    ['pod label IPv4', () => ipOfDashed('10-244-1-5'), '10.244.1.5'],
    ['pod label IPv6', () => ipOfDashed('fd00--5'), 'fd00::5'],
    ['pod label not an address', () => ipOfDashed('web-0'), undefined],
    ['pod label with an octet too large', () => ipOfDashed('10-244-1-256'), undefined],
    ['reverse IPv4', () => reverseName('10.96.0.10'), '10.0.96.10.in-addr.arpa'],
    ['reverse back', () => ipOfReverseName('10.0.96.10.in-addr.arpa'), '10.96.0.10'],
    ['partial reverse name', () => ipOfReverseName('96.10.in-addr.arpa'), undefined],
    ['reverse with leading zero', () => ipOfReverseName('010.0.96.10.in-addr.arpa'), undefined],
    ['reverse IPv6', () => reverseName('fd00::1'), `1.${'0.'.repeat(27)}0.0.d.f.ip6.arpa`],
    ['canonical IPv6', () => canonicalIp('FD00:0:0::1'), 'fd00::1'],
  ];
  for (const [name, run, want] of cases) assert.deepEqual(run(), want, name);
});

const anyIp = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((value) => formatIp({ family: 4, value })),
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((value) => formatIp({ family: 6, value })),
);

test('every address survives its reverse name', () => {
  fc.assert(fc.property(anyIp, (ip) => ipOfReverseName(reverseName(ip)!) === ip));
});

test('every IPv4 address, and every IPv6 address CoreDNS can tell apart from IPv4, survives its dashed label', () => {
  fc.assert(
    fc.property(anyIp, (ip) => {
      const label = dashedIp(ip);
      // An IPv6 text with exactly three colons and no "::" reads back as IPv4 in CoreDNS's parser too.
      fc.pre(ip.includes('.') || label.split('-').length - 1 !== 3 || label.includes('--'));
      return ipOfDashed(label) === ip;
    }),
  );
});
