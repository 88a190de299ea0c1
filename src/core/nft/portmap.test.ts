// Unit tests for the portmap nftables model: desired elements, the rendered transaction text
// (exact), conflicts, DEL/GC planning, CHECK, and reading nft's JSON listing back (round trip).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PortMapping } from '../cni/plugins/portmap-config.js';
import { CniError } from '../cni/errors.js';
import { parseCidr, parseIp } from '../net/ip.js';
import {
  checkElements,
  desiredElements,
  findConflicts,
  networkPartOfComment,
  planAdd,
  planRemove,
  portmapComment,
  type PortmapElement,
} from './portmap.js';
import { parsePortmapListing } from './portmap-listing.js';
import { portmapTable } from './portmap.js';
import { tracePacket } from './trace.js';
import { NftFake } from '../../testkit/nft-fake.js';

const C1 = portmapComment('mynet', 'c1', 'eth0');
const C2 = portmapComment('mynet', 'c2', 'eth0');
const V4 = parseCidr('10.244.0.5/24');
const V6 = parseCidr('fd00:10:244::5/64');
const tcp8080: PortMapping = { hostPort: 8080, containerPort: 80, protocol: 'tcp' };
const udp53: PortMapping = { hostPort: 53, containerPort: 5353, protocol: 'udp' };

function elementLines(text: string): string[] {
  return text.split('\n').filter((l) => / element /.test(l));
}

function desired(
  mappings: PortMapping[],
  pods: (typeof V4)[],
  opts: { snat?: boolean; masqAll?: boolean; comment?: string } = {},
): PortmapElement[] {
  return desiredElements({
    mappings,
    podAddresses: pods,
    snat: opts.snat ?? true,
    masqAll: opts.masqAll ?? false,
    comment: opts.comment ?? C1,
  });
}

test('ADD renders the static skeleton: chains rebuilt in place, data in maps and sets', () => {
  const text = planAdd([], []).render();
  assert.equal(
    text,
    [
      'add table inet weft-portmap { comment "weft portmap: CNI hostPort DNAT"; }',
      'add map inet weft-portmap hostip-hostports-v4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }',
      'add map inet weft-portmap hostports-v4 { type inet_proto . inet_service : ipv4_addr . inet_service; }',
      'add set inet weft-portmap masq-v4 { type ipv4_addr . ipv4_addr; flags interval; }',
      'add map inet weft-portmap hostip-hostports-v6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }',
      'add map inet weft-portmap hostports-v6 { type inet_proto . inet_service : ipv6_addr . inet_service; }',
      'add set inet weft-portmap masq-v6 { type ipv6_addr . ipv6_addr; flags interval; }',
      'add chain inet weft-portmap prerouting { type nat hook prerouting priority -100; policy accept; }',
      'add chain inet weft-portmap output { type nat hook output priority -100; policy accept; }',
      'add chain inet weft-portmap postrouting { type nat hook postrouting priority 100; policy accept; }',
      'add chain inet weft-portmap hostports',
      'flush chain inet weft-portmap prerouting',
      'flush chain inet weft-portmap output',
      'flush chain inet weft-portmap postrouting',
      'flush chain inet weft-portmap hostports',
      'add rule inet weft-portmap prerouting iifname != "lo" ip daddr 127.0.0.0/8 drop comment "route_localnet guard (CVE-2020-8558)"',
      'add rule inet weft-portmap prerouting fib daddr type "local" jump hostports',
      'add rule inet weft-portmap output fib daddr type "local" jump hostports',
      'add rule inet weft-portmap postrouting ct status dnat ip saddr . ip daddr @masq-v4 masquerade',
      'add rule inet weft-portmap postrouting ct status dnat ip6 saddr . ip6 daddr @masq-v6 masquerade',
      'add rule inet weft-portmap hostports dnat ip to ip daddr . meta l4proto . th dport map @hostip-hostports-v4',
      'add rule inet weft-portmap hostports dnat ip6 to ip6 daddr . meta l4proto . th dport map @hostip-hostports-v6',
      'add rule inet weft-portmap hostports meta nfproto "ipv4" dnat ip to meta l4proto . th dport map @hostports-v4',
      'add rule inet weft-portmap hostports ip6 daddr != ::1 dnat ip6 to meta l4proto . th dport map @hostports-v6',
      '',
    ].join('\n'),
  );
});

