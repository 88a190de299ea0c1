// Unit tests of the host-local config: the reference's config shapes accepted unchanged, errors
// as code 7 naming the field, requested addresses from all three sources, and the result shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CniError } from '../cni/errors.js';
import { formatCidr, formatIp, parseIp } from '../net/ip.js';
import { parseHostLocalConfig, parseHostLocalTarget, parseValidAttachments } from './host-local-config.js';
import { buildIpamResult, parseResolvConf } from './ipam-result.js';

const base = (ipam: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  cniVersion: '1.0.0',
  name: 'pods',
  type: 'bridge',
  ipam: { type: 'host-local', ...ipam },
  ...extra,
});

function code7(f: () => unknown, message: RegExp, name: string): void {
  assert.throws(f, (err: unknown) => err instanceof CniError && err.code === 7 && message.test(err.message), name);
}

test('accepts the reference config shapes', () => {
  const dual = parseHostLocalConfig(
    base({
      ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64', gateway: 'fd00:10:244:1::fe' }]],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00:10:244:1::fe' }],
      dataDir: '/run/x',
      resolvConf: '/etc/resolv.conf',
      someUnknownField: true,
    }),
    [],
  );
  assert.equal(dual.name, 'pods');
  assert.equal(dual.dataDir, '/run/x');
  assert.equal(dual.resolvConf, '/etc/resolv.conf');
  assert.deepEqual(
    dual.sets.map((s) => s.map((r) => formatCidr(r.subnet))),
    [['10.244.1.0/24'], ['fd00:10:244:1::/64']],
  );
  assert.deepEqual(dual.routes, [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00:10:244:1::fe' }]);
  assert.deepEqual(dual.requested, [undefined, undefined]);

  const legacy = parseHostLocalConfig(
    base({ subnet: '10.5.0.0/24', gateway: '10.5.0.254', ranges: [[{ subnet: '10.6.0.0/24' }]] }),
    [],
  );
  assert.deepEqual(
    legacy.sets.map((s) => formatCidr(s[0]!.subnet)),
    ['10.5.0.0/24', '10.6.0.0/24'],
    'top-level subnet is range set 0, as in the reference',
  );
  assert.equal(formatIp(legacy.sets[0]![0]!.gateway), '10.5.0.254');
  assert.equal(parseHostLocalConfig(base({ subnet: '10.5.0.0/24' }), []).dataDir, '/var/lib/cni/networks');
});

test('invalid configs are code 7 naming the field', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'bad CIDR',
      base({ ranges: [[{ subnet: '10.0.0.0/33' }]] }),
      /ipam\.ranges\[0\]\[0\]\.subnet: invalid CIDR "10\.0\.0\.0\/33"/,
    ],
    [
      'second set bad gateway',
      base({
        ranges: [
          [{ subnet: '10.0.0.0/24' }],
          [{ subnet: '10.1.0.0/24' }, { subnet: '10.2.0.0/24', gateway: '10.3.0.1' }],
        ],
      }),
      /ipam\.ranges\[1\]\[1\]\.gateway: 10\.3\.0\.1 is not in subnet/,
    ],
    ['legacy bad subnet', base({ subnet: 'nope' }), /ipam\.subnet: invalid CIDR "nope"/],
    [
      'rangeStart without subnet',
      base({ rangeStart: '10.0.0.5', ranges: [[{ subnet: '10.0.0.0/24' }]] }),
      /ipam\.rangeStart: set without ipam\.subnet/,
    ],
    ['no ranges', base({ ranges: [] }), /ipam\.ranges: no IP ranges specified/],
    ['no ipam ranges at all', base({}), /no IP ranges specified/],
    ['subnet missing', base({ ranges: [[{ rangeStart: '10.0.0.1' }]] }), /ipam\.ranges\[0\]\[0\]\.subnet: missing/],
    ['subnet not a string', base({ ranges: [[{ subnet: 24 }]] }), /ipam\.ranges\[0\]\[0\]\.subnet/],
    [
      'overlapping sets',
      base({ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/25' }]] }),
      /ipam\.ranges\[1\]: range set 1 .* overlaps range set 0/,
    ],
    [
      'mixed set',
      base({ ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]] }),
      /ipam\.ranges\[0\]\[1\]: mixes IPv6/,
    ],
    [
      'bad route',
      base({ ranges: [[{ subnet: '10.0.0.0/24' }]], routes: [{ dst: 'x' }] }),
      /ipam\.routes\[0\]\.dst: must be a CIDR/,
    ],
    [
      'no name',
      { cniVersion: '1.0.0', type: 'host-local', ipam: { type: 'host-local', subnet: '10.0.0.0/24' } },
      /name: missing/,
    ],
    [
      'name with slash',
      { ...base({ subnet: '10.0.0.0/24' }), name: '../etc' },
      /name: "\.\.\/etc" cannot be a directory name/,
    ],
    ['no ipam', { cniVersion: '1.0.0', name: 'n', type: 'host-local' }, /ipam/],
  ];
  for (const [name, config, message] of cases) code7(() => parseHostLocalConfig(config, []), message, name);
});

