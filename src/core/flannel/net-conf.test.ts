import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NetConfError, parseNetConf } from './net-conf.js';
import { pickSubnet, SubnetsExhaustedError } from './subnet-pick.js';
import { cidrContains, parseCidr } from '../net/ip.js';

test('Flannel defaults', () => {
  assert.deepEqual(parseNetConf('{"Network":"10.244.0.0/16"}'), {
    network: '10.244.0.0/16',
    subnetLen: 24,
    subnetMin: '10.244.1.0/24',
    subnetMax: '10.244.255.0/24',
    backend: { type: 'vxlan', vni: 1, port: 8472, directRouting: false },
  });
  const hostgw = parseNetConf(
    '{"Network":"10.1.0.0/16","SubnetLen":26,"SubnetMin":"10.1.0.64","SubnetMax":"10.1.3.192","Backend":{"Type":"host-gw"}}',
  );
  assert.equal(hostgw.backend.type, 'host-gw');
  assert.equal(hostgw.subnetMin, '10.1.0.64/26');
  assert.equal(hostgw.subnetMax, '10.1.3.192/26');
  assert.equal(
    parseNetConf(
      '{"Network":"10.0.0.0/8","Backend":{"Type":"vxlan","VNI":4096,"Port":4789,"DirectRouting":true,"MTU":1400}}',
    ).backend.mtu,
    1400,
  );
});

test('bgp: defaults (AS 64512, mesh) and router peering with one or several router addresses', () => {
  const backendOf = (b: string) => parseNetConf(`{"Network":"10.244.0.0/16","Backend":${b}}`).backend;
  assert.deepEqual(backendOf('{"Type":"bgp"}').bgp, {
    asNumber: 64512,
    peering: 'mesh',
    routerAsNumber: 64512,
    routerAddresses: [],
  });
  assert.deepEqual(
    backendOf('{"Type":"bgp","ASNumber":4200000000,"Peering":"router","RouterAddress":"10.99.0.253"}').bgp,
    {
      asNumber: 4200000000,
      peering: 'router',
      routerAsNumber: 4200000000,
      routerAddresses: ['10.99.0.253'],
    },
  );
  assert.deepEqual(
    backendOf('{"Type":"bgp","Peering":"router","RouterASNumber":65001,"RouterAddress":["10.99.0.253","10.99.1.253"]}')
      .bgp,
    { asNumber: 64512, peering: 'router', routerAsNumber: 65001, routerAddresses: ['10.99.0.253', '10.99.1.253'] },
  );
  assert.equal(backendOf('{"Type":"vxlan"}').bgp, undefined);
});

test("udp: Flannel's port 8285 unless Port says otherwise", () => {
  assert.deepEqual(parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}').backend, {
    type: 'udp',
    vni: 1,
    port: 8285,
    directRouting: false,
  });
  assert.equal(parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"udp","Port":9000}}').backend.port, 9000);
  assert.equal(parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}').backend.port, 8472);
});

test('default SubnetLen as Flannel: /24 up to a /22 network, then a quarter of the network; the first subnet is skipped', () => {
  const cases: Array<[string, number, string, string]> = [
    ['10.0.0.0/8', 24, '10.0.1.0/24', '10.255.255.0/24'],
    ['10.1.0.0/22', 24, '10.1.1.0/24', '10.1.3.0/24'],
    ['10.1.0.0/23', 25, '10.1.0.128/25', '10.1.1.128/25'],
    ['10.1.0.0/24', 26, '10.1.0.64/26', '10.1.0.192/26'],
    ['10.1.0.0/28', 30, '10.1.0.4/30', '10.1.0.12/30'],
  ];
  for (const [network, len, min, max] of cases) {
    const c = parseNetConf(JSON.stringify({ Network: network }));
    assert.deepEqual([c.subnetLen, c.subnetMin, c.subnetMax], [len, min, max], network);
  }
  // An explicit SubnetLen of prefix + 2 is the smallest Flannel accepts.
  assert.equal(parseNetConf('{"Network":"10.1.0.0/24","SubnetLen":26}').subnetLen, 26);
});