test('ADD renders one element per mapping and family, and the masquerade elements', () => {
  const cases: Array<{
    name: string;
    mappings: PortMapping[];
    pods: (typeof V4)[];
    snat?: boolean;
    masqAll?: boolean;
    want: string[];
  }> = [
    {
      name: 'IPv4 tcp on any address: DNAT, hairpin (pod subnet) and localhost masquerade',
      mappings: [tcp8080],
      pods: [V4],
      want: [
        'add element inet weft-portmap hostports-v4 { "tcp" . 8080 comment "c1/eth0 mynet" : 10.244.0.5 . 80 }',
        'add element inet weft-portmap masq-v4 { 10.244.0.0/24 . 10.244.0.5 comment "c1/eth0 mynet" }',
        'add element inet weft-portmap masq-v4 { 127.0.0.0/8 . 10.244.0.5 comment "c1/eth0 mynet" }',
      ],
    },
    {
      name: 'IPv6: no loopback masquerade (::1 never leaves the host)',
      mappings: [tcp8080],
      pods: [V6],
      want: [
        'add element inet weft-portmap hostports-v6 { "tcp" . 8080 comment "c1/eth0 mynet" : fd00:10:244::5 . 80 }',
        'add element inet weft-portmap masq-v6 { fd00:10:244::/64 . fd00:10:244::5 comment "c1/eth0 mynet" }',
      ],
    },
    {
      name: 'dual-stack: both families',
      mappings: [udp53],
      pods: [V4, V6],
      want: [
        'add element inet weft-portmap hostports-v4 { "udp" . 53 comment "c1/eth0 mynet" : 10.244.0.5 . 5353 }',
        'add element inet weft-portmap masq-v4 { 10.244.0.0/24 . 10.244.0.5 comment "c1/eth0 mynet" }',
        'add element inet weft-portmap masq-v4 { 127.0.0.0/8 . 10.244.0.5 comment "c1/eth0 mynet" }',
        'add element inet weft-portmap hostports-v6 { "udp" . 53 comment "c1/eth0 mynet" : fd00:10:244::5 . 5353 }',
        'add element inet weft-portmap masq-v6 { fd00:10:244::/64 . fd00:10:244::5 comment "c1/eth0 mynet" }',
      ],
    },
    {
      name: 'IPv4 hostIP on a dual-stack pod: that family only, in the hostIP map',
      mappings: [{ ...tcp8080, hostIp: parseIp('192.168.1.1') }],
      pods: [V4, V6],
      snat: false,
      want: [
        'add element inet weft-portmap hostip-hostports-v4 { 192.168.1.1 . "tcp" . 8080 comment "c1/eth0 mynet" : 10.244.0.5 . 80 }',
      ],
    },
    {
      name: 'IPv6 hostIP',
      mappings: [{ ...udp53, hostIp: parseIp('2001:db8::1') }],
      pods: [V4, V6],
      snat: false,
      want: [
        'add element inet weft-portmap hostip-hostports-v6 { 2001:db8::1 . "udp" . 53 comment "c1/eth0 mynet" : fd00:10:244::5 . 5353 }',
      ],
    },
    {
      name: 'hostIP 0.0.0.0 means any IPv4 address, and no IPv6',
      mappings: [{ ...tcp8080, hostIp: parseIp('0.0.0.0') }],
      pods: [V4, V6],
      snat: false,
      want: ['add element inet weft-portmap hostports-v4 { "tcp" . 8080 comment "c1/eth0 mynet" : 10.244.0.5 . 80 }'],
    },
    {
      name: 'hostIP of a family the pod lacks: nothing at all',
      mappings: [{ ...tcp8080, hostIp: parseIp('2001:db8::1') }],
      pods: [V4],
      want: [],
    },
    {
      name: 'masqAll: every source',
      mappings: [tcp8080],
      pods: [V4, V6],
      masqAll: true,
      want: [
        'add element inet weft-portmap hostports-v4 { "tcp" . 8080 comment "c1/eth0 mynet" : 10.244.0.5 . 80 }',
        'add element inet weft-portmap masq-v4 { 0.0.0.0/0 . 10.244.0.5 comment "c1/eth0 mynet" }',
        'add element inet weft-portmap hostports-v6 { "tcp" . 8080 comment "c1/eth0 mynet" : fd00:10:244::5 . 80 }',
        'add element inet weft-portmap masq-v6 { ::/0 . fd00:10:244::5 comment "c1/eth0 mynet" }',
      ],
    },
    {
      name: 'a /32 pod address (ptp style) masquerades just itself',
      mappings: [tcp8080],
      pods: [parseCidr('10.1.2.3/32')],
      want: [
        'add element inet weft-portmap hostports-v4 { "tcp" . 8080 comment "c1/eth0 mynet" : 10.1.2.3 . 80 }',
        'add element inet weft-portmap masq-v4 { 10.1.2.3/32 . 10.1.2.3 comment "c1/eth0 mynet" }',
        'add element inet weft-portmap masq-v4 { 127.0.0.0/8 . 10.1.2.3 comment "c1/eth0 mynet" }',
      ],
    },
  ];
  for (const c of cases) {
    const d = desired(c.mappings, c.pods, {
      ...(c.snat !== undefined ? { snat: c.snat } : {}),
      ...(c.masqAll !== undefined ? { masqAll: c.masqAll } : {}),
    });
    assert.deepEqual(elementLines(planAdd([], d).render()), c.want, c.name);
  }
});