test('requested addresses from CNI_ARGS, args.cni.ips and runtimeConfig.ips go to their range set', () => {
  const ranges = [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }], [{ subnet: '10.1.0.0/24' }]];
  const c = parseHostLocalConfig(
    base({ ranges }, { args: { cni: { ips: ['fd00::20'] } }, runtimeConfig: { ips: ['10.1.0.9/24'] } }),
    [
      ['IgnoreUnknown', '1'],
      ['IP', '10.0.0.7'],
    ],
  );
  assert.deepEqual(
    c.requested.map((ip) => (ip ? formatIp(ip) : undefined)),
    ['10.0.0.7', 'fd00::20', '10.1.0.9'],
  );
  const dupes = parseHostLocalConfig(base({ ranges }), [['IP', '10.0.0.7,10.0.0.7']]);
  assert.equal(formatIp(dupes.requested[0]!), '10.0.0.7', 'the same address twice is one request');

  const bad: Array<[string, Array<[string, string]>, Record<string, unknown>, RegExp]> = [
    ['not an IP', [['IP', '10.0.0.x']], {}, /CNI_ARGS IP\[0\]: invalid IP "10\.0\.0\.x"/],
    ['outside every set', [['IP', '192.168.0.1']], {}, /requested IP 192\.168\.0\.1 is not in any range set/],
    ['gateway', [['IP', '10.0.0.1']], {}, /requested IP 10\.0\.0\.1 is the gateway of range set 0/],
    [
      'two in one set',
      [['IP', '10.0.0.7,10.0.0.8']],
      {},
      /CNI_ARGS IP\[1\]: requested IPs 10\.0\.0\.7 and 10\.0\.0\.8 are both in range set 0/,
    ],
    ['args.cni.ips not a list', [], { args: { cni: { ips: '10.0.0.7' } } }, /args\.cni\.ips: must be a list/],
    ['runtimeConfig junk', [], { runtimeConfig: { ips: ['zz'] } }, /runtimeConfig\.ips\[0\]: invalid IP "zz"/],
  ];
  for (const [name, args, extra, message] of bad)
    code7(() => parseHostLocalConfig(base({ ranges }, extra), args), message, name);
});

test('DEL/GC need only name and dataDir; GC requires valid-attachments', () => {
  const broken = base({ ranges: [[{ subnet: 'broken' }]], dataDir: '/d' });
  assert.deepEqual(parseHostLocalTarget(broken), { name: 'pods', dataDir: '/d' });
  code7(() => parseValidAttachments(broken), /cni\.dev\/valid-attachments: missing/, 'missing list');
  assert.deepEqual(
    parseValidAttachments({ ...broken, 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] }),
    [{ containerId: 'c1', ifname: 'eth0' }],
  );
  code7(
    () => parseValidAttachments({ ...broken, 'cni.dev/valid-attachments': [{ containerID: 'c1' }] }),
    /valid-attachments\[0\]\.ifname/,
    'ifname missing',
  );
});

test('resolv.conf parsing and the ADD result', () => {
  const dns = parseResolvConf(
    '# comment\n; also\nnameserver 10.96.0.10\nnameserver  fd00::a\ndomain cluster.local\nsearch a.svc b.svc\noptions ndots:5 edns0\nbogus\n',
  );
  assert.deepEqual(dns, {
    nameservers: ['10.96.0.10', 'fd00::a'],
    domain: 'cluster.local',
    search: ['a.svc', 'b.svc'],
    options: ['ndots:5', 'edns0'],
  });
  const c = parseHostLocalConfig(
    base({ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }]], routes: [{ dst: '0.0.0.0/0' }] }),
    [],
  );
  const result = buildIpamResult(
    '1.0.0',
    [
      { rangeSetIndex: 0, ip: parseIp('10.0.0.2'), range: c.sets[0]![0]!, reused: false },
      { rangeSetIndex: 1, ip: parseIp('fd00::2'), range: c.sets[1]![0]!, reused: false },
    ],
    c.routes,
    dns,
  );
  assert.deepEqual(result.ips, [
    { address: '10.0.0.2/24', gateway: '10.0.0.1' },
    { address: 'fd00::2/64', gateway: 'fd00::1' },
  ]);
  assert.deepEqual(result.routes, [{ dst: '0.0.0.0/0' }]);
  assert.equal(result.dns, dns);
});
