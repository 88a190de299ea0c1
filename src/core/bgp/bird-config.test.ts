// Unit tests for the bgp backend's BIRD config: mesh and router sessions, the filters, peer errors,
// bad config, and properties (the text depends on the peer set only; no session or accepted prefix
// outside what the cluster allows).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BgpConfigError,
  asNumberProblem,
  renderNodeBirdConfig,
  renderRouterBirdConfig,
  routerAddressFor,
  type BgpConf,
  type BgpNode,
  type BgpPeerInput,
} from './bird-config.js';
import { cidrContains, parseCidr, parseIp } from '../net/ip.js';

const node: BgpNode = { subnet: '10.244.1.0/24', publicIp: '10.99.0.1', underlayCidr: '10.99.0.1/24' };
const mesh: BgpConf = { asNumber: 64512, peering: 'mesh', routerAsNumber: 64512, routerAddresses: [] };
const router: BgpConf = {
  asNumber: 64512,
  peering: 'router',
  routerAsNumber: 64512,
  routerAddresses: ['10.99.0.253', '10.99.1.253'],
};
const peer = (n: number, publicIp: string): BgpPeerInput => ({ subnet: `10.244.${n}.0/24`, publicIp });
const network = '10.244.0.0/16';

const protocolsOf = (text: string) => [
  ...text.matchAll(/^protocol bgp (\S+) from \S+ \{\n {2}neighbor (\S+) as (\d+);/gm),
];

describe('node config', () => {
  const cases: Array<{ name: string; conf: BgpConf; peers: BgpPeerInput[]; sessions: string[]; errors: RegExp[] }> = [
    { name: 'mesh, no peers: no session', conf: mesh, peers: [], sessions: [], errors: [] },
    {
      name: 'mesh: one session per other node, sorted by address; the own lease skipped',
      conf: mesh,
      peers: [peer(3, '10.99.0.10'), peer(1, '10.99.0.1'), peer(2, '10.99.0.2')],
      sessions: ['peer_10_99_0_2 10.99.0.2 64512', 'peer_10_99_0_10 10.99.0.10 64512'],
      errors: [],
    },
    {
      name: 'mesh: a peer off the segment is an error naming it and suggesting router peering',
      conf: mesh,
      peers: [peer(2, '10.99.0.2'), peer(4, '10.99.1.4')],
      sessions: ['peer_10_99_0_2 10.99.0.2 64512'],
      errors: [
        /peer 10\.99\.1\.4 \(subnet 10\.244\.4\.0\/24\) is not on this node's segment 10\.99\.0\.0\/24.*Peering "router"/,
      ],
    },
    {
      name: 'mesh: a bad public IP and a peer claiming our IP are errors; the rest are peered',
      conf: mesh,
      peers: [peer(2, 'nonsense'), peer(5, '10.99.0.1'), peer(3, '10.99.0.3')],
      sessions: ['peer_10_99_0_3 10.99.0.3 64512'],
      errors: [/10\.244\.5\.0\/24.*own public IP/, /10\.244\.2\.0\/24.*not an IPv4 address/],
    },
    {
      name: 'router: one session to the router leg on this segment, whatever the peers',
      conf: router,
      peers: [peer(2, '10.99.0.2'), peer(4, '10.99.1.4')],
      sessions: ['router_10_99_0_253 10.99.0.253 64512'],
      errors: [],
    },
    {
      name: 'router in another AS: eBGP to RouterASNumber',
      conf: { ...router, routerAsNumber: 65001 },
      peers: [],
      sessions: ['router_10_99_0_253 10.99.0.253 65001'],
      errors: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = renderNodeBirdConfig({ node, network, conf: c.conf, peers: c.peers });
      assert.deepEqual(
        protocolsOf(r.text).map((m) => `${m[1]} ${m[2]} ${m[3]}`),
        c.sessions,
      );
      assert.deepEqual(
        r.sessions.map((s) => `${s.name} ${s.address} ${s.neighborAs}`),
        c.sessions,
      );
      assert.equal(r.errors.length, c.errors.length, JSON.stringify(r.errors));
      for (const [i, re] of c.errors.entries()) assert.match(r.errors[i]?.message ?? '', re);
    });
  }

  test('the skeleton: router id, own subnet as a blackhole not exported to the kernel, kernel keeps routes', () => {
    const { text } = renderNodeBirdConfig({ node, network, conf: mesh, peers: [] });
    assert.match(text, /^router id 10\.99\.0\.1;$/m);
    assert.match(
      text,
      /protocol static weft_own \{\n {2}ipv4 \{ import all; export none; \};\n {2}route 10\.244\.1\.0\/24 blackhole;/,
    );
    assert.match(
      text,
      /export filter \{ if source = RTS_BGP && net ~ \[ 10\.244\.0\.0\/16\{17,32\} \] && !\(net ~ \[ 10\.244\.1\.0\/24\+ \]\) then accept; reject; \};/,
    );
    for (const line of ['learn off;', 'persist;', 'graceful restart on;', 'metric 119;', 'local 10.99.0.1 as 64512;'])
      assert.ok(text.includes(`  ${line}\n`), line);
    assert.ok(!text.includes('allow local as'));
  });

  test('the import filter refuses the own subnet first and accepts only strictly inside the network', () => {
    const { text } = renderNodeBirdConfig({ node, network, conf: mesh, peers: [] });
    assert.match(
      text,
      /filter weft_import \{\n {2}if net ~ \[ 10\.244\.1\.0\/24\+ \] then reject;\n {2}if net ~ \[ 10\.244\.0\.0\/16\{17,32\} \] then accept;\n {2}reject;\n\}/,
    );
  });

  test('eBGP to the router allows the own AS in the path (the other nodes share it)', () => {
    const { text } = renderNodeBirdConfig({ node, network, conf: { ...router, routerAsNumber: 65001 }, peers: [] });
    assert.match(text, /^ {2}allow local as;$/m);
  });

  const bad: Array<[string, BgpNode, BgpConf, RegExp]> = [
    ['ASNumber 0', node, { ...mesh, asNumber: 0 }, /Backend\.ASNumber: 0 is outside 1\.\.4294967294/],
    ['ASNumber 65535', node, { ...mesh, asNumber: 65535 }, /Backend\.ASNumber: 65535 is a reserved AS number/],
    ['RouterASNumber 4294967295', node, { ...router, routerAsNumber: 4294967295 }, /Backend\.RouterASNumber/],
    [
      'router address off the segment',
      node,
      { ...router, routerAddresses: ['10.98.0.253'] },
      /Backend\.RouterAddress: none of 10\.98\.0\.253 is on this node's segment 10\.99\.0\.0\/24/,
    ],
    ['no router address', node, { ...router, routerAddresses: [] }, /Backend\.RouterAddress: is required/],
    [
      'subnet outside the network',
      { ...node, subnet: '10.245.1.0/24' },
      mesh,
      /node subnet: 10\.245\.1\.0\/24 is not inside/,
    ],
    ['IPv6 public IP', { ...node, publicIp: 'fd00::1' }, mesh, /node publicIp/],
  ];
  for (const [name, n, conf, re] of bad) {
    test(`refused: ${name}`, () => {
      assert.throws(
        () => renderNodeBirdConfig({ node: n, network, conf, peers: [] }),
        (e: unknown) => {
          assert.ok(e instanceof BgpConfigError);
          assert.match(e.message, re);
          return true;
        },
      );
    });
  }
});

test('AS numbers: 1..4294967294 without 23456 and 65535', () => {
  for (const ok of [1, 64512, 65534, 65536, 4200000000, 4294967294])
    assert.equal(asNumberProblem(ok), undefined, `${ok}`);
  for (const bad of [0, -1, 1.5, 23456, 65535, 4294967295, 4294967296]) assert.ok(asNumberProblem(bad), `${bad}`);
});

test('routerAddressFor picks the address on the node segment', () => {
  assert.equal(
    routerAddressFor({ ...node, publicIp: '10.99.1.3', underlayCidr: '10.99.1.3/24' }, router.routerAddresses),
    '10.99.1.253',
  );
  assert.equal(routerAddressFor(node, router.routerAddresses), '10.99.0.253');
});

describe('router config', () => {
  const legs = [
    { address: '10.99.1.253', segment: '10.99.1.0/24' },
    { address: '10.99.0.253', segment: '10.99.0.0/24' },
  ];
  test('one passive session per node from the leg on its segment, route reflector for iBGP, next hop self', () => {
    const text = renderRouterBirdConfig({
      routerId: '10.99.0.253',
      legs,
      network,
      conf: router,
      nodes: ['10.99.1.2', '10.99.0.3', '10.99.0.1', '10.99.0.1'],
    });
    assert.deepEqual(
      [
        ...text.matchAll(
          /^protocol bgp (\S+) from weft_nodes \{\n {2}local (\S+) as (\d+);\n {2}neighbor (\S+) as (\d+);/gm,
        ),
      ].map((m) => m.slice(1).join(' ')),
      [
        'peer_10_99_0_1 10.99.0.253 64512 10.99.0.1 64512',
        'peer_10_99_0_3 10.99.0.253 64512 10.99.0.3 64512',
        'peer_10_99_1_2 10.99.1.253 64512 10.99.1.2 64512',
      ],
    );
    for (const line of ['  rr client;', '  passive on;', '    next hop self;'])
      assert.ok(text.includes(`${line}\n`), line);
    assert.ok(!text.includes('persist;'), 'the lab router keeps nothing after it is gone');
  });

  test('nodes on no leg are skipped; the text depends on the node set only', () => {
    const a = renderRouterBirdConfig({
      routerId: '10.99.0.253',
      legs,
      network,
      conf: router,
      nodes: ['10.98.0.1', '10.99.0.1'],
    });
    const b = renderRouterBirdConfig({ routerId: '10.99.0.253', legs, network, conf: router, nodes: ['10.99.0.1'] });
    assert.equal(a, b);
  });

  test('eBGP upstream: no route reflection', () => {
    const text = renderRouterBirdConfig({
      routerId: '10.99.0.253',
      legs,
      network,
      conf: { ...router, routerAsNumber: 65001 },
      nodes: ['10.99.0.1'],
    });
    assert.ok(!text.includes('rr client'));
    assert.match(text, /local 10\.99\.0\.253 as 65001;\n {2}neighbor 10\.99\.0\.1 as 64512;/);
  });

  test('a leg outside its segment is refused', () => {
    assert.throws(
      () =>
        renderRouterBirdConfig({
          routerId: '10.99.0.253',
          legs: [{ address: '10.98.0.253', segment: '10.99.0.0/24' }],
          network,
          conf: router,
          nodes: [],
        }),
      /leg 10\.98\.0\.253 is not an address inside 10\.99\.0\.0\/24/,
    );
  });
});

/** The set a BIRD prefix pattern like "10.244.0.0/16{17,32}" or "10.244.1.0/24+" matches. */
function patternMatches(pattern: string, prefix: string): boolean {
  const m = /^(\S+\/\d+)(?:\{(\d+),(\d+)\}|(\+))$/.exec(pattern);
  assert.ok(m, pattern);
  const base = parseCidr(m[1] ?? '');
  const p = parseCidr(prefix);
  const lo = m[4] ? base.prefix : Number(m[2]);
  const hi = m[4] ? 32 : Number(m[3]);
  return p.prefix >= lo && p.prefix <= hi && p.prefix >= base.prefix && cidrContains(base, p.address);
}

/** Runs the rendered import filter (its "if net ~ [ P ] then V;" lines, in order) on a prefix. */
function importVerdict(text: string, prefix: string): 'accept' | 'reject' {
  const body = /filter weft_import \{\n([\s\S]*?)\n\}/.exec(text)?.[1] ?? '';
  for (const line of body.split('\n')) {
    const rule = /^\s*if net ~ \[ (\S+) \] then (accept|reject);$/.exec(line);
    if (rule) {
      if (patternMatches(rule[1] ?? '', prefix)) return rule[2] as 'accept' | 'reject';
      continue;
    }
    if (/^\s*reject;$/.test(line)) return 'reject';
    assert.fail(`unexpected filter line ${line}`);
  }
  return 'reject';
}

describe('properties', () => {
  const peerArb = fc
    .tuple(fc.integer({ min: 2, max: 250 }), fc.integer({ min: 2, max: 252 }))
    .map(([n, host]) => peer(n, `10.99.0.${host}`));

  test('the rendered config depends on the peer set, not its order', () => {
    fc.assert(
      fc.property(
        fc
          .uniqueArray(peerArb, { selector: (p) => p.publicIp, maxLength: 12 })
          .chain((peers) =>
            fc.tuple(
              fc.constant(peers),
              fc.shuffledSubarray(peers, { minLength: peers.length, maxLength: peers.length }),
            ),
          ),
        ([peers, shuffled]) => {
          const a = renderNodeBirdConfig({ node, network, conf: mesh, peers });
          const b = renderNodeBirdConfig({ node, network, conf: mesh, peers: shuffled });
          assert.equal(a.text, b.text);
          assert.deepEqual(a.errors, b.errors);
        },
      ),
    );
  });

  test('no prefix outside the cluster network, nor inside the own subnet, is ever accepted from a peer', () => {
    const { text } = renderNodeBirdConfig({ node, network, conf: mesh, peers: [peer(2, '10.99.0.2')] });
    const net = parseCidr(network);
    const own = parseCidr(node.subnet);
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, len) => {
        const addr = parseIp(ip);
        const masked = len === 0 ? 0n : (addr.value >> BigInt(32 - len)) << BigInt(32 - len);
        const prefix = `${[24n, 16n, 8n, 0n].map((s) => (masked >> s) & 255n).join('.')}/${len}`;
        const p = parseCidr(prefix);
        const inside = p.prefix > net.prefix && cidrContains(net, p.address);
        const ownPart = p.prefix >= own.prefix && cidrContains(own, p.address);
        assert.equal(importVerdict(text, prefix), inside && !ownPart ? 'accept' : 'reject', prefix);
      }),
      { numRuns: 500 },
    );
    // Rows the random addresses rarely hit.
    for (const [prefix, want] of [
      ['10.244.0.0/16', 'reject'],
      ['10.244.2.0/24', 'accept'],
      ['10.244.1.0/24', 'reject'],
      ['10.244.1.128/25', 'reject'],
      ['10.244.0.0/17', 'accept'],
      ['0.0.0.0/0', 'reject'],
      ['10.96.0.0/12', 'reject'],
    ] as const)
      assert.equal(importVerdict(text, prefix), want, prefix);
  });

  test('no session is ever made to an address off the segment, to the own address, or twice', () => {
    const anyPeer = fc
      .tuple(
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom('10.99.0', '10.99.1', '192.168.0'),
        fc.integer({ min: 0, max: 255 }),
      )
      .map(([n, seg, host]) => peer(n, `${seg}.${host}`));
    fc.assert(
      fc.property(fc.array(anyPeer, { maxLength: 15 }), (peers) => {
        const r = renderNodeBirdConfig({ node, network, conf: mesh, peers });
        const addresses = r.sessions.map((s) => s.address);
        assert.equal(new Set(addresses).size, addresses.length);
        for (const a of addresses) {
          assert.ok(cidrContains(parseCidr('10.99.0.0/24'), parseIp(a)), a);
          assert.notEqual(a, node.publicIp);
        }
      }),
    );
  });
});