test('two mappings of one host port: identical ones merge, different targets are a config error naming both', () => {
  assert.equal(desired([tcp8080, tcp8080], [V4], { snat: false }).length, 1);
  assert.throws(
    () => desired([tcp8080, { ...tcp8080, containerPort: 81 }], [V4]),
    (err: unknown) =>
      err instanceof CniError && err.code === 7 && /portMappings\[1\].*portMappings\[0\]/.test(err.message),
  );
});

test('conflicts with another attachment follow the Kubernetes hostPort rule', () => {
  const mine = (m: PortMapping, pods = [V4]) => desired([m], pods, { snat: false });
  const theirs = (m: PortMapping, pods = [parseCidr('10.244.0.7/24')]) =>
    desired([m], pods, { snat: false, comment: C2 });
  const h1 = parseIp('192.168.1.1');
  const h2 = parseIp('192.168.1.2');
  const cases: Array<[string, PortmapElement[], PortmapElement[], boolean]> = [
    ['same port, both any address', theirs(tcp8080), mine(tcp8080), true],
    ['same port, any vs a hostIP', theirs(tcp8080), mine({ ...tcp8080, hostIp: h1 }), true],
    ['same port, same hostIP', theirs({ ...tcp8080, hostIp: h1 }), mine({ ...tcp8080, hostIp: h1 }), true],
    ['same port, different hostIPs', theirs({ ...tcp8080, hostIp: h1 }), mine({ ...tcp8080, hostIp: h2 }), false],
    ['same port, other protocol', theirs(tcp8080), mine({ ...tcp8080, protocol: 'udp' }), false],
    ['same port, other family', theirs(tcp8080), mine(tcp8080, [V6]), false],
    ['same attachment again (re-ADD)', mine(tcp8080), mine(tcp8080), false],
  ];
  for (const [name, existing, want, conflict] of cases) {
    const problems = findConflicts(existing, want);
    assert.equal(problems.length > 0, conflict, name);
    if (conflict) assert.match(problems[0] ?? '', /hostPort 8080\/tcp is already mapped .*"c2\/eth0 mynet"/, name);
  }
});

