import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { convertResult, parseResult, type CniResult } from './result.js';
import { SUPPORTED_VERSIONS } from './version.js';
import { CniError } from './errors.js';

const full: CniResult = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '0a:58:0a:f4:00:01', mtu: 1450 },
    { name: 'veth1234abcd', mac: '0a:58:0a:f4:00:02', mtu: 1450 },
    {
      name: 'eth0',
      mac: '0a:58:0a:f4:00:05',
      mtu: 1450,
      sandbox: '/var/run/netns/p1',
      socketPath: '/s',
      pciID: '0000:00:01.0',
    },
  ],
  ips: [
    { address: '10.244.0.5/24', gateway: '10.244.0.1', interface: 2 },
    { address: 'fd00:10:244::5/64', gateway: 'fd00:10:244::1', interface: 2 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.0.1', mtu: 1400, priority: 10, table: 100, scope: 0, advmss: 1360 }],
  dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
};

const cases: Array<{ version: (typeof SUPPORTED_VERSIONS)[number]; ipVersion: boolean; v11Fields: boolean }> = [
  { version: '0.3.0', ipVersion: true, v11Fields: false },
  { version: '0.3.1', ipVersion: true, v11Fields: false },
  { version: '0.4.0', ipVersion: true, v11Fields: false },
  { version: '1.0.0', ipVersion: false, v11Fields: false },
  { version: '1.1.0', ipVersion: false, v11Fields: true },
];

for (const c of cases) {
  test(`convertResult to ${c.version} has that version's shape`, () => {
    const out = convertResult(full, c.version) as {
      cniVersion: string;
      ips: Array<Record<string, unknown>>;
      interfaces: Array<Record<string, unknown>>;
      routes: Array<Record<string, unknown>>;
      dns: Record<string, unknown>;
    };
    assert.equal(out.cniVersion, c.version);
    assert.deepEqual(
      out.ips.map((ip) => ip.version),
      c.ipVersion ? ['4', '6'] : [undefined, undefined],
    );
    assert.equal(out.interfaces[2]?.sandbox, '/var/run/netns/p1');
    assert.equal('mtu' in out.interfaces[0]!, c.v11Fields);
    assert.equal('socketPath' in out.interfaces[2]!, c.v11Fields);
    assert.equal('pciID' in out.interfaces[2]!, c.v11Fields);
    assert.equal('priority' in out.routes[0]!, c.v11Fields);
    assert.equal('table' in out.routes[0]!, c.v11Fields);
    assert.deepEqual(out.dns, { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] });
    // Everything converts back to the same core facts.
    const back = parseResult(out);
    assert.deepEqual(back.ips, full.ips);
  });
}

test('parseResult accepts a 0.3.1 result with ip versions and rejects bad fields with their path', () => {
  const ok = parseResult({
    cniVersion: '0.3.1',
    ips: [{ version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }],
  });
  assert.deepEqual(ok.ips, [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }]);
  const bad: Array<[unknown, RegExp]> = [
    [{ cniVersion: '9.9.9' }, /unsupported cniVersion "9.9.9"/],
    [{ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2' }] }, /ips\[0\]\.address: must be an address in CIDR form/],
    [{ cniVersion: '1.0.0', routes: [{ dst: 'nope' }] }, /routes\[0\]\.dst: must be a CIDR/],
    [{ cniVersion: '1.0.0', interfaces: [{}] }, /interfaces\[0\]\.name: missing/],
    ['x', /must be an object/],
  ];
  for (const [input, re] of bad)
    assert.throws(
      () => parseResult(input),
      (e: unknown) => e instanceof CniError && re.test(e.message),
    );
});

test('property: converting to any version and parsing back keeps addresses, gateways and routes', () => {
  const ipv4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`);
  fc.assert(
    fc.property(
      fc.array(fc.record({ address: ipv4, gateway: fc.ipV4() }), { maxLength: 4 }),
      fc.constantFrom(...SUPPORTED_VERSIONS),
      (ips, version) => {
        const r: CniResult = { cniVersion: '1.1.0', ips };
        const back = parseResult(convertResult(r, version));
        return JSON.stringify(back.ips ?? []) === JSON.stringify(ips);
      },
    ),
  );
});