const bad: Array<[string, string, RegExp]> = [
  ['bad CIDR', '{"Network":"10.244.0.0/33"}', /net-conf: Network: invalid CIDR "10\.244\.0\.0\/33"/],
  ['missing Network', '{}', /net-conf: Network: is required/],
  [
    'SubnetLen too small',
    '{"Network":"10.244.0.0/16","SubnetLen":8}',
    /net-conf: SubnetLen: 8 is too small for Network 10\.244\.0\.0\/16/,
  ],
  ['SubnetLen too long', '{"Network":"10.244.0.0/16","SubnetLen":31}', /net-conf: SubnetLen: 31 leaves no room/],
  [
    'SubnetLen giving only two subnets (Flannel wants four)',
    '{"Network":"10.244.0.0/16","SubnetLen":17}',
    /net-conf: SubnetLen: 17 is too small for Network 10\.244\.0\.0\/16: the network must hold at least four subnets, so SubnetLen must be at least 18/,
  ],
  [
    'a network smaller than a /28 without SubnetLen',
    '{"Network":"10.1.0.0/29"}',
    /net-conf: Network: 10\.1\.0\.0\/29 is too small: the smallest useful network is a \/28/,
  ],
  [
    'unknown backend',
    '{"Network":"10.244.0.0/16","Backend":{"Type":"ipip"}}',
    /net-conf: Backend\.Type: must be "vxlan", "host-gw", "udp" or "bgp"/,
  ],
  [
    'udp port out of range',
    '{"Network":"10.244.0.0/16","Backend":{"Type":"udp","Port":65536}}',
    /net-conf: Backend\.Port: must be between 1 and 65535/,
  ],
  [
    'udp port not an integer',
    '{"Network":"10.244.0.0/16","Backend":{"Type":"udp","Port":"8285"}}',
    /net-conf: Backend\.Port: Expected number, received string/,
  ],
  [
    'udp with a VNI',
    '{"Network":"10.244.0.0/16","Backend":{"Type":"udp","VNI":1}}',
    /net-conf: Backend\.VNI: only applies to the vxlan backend, not udp/,
  ],
  [
    'udp with DirectRouting',
    '{"Network":"10.244.0.0/16","Backend":{"Type":"udp","DirectRouting":false}}',
    /net-conf: Backend\.DirectRouting: only applies to the vxlan backend, not udp/,
  ],
  [
    'udp with an MTU',
    '{"Network":"10.244.0.0/16","Backend":{"Type":"udp","MTU":1400}}',
    /net-conf: Backend\.MTU: only applies to the vxlan backend: udp's device MTU is the underlay's minus 28/,
  ],
  [
    'VNI out of range',
    '{"Network":"10.244.0.0/16","Backend":{"VNI":99999999}}',
    /net-conf: Backend\.VNI: must be between 0 and 16777215/,
  ],
  [
    'bad port',
    '{"Network":"10.244.0.0/16","Backend":{"Port":0}}',
    /net-conf: Backend\.Port: must be between 1 and 65535/,
  ],
  ['unknown field', '{"Network":"10.244.0.0/16","Netwrok":"x"}', /net-conf: .*Unrecognized key.*Netwrok/],
  [
    'unknown backend field',
    '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNl":2}}',
    /net-conf: Backend: Unrecognized key.*VNl/,
  ],
  [
    'SubnetMin outside',
    '{"Network":"10.244.0.0/16","SubnetMin":"10.245.0.0"}',
    /net-conf: SubnetMin: 10\.245\.0\.0 is not inside Network/,
  ],
  [
    'SubnetMax unaligned',
    '{"Network":"10.244.0.0/16","SubnetMax":"10.244.3.7"}',
    /net-conf: SubnetMax: 10\.244\.3\.7 is not the start of a \/24 subnet/,
  ],
  [
    'min after max',
    '{"Network":"10.244.0.0/16","SubnetMin":"10.244.9.0","SubnetMax":"10.244.3.0"}',
    /net-conf: SubnetMin: 10\.244\.9\.0 is after SubnetMax/,
  ],
  ['IPv6 network', '{"Network":"fd00::/48"}', /IPv4 cluster networks only/],
  ...(
    [
      ['bgp: ASNumber 0', '{"Type":"bgp","ASNumber":0}', /Backend\.ASNumber: 0 is outside 1\.\.4294967294/],
      ['bgp: ASNumber 65535', '{"Type":"bgp","ASNumber":65535}', /Backend\.ASNumber: 65535 is a reserved AS number/],
      ['bgp: ASNumber 2^32-1', '{"Type":"bgp","ASNumber":4294967295}', /Backend\.ASNumber: 4294967295 is outside/],
      ['bgp: ASNumber 2^32', '{"Type":"bgp","ASNumber":4294967296}', /Backend\.ASNumber: 4294967296 is outside/],
      ['bgp: ASNumber not an integer', '{"Type":"bgp","ASNumber":1.5}', /Backend\.ASNumber: must be an integer/],
      ['bgp: ASNumber a string', '{"Type":"bgp","ASNumber":"64512"}', /Backend\.ASNumber: Expected number/],
      ['bgp: unknown Peering', '{"Type":"bgp","Peering":"full"}', /Backend\.Peering: must be "mesh" or "router"/],
      [
        'bgp: router peering without RouterAddress',
        '{"Type":"bgp","Peering":"router"}',
        /Backend\.RouterAddress: is required with Backend\.Peering "router"/,
      ],
      [
        'bgp: RouterAddress not an address',
        '{"Type":"bgp","Peering":"router","RouterAddress":"10.99.0"}',
        /Backend\.RouterAddress: "10\.99\.0" is not an IPv4 address/,
      ],
      [
        'bgp: RouterAddress inside the pod network',
        '{"Type":"bgp","Peering":"router","RouterAddress":["10.99.0.253","10.244.0.1"]}',
        /Backend\.RouterAddress: 10\.244\.0\.1 is inside the pod network/,
      ],
      [
        'bgp: RouterASNumber reserved',
        '{"Type":"bgp","Peering":"router","RouterAddress":"10.99.0.253","RouterASNumber":0}',
        /Backend\.RouterASNumber: 0 is outside/,
      ],
      [
        'bgp: RouterAddress with mesh',
        '{"Type":"bgp","RouterAddress":"10.99.0.253"}',
        /Backend\.RouterAddress: only applies with Backend\.Peering "router"/,
      ],
      ['bgp: a VXLAN field', '{"Type":"bgp","VNI":2}', /Backend\.VNI: does not apply to the bgp backend/],
      [
        'bgp: DirectRouting',
        '{"Type":"bgp","DirectRouting":true}',
        /Backend\.DirectRouting: does not apply to the bgp backend/,
      ],
      ['vxlan: a bgp field', '{"Type":"vxlan","ASNumber":64512}', /Backend\.ASNumber: only applies to the bgp backend/],
      ['host-gw: Peering', '{"Type":"host-gw","Peering":"mesh"}', /Backend\.Peering: only applies to the bgp backend/],
      ['bgp: unknown field', '{"Type":"bgp","ASnumber":64512}', /Backend: Unrecognized key.*ASnumber/],
    ] as Array<[string, string, RegExp]>
  ).map(([name, backend, re]): [string, string, RegExp] => [
    name,
    `{"Network":"10.244.0.0/16","Backend":${backend}}`,
    re,
  ]),
  ['not JSON', '{"Network":', /net-conf: not valid JSON/],
];
for (const [name, text, re] of bad) {
  test(`rejects ${name}`, () =>
    assert.throws(
      () => parseNetConf(text),
      (e: unknown) => e instanceof NetConfError && re.test(e.message),
    ));
}

test('property: a picked subnet is inside Network and [SubnetMin, SubnetMax], aligned, and never leased', () => {
  const conf = parseNetConf('{"Network":"10.244.0.0/20","SubnetMin":"10.244.2.0","SubnetMax":"10.244.9.0"}');
  const all = Array.from({ length: 8 }, (_, i) => `10.244.${i + 2}.0/24`);
  fc.assert(
    fc.property(
      fc.subarray(all, { maxLength: 7 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (leased, r) => {
        const s = pickSubnet(conf, leased, () => r);
        const net = parseCidr(s);
        return (
          net.prefix === 24 &&
          cidrContains(parseCidr('10.244.0.0/20'), net.address) &&
          all.includes(s) &&
          !leased.includes(s)
        );
      },
    ),
  );
  assert.throws(
    () => pickSubnet(conf, all, () => 0),
    (e: unknown) =>
      e instanceof SubnetsExhaustedError &&
      /all 8 subnets of length \/24 in 10\.244\.0\.0\/20 between 10\.244\.2\.0\/24 and 10\.244\.9\.0\/24 are leased/.test(
        e.message,
      ),
  );
});