test("a repeated ADD replaces its own elements and a vanished attachment's masquerade for the same pod IP", () => {
  const old = desired([{ ...tcp8080, hostPort: 9090 }], [V4]);
  const stale: PortmapElement = { kind: 'masq', family: 4, source: '10.244.0.0/16', podIp: '10.244.0.5', comment: C2 };
  const other: PortmapElement = {
    kind: 'dnat',
    family: 4,
    protocol: 'tcp',
    hostPort: 7000,
    podIp: '10.244.0.7',
    podPort: 80,
    comment: C2,
  };
  const lines = elementLines(planAdd([...old, stale, other], desired([tcp8080], [V4])).render());
  assert.deepEqual(lines, [
    'delete element inet weft-portmap hostports-v4 { "tcp" . 9090 }',
    'delete element inet weft-portmap masq-v4 { 10.244.0.0/24 . 10.244.0.5 }',
    'delete element inet weft-portmap masq-v4 { 127.0.0.0/8 . 10.244.0.5 }',
    'delete element inet weft-portmap masq-v4 { 10.244.0.0/16 . 10.244.0.5 }',
    'add element inet weft-portmap hostports-v4 { "tcp" . 8080 comment "c1/eth0 mynet" : 10.244.0.5 . 80 }',
    'add element inet weft-portmap masq-v4 { 10.244.0.0/24 . 10.244.0.5 comment "c1/eth0 mynet" }',
    'add element inet weft-portmap masq-v4 { 127.0.0.0/8 . 10.244.0.5 comment "c1/eth0 mynet" }',
  ]);
});

test("DEL removes only the attachment's elements, and the table with the last one", () => {
  const a = desired([tcp8080], [V4, V6]);
  const b = desired([udp53], [parseCidr('10.244.0.7/24')], { comment: C2 });
  const cases: Array<[string, PortmapElement[], string, string]> = [
    [
      'other attachments remain: element deletes only',
      [...a, ...b],
      C2,
      [
        'delete element inet weft-portmap hostports-v4 { "udp" . 53 }',
        'delete element inet weft-portmap masq-v4 { 10.244.0.0/24 . 10.244.0.7 }',
        'delete element inet weft-portmap masq-v4 { 127.0.0.0/8 . 10.244.0.7 }',
        '',
      ].join('\n'),
    ],
    ['last attachment: the table goes', a, C1, 'delete table inet weft-portmap\n'],
    ['empty table left over: it goes too', [], C1, 'delete table inet weft-portmap\n'],
    ['nothing of ours: nothing to do', b, C1, '\n'],
  ];
  for (const [name, existing, comment, want] of cases) {
    assert.equal(planRemove(existing, (e) => e.comment === comment).render(), want, name);
  }
});

test('CHECK reports missing, foreign and changed elements', () => {
  const want = desired([tcp8080], [V4], { snat: false });
  assert.deepEqual(checkElements(want, want), []);
  assert.deepEqual(checkElements([], want), ['missing hostPort 8080/tcp on any IPv4 address → 10.244.0.5:80']);
  const foreign = want.map((e) => ({ ...e, comment: C2 }));
  assert.match(checkElements(foreign, want)[0] ?? '', /belongs to "c2\/eth0 mynet"/);
  const moved = want.map((e) => ({ ...e, podIp: '10.244.0.9' }));
  assert.match(checkElements(moved, want)[0] ?? '', /table has hostPort 8080\/tcp on any IPv4 address → 10.244.0.9:80/);
});

test('element comments: readable when they can be, bounded and unique when not', () => {
  const id64 = 'a'.repeat(64);
  assert.equal(portmapComment('mynet', id64, 'eth0'), `${id64}/eth0 mynet`);
  const long = portmapComment('n'.repeat(40), 'x'.repeat(200), 'eth0');
  assert.ok(long.length <= 128, long);
  assert.notEqual(long, portmapComment('n'.repeat(40), `${'x'.repeat(199)}y`, 'eth0'));
  assert.match(portmapComment('my "net"', 'c1', 'eth0'), /^c1\/eth0 ~[0-9a-f]{8}$/);
  assert.equal(networkPartOfComment(portmapComment('mynet', 'c1', 'eth0')), 'mynet');
  assert.equal(networkPartOfComment('no-space'), '');
});

// What `nft -j list table inet weft-portmap` printed (nft 1.0.6) after applying a dual-stack
// ADD: [tcp 8080 any, udp 53 on 192.168.1.1] for 10.244.0.5/24 and fd00:10:244::5/64.
const REAL_LISTING: unknown[] = [
  { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
  { table: { family: 'inet', name: 'weft-portmap', handle: 1, comment: 'weft portmap: CNI hostPort DNAT' } },
  {
    map: {
      family: 'inet',
      name: 'hostip-hostports-v4',
      table: 'weft-portmap',
      type: ['ipv4_addr', 'inet_proto', 'inet_service'],
      handle: 1,
      map: 'ipv4_addr . inet_service',
      elem: [
        [
          { elem: { val: { concat: ['192.168.1.1', 'udp', 53] }, comment: 'c1/eth0 mynet' } },
          { concat: ['10.244.0.5', 5353] },
        ],
      ],
    },
  },
  {
    map: {
      family: 'inet',
      name: 'hostports-v4',
      table: 'weft-portmap',
      type: ['inet_proto', 'inet_service'],
      handle: 2,
      map: 'ipv4_addr . inet_service',
      elem: [[{ elem: { val: { concat: ['tcp', 8080] }, comment: 'c1/eth0 mynet' } }, { concat: ['10.244.0.5', 80] }]],
    },
  },
  {
    set: {
      family: 'inet',
      name: 'masq-v4',
      table: 'weft-portmap',
      type: ['ipv4_addr', 'ipv4_addr'],
      handle: 3,
      flags: ['interval'],
      elem: [
        {
          elem: {
            val: { concat: [{ prefix: { addr: '10.244.0.0', len: 24 } }, '10.244.0.5'] },
            comment: 'c1/eth0 mynet',
          },
        },
        {
          elem: {
            val: { concat: [{ prefix: { addr: '127.0.0.0', len: 8 } }, '10.244.0.5'] },
            comment: 'c1/eth0 mynet',
          },
        },
      ],
    },
  },
  {
    map: {
      family: 'inet',
      name: 'hostip-hostports-v6',
      table: 'weft-portmap',
      type: ['ipv6_addr', 'inet_proto', 'inet_service'],
      handle: 4,
      map: 'ipv6_addr . inet_service',
    },
  },
  {
    map: {
      family: 'inet',
      name: 'hostports-v6',
      table: 'weft-portmap',
      type: ['inet_proto', 'inet_service'],
      handle: 5,
      map: 'ipv6_addr . inet_service',
      elem: [
        [{ elem: { val: { concat: ['tcp', 8080] }, comment: 'c1/eth0 mynet' } }, { concat: ['fd00:10:244::5', 80] }],
      ],
    },
  },
  {
    set: {
      family: 'inet',
      name: 'masq-v6',
      table: 'weft-portmap',
      type: ['ipv6_addr', 'ipv6_addr'],
      handle: 6,
      flags: ['interval'],
      elem: [
        {
          elem: {
            val: { concat: [{ prefix: { addr: 'fd00:10:244::', len: 64 } }, 'fd00:10:244::5'] },
            comment: 'c1/eth0 mynet',
          },
        },
      ],
    },
  },
  {
    chain: {
      family: 'inet',
      table: 'weft-portmap',
      name: 'prerouting',
      handle: 7,
      type: 'nat',
      hook: 'prerouting',
      prio: -100,
      policy: 'accept',
    },
  },
  // A set of someone else's table with our set's name is not ours.
  { set: { family: 'inet', name: 'masq-v4', table: 'other', type: ['ipv4_addr', 'ipv4_addr'], elem: ['bogus'] } },
];

test('the real nft JSON listing reads back into the elements ADD made', () => {
  const made = desired([tcp8080, { ...udp53, hostIp: parseIp('192.168.1.1') }], [V4, V6]);
  const sortKey = (e: PortmapElement) => JSON.stringify(e);
  assert.deepEqual(parsePortmapListing(REAL_LISTING).map(sortKey).sort(), made.map(sortKey).sort());
});

/** Renders elements the way nft -j prints them (bare address for a full-length prefix, no comment key when none). */
function asNftJson(elements: PortmapElement[]): unknown[] {
  const sets = new Map<string, unknown[]>();
  const push = (name: string, v: unknown) => sets.set(name, [...(sets.get(name) ?? []), v]);
  const key = (val: unknown, comment: string) => (comment ? { elem: { val, comment } } : val);
  for (const e of elements) {
    if (e.kind === 'masq') {
      const [addr, len] = e.source.split('/');
      const full = Number(len) === (e.family === 4 ? 32 : 128);
      push(
        `masq-v${e.family}`,
        key({ concat: [full ? addr : { prefix: { addr, len: Number(len) } }, e.podIp] }, e.comment),
      );
    } else {
      const k = e.hostIp ? [e.hostIp, e.protocol, e.hostPort] : [e.protocol, e.hostPort];
      push(`${e.hostIp ? 'hostip-' : ''}hostports-v${e.family}`, [
        key({ concat: k }, e.comment),
        { concat: [e.podIp, e.podPort] },
      ]);
    }
  }
  const types: Record<string, { type: string[]; map?: string }> = {};
  for (const f of [4, 6]) {
    const a = `ipv${f}_addr`;
    types[`masq-v${f}`] = { type: [a, a] };
    types[`hostports-v${f}`] = { type: ['inet_proto', 'inet_service'], map: `${a} . inet_service` };
    types[`hostip-hostports-v${f}`] = { type: [a, 'inet_proto', 'inet_service'], map: `${a} . inet_service` };
  }
  return [
    { table: { family: 'inet', name: 'weft-portmap' } },
    ...[...sets].map(([name, elem]) => ({
      [name.startsWith('masq') ? 'set' : 'map']: { family: 'inet', table: 'weft-portmap', name, ...types[name], elem },
    })),
  ];
}

test('round trip: desired elements → nft JSON → the same elements', () => {
  const cases: Array<[string, PortmapElement[]]> = [
    ['IPv4', desired([tcp8080, udp53], [V4])],
    ['IPv6 with hostIP', desired([{ ...tcp8080, hostIp: parseIp('2001:db8::1') }, udp53], [V6])],
    ['dual-stack masqAll', desired([tcp8080], [V4, V6], { masqAll: true })],
    ['/32 pod', desired([tcp8080], [parseCidr('10.1.2.3/32')])],
    ['sctp, no comment', desired([{ ...tcp8080, protocol: 'sctp' }], [V4], { comment: '', snat: false })],
  ];
  for (const [name, elements] of cases) assert.deepEqual(parsePortmapListing(asNftJson(elements)), elements, name);
});

test('numeric protocols read back; malformed elements of our sets are errors naming the set', () => {
  const TABLE = { table: { family: 'inet', name: 'weft-portmap' } };
  const MAP = {
    family: 'inet',
    table: 'weft-portmap',
    name: 'hostports-v4',
    type: ['inet_proto', 'inet_service'],
    map: 'ipv4_addr . inet_service',
  };
  const listing = [TABLE, { map: { ...MAP, elem: [[{ concat: [17, '53'] }, { concat: ['10.0.0.1', 53] }]] } }];
  assert.deepEqual(parsePortmapListing(listing), [
    { kind: 'dnat', family: 4, protocol: 'udp', hostPort: 53, podIp: '10.0.0.1', podPort: 53, comment: '' },
  ]);
  const bad: Array<[string, unknown]> = [
    ['IPv6 address in an IPv4 map', [{ concat: ['tcp', 80] }, { concat: ['fd00::1', 80] }]],
    ['unknown protocol', [{ concat: ['icmp', 80] }, { concat: ['10.0.0.1', 80] }]],
    ['not a pair', { concat: ['tcp', 80] }],
  ];
  for (const [name, entry] of bad) {
    assert.throws(
      () => parsePortmapListing([TABLE, { map: { ...MAP, elem: [entry] } }]),
      /inet weft-portmap hostports-v4/,
      name,
    );
  }
});

test('ADD, a second ADD and DEL against the fake with kernel semantics; the listing reads back', async () => {
  const fake = new NftFake();
  const now = async () => parsePortmapListing((await fake.listTable('inet', 'weft-portmap')) ?? []);
  const a = desired([tcp8080, udp53], [V4, V6]);
  const b = desired([{ ...tcp8080, hostPort: 9090 }], [parseCidr('10.244.0.7/24')], { comment: C2 });
  await fake.apply(planAdd(await now(), a), 'add c1');
  await fake.apply(planAdd(await now(), a), 'add c1 again');
  await fake.apply(planAdd(await now(), b), 'add c2');
  const key = (e: PortmapElement) => JSON.stringify(e);
  assert.deepEqual((await now()).map(key).sort(), [...a, ...b].map(key).sort());
  await fake.apply(
    planRemove(await now(), (e) => e.comment === C1),
    'del c1',
  );
  assert.deepEqual((await now()).map(key).sort(), b.map(key).sort());
  await fake.apply(
    planRemove(await now(), (e) => e.comment === C2),
    'del c2',
  );
  assert.equal(await fake.listTable('inet', 'weft-portmap'), undefined);
});

test('portmap trace: hostPort DNAT to the pod, and the hairpin masquerade after it', () => {
  const table = portmapTable(desired([tcp8080], [V4]));
  const local = ['192.168.0.2', '127.0.0.1'];
  const pre = tracePacket([table], 'prerouting', {
    family: 4,
    saddr: '192.168.0.9',
    daddr: '192.168.0.2',
    protocol: 'tcp',
    sport: 5555,
    dport: 8080,
    iifname: 'eth0',
    localAddresses: local,
  });
  assert.deepEqual(pre.nat, ['dnat to 10.244.0.5:80']);
  const other = tracePacket([table], 'prerouting', {
    family: 4,
    saddr: '192.168.0.9',
    daddr: '192.168.0.2',
    protocol: 'udp',
    sport: 5555,
    dport: 8080,
    iifname: 'eth0',
    localAddresses: local,
  });
  assert.deepEqual(other.nat, [], 'udp/8080 is not mapped');
  const guard = tracePacket([table], 'prerouting', {
    family: 4,
    saddr: '192.168.0.9',
    daddr: '127.0.0.1',
    protocol: 'tcp',
    sport: 5555,
    dport: 8080,
    iifname: 'eth0',
    localAddresses: local,
  });
  assert.equal(guard.verdict, 'drop', 'route_localnet guard');
  const hairpin = tracePacket([table], 'postrouting', {
    family: 4,
    saddr: '10.244.0.9',
    daddr: '10.244.0.5',
    protocol: 'tcp',
    sport: 5555,
    dport: 80,
    ctStatus: ['dnat'],
  });
  assert.deepEqual(hairpin.nat, ['masquerade']);
  const plain = tracePacket([table], 'postrouting', {
    family: 4,
    saddr: '10.244.0.9',
    daddr: '10.244.0.5',
    protocol: 'tcp',
    sport: 5555,
    dport: 80,
  });
  assert.deepEqual(plain.nat, [], 'pod to pod without DNAT is left alone');
});
