// Unit tests for backend planning: vxlan, host-gw and DirectRouting rows, peer errors that leave
// the other peers alone, and properties (order independence, never a route for the own subnet).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BackendPlanError, planBackend, vtepMacFor } from './plan.js';
import type { BackendNetConf, BackendNode, PeerLease } from './state.js';

const node: BackendNode = {
  subnet: '10.244.1.0/24',
  publicIp: '10.99.0.1',
  underlay: { name: 'eth0', cidr: '10.99.0.1/24', mtu: 1500 },
};
const conf = (type: 'vxlan' | 'host-gw', extra: Partial<BackendNetConf['backend']> = {}): BackendNetConf => ({
  network: '10.244.0.0/16',
  backend: { type, vni: 1, port: 8472, directRouting: false, ...extra },
});
const peer = (
  n: number,
  publicIp: string,
  backendType = 'vxlan',
  data: PeerLease['backendData'] | undefined = undefined,
): PeerLease => ({
  subnet: `10.244.${n}.0/24`,
  publicIp,
  backendType,
  backendData: data ?? (backendType === 'vxlan' ? { VNI: 1, VtepMAC: vtepMacFor(publicIp) } : {}),
});
const p2 = peer(2, '10.99.0.2');
const p3 = peer(3, '10.99.0.3');
const farPeer = peer(4, '10.98.0.4');

const routeText = (s: ReturnType<typeof planBackend>) =>
  s.routes.map((r) => `${r.dst} via ${r.via} dev ${r.dev}${r.onlink ? ' onlink' : ''}`);

test('vtep MAC: 0e:77 and the public IP octets, locally administered unicast', () => {
  assert.equal(vtepMacFor('10.99.0.1'), '0e:77:0a:63:00:01');
  assert.equal(vtepMacFor('192.168.255.254'), '0e:77:c0:a8:ff:fe');
  assert.throws(() => vtepMacFor('fd00::1'), BackendPlanError);
});

describe('vxlan', () => {
  test('device: weft.<VNI>, local = public IP, dev = underlay, MTU - 50, /32 of the subnet, derived MAC', () => {
    const s = planBackend({ node, conf: conf('vxlan'), peers: [] });
    assert.deepEqual(s.device, {
      name: 'weft.1',
      vni: 1,
      port: 8472,
      local: '10.99.0.1',
      underlay: 'eth0',
      mtu: 1450,
      mac: '0e:77:0a:63:00:01',
      address: '10.244.1.0/32',
    });
    assert.equal(s.podMtu, 1450);
    assert.deepEqual(s.routes, []);
  });

  test('Backend.MTU, VNI and Port from the config win', () => {
    const s = planBackend({
      node,
      conf: conf('vxlan', { vni: 4096, port: 4789, mtu: 1400 }),
      peers: [peer(2, '10.99.0.2', 'vxlan', { VNI: 4096, VtepMAC: '0e:00:00:00:00:02' })],
    });
    assert.equal(s.device?.name, 'weft.4096');
    assert.equal(s.device?.port, 4789);
    assert.equal(s.podMtu, 1400);
    assert.deepEqual(routeText(s), ['10.244.2.0/24 via 10.244.2.0 dev weft.4096 onlink']);
  });

  test('per peer: onlink route via its VTEP, permanent neighbour VTEP → MAC, FDB MAC → public IP', () => {
    const s = planBackend({ node, conf: conf('vxlan'), peers: [p3, p2, farPeer] });
    assert.deepEqual(routeText(s), [
      '10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink',
      '10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink',
      '10.244.4.0/24 via 10.244.4.0 dev weft.1 onlink',
    ]);
    assert.deepEqual(s.neighbours, [
      { dev: 'weft.1', ip: '10.244.2.0', mac: '0e:77:0a:63:00:02' },
      { dev: 'weft.1', ip: '10.244.3.0', mac: '0e:77:0a:63:00:03' },
      { dev: 'weft.1', ip: '10.244.4.0', mac: '0e:77:0a:62:00:04' },
    ]);
    assert.deepEqual(s.fdb, [
      { dev: 'weft.1', mac: '0e:77:0a:62:00:04', dst: '10.98.0.4' },
      { dev: 'weft.1', mac: '0e:77:0a:63:00:02', dst: '10.99.0.2' },
      { dev: 'weft.1', mac: '0e:77:0a:63:00:03', dst: '10.99.0.3' },
    ]);
    assert.deepEqual(s.errors, []);
  });

  const vxlanErrors: Array<[string, PeerLease, RegExp]> = [
    [
      'a host-gw peer has no VTEP',
      peer(2, '10.99.0.2', 'host-gw'),
      /vxlan: peer 10\.99\.0\.2 \(subnet 10\.244\.2\.0\/24\) has no VTEP MAC \(its backend is host-gw\)/,
    ],
    [
      'another VNI',
      peer(2, '10.99.0.2', 'vxlan', { VNI: 7, VtepMAC: '0e:00:00:00:00:02' }),
      /uses VNI 7, this node uses 1/,
    ],
    ['a multicast MAC', peer(2, '10.99.0.2', 'vxlan', { VNI: 1, VtepMAC: '01:00:5e:00:00:01' }), /invalid VTEP MAC/],
    [
      'a subnet outside the network',
      { ...p2, subnet: '10.250.2.0/24' },
      /subnet is outside the network 10\.244\.0\.0\/16/,
    ],
    ['a subnet overlapping ours', { ...p2, subnet: '10.244.0.0/23' }, /overlaps this node's subnet 10\.244\.1\.0\/24/],
    ['our own public IP', { ...p2, publicIp: '10.99.0.1' }, /has this node's own public IP/],
    ['a garbled subnet', { ...p2, subnet: 'ten/24' }, /subnet is not an IPv4 CIDR/],
  ];
  for (const [name, bad, message] of vxlanErrors) {
    test(`peer error, others unaffected: ${name}`, () => {
      const s = planBackend({ node, conf: conf('vxlan'), peers: [bad, p3] });
      assert.equal(s.errors.length, 1);
      assert.match(s.errors[0]?.message ?? '', message);
      assert.deepEqual(routeText(s), ['10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink']);
      assert.equal(s.fdb.length, 1);
    });
  }

  test('two peers claiming overlapping subnets or one VTEP MAC: the later one (in canonical order) errs', () => {
    const dupSubnet = planBackend({ node, conf: conf('vxlan'), peers: [peer(2, '10.99.0.9'), p2] });
    assert.deepEqual(dupSubnet.routes.length, 1);
    assert.match(dupSubnet.errors[0]?.message ?? '', /peer 10\.99\.0\.9 .* overlaps peer 10\.99\.0\.2's subnet/);
    const dupMac = planBackend({ node, conf: conf('vxlan'), peers: [p2, { ...p3, backendData: p2.backendData }] });
    assert.match(dupMac.errors[0]?.message ?? '', /VTEP MAC 0e:77:0a:63:00:02, already used by peer 10\.99\.0\.2/);
  });

  test("the node's own lease is skipped silently", () => {
    const own: PeerLease = {
      subnet: node.subnet,
      publicIp: node.publicIp,
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: vtepMacFor(node.publicIp) },
    };
    const s = planBackend({ node, conf: conf('vxlan'), peers: [own, p2] });
    assert.deepEqual(s.errors, []);
    assert.deepEqual(routeText(s), ['10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink']);
  });
});

describe('host-gw', () => {
  test('a route per peer via its public IP on the underlay; no device', () => {
    const s = planBackend({ node, conf: conf('host-gw'), peers: [p3, p2] });
    assert.equal(s.device, undefined);
    assert.deepEqual(routeText(s), ['10.244.2.0/24 via 10.99.0.2 dev eth0', '10.244.3.0/24 via 10.99.0.3 dev eth0']);
    assert.deepEqual([s.neighbours, s.fdb, s.errors], [[], [], []]);
    assert.equal(s.podMtu, 1500);
  });

  test('any backend type on the segment is reachable by a plain route', () => {
    const s = planBackend({ node, conf: conf('host-gw'), peers: [peer(2, '10.99.0.2', 'host-gw'), p3] });
    assert.equal(s.routes.length, 2);
  });

  test('a peer off the segment gets the clear error; the others keep their routes', () => {
    const off = { ...peer(3, '10.0.2.5'), subnet: '10.244.3.0/24' };
    const s = planBackend({
      node: { ...node, publicIp: '10.0.1.1', underlay: { ...node.underlay, cidr: '10.0.1.1/24' } },
      conf: conf('host-gw'),
      peers: [off, peer(2, '10.0.1.2')],
    });
    assert.deepEqual(s.errors, [
      {
        subnet: '10.244.3.0/24',
        publicIp: '10.0.2.5',
        message:
          "host-gw: peer 10.0.2.5 (subnet 10.244.3.0/24) is not on this node's segment 10.0.1.0/24; not routed: use vxlan, vxlan with DirectRouting, or bgp",
      },
    ]);
    assert.deepEqual(routeText(s), ['10.244.2.0/24 via 10.0.1.2 dev eth0']);
  });
});

describe('DirectRouting', () => {
  test('same-segment peers get direct routes (no neighbour, no FDB); the others VXLAN', () => {
    const s = planBackend({ node, conf: conf('vxlan', { directRouting: true }), peers: [farPeer, p2] });
    assert.deepEqual(routeText(s), [
      '10.244.2.0/24 via 10.99.0.2 dev eth0',
      '10.244.4.0/24 via 10.244.4.0 dev weft.1 onlink',
    ]);
    assert.deepEqual(s.neighbours, [{ dev: 'weft.1', ip: '10.244.4.0', mac: '0e:77:0a:62:00:04' }]);
    assert.deepEqual(s.fdb, [{ dev: 'weft.1', mac: '0e:77:0a:62:00:04', dst: '10.98.0.4' }]);
    assert.ok(s.device);
  });

  test('a same-segment host-gw peer is fine; an off-segment one without VTEP errs', () => {
    const s = planBackend({
      node,
      conf: conf('vxlan', { directRouting: true }),
      peers: [peer(2, '10.99.0.2', 'host-gw'), peer(4, '10.98.0.4', 'host-gw')],
    });
    assert.deepEqual(routeText(s), ['10.244.2.0/24 via 10.99.0.2 dev eth0']);
    assert.match(
      s.errors[0]?.message ?? '',
      /no VTEP MAC \(its backend is host-gw\) and is not on this node's segment/,
    );
  });
});

describe('bad node or config throws, naming the field', () => {
  const rows: Array<[string, BackendNode, BackendNetConf, RegExp]> = [
    [
      'subnet outside the network',
      { ...node, subnet: '10.245.1.0/24' },
      conf('vxlan'),
      /node subnet 10\.245\.1\.0\/24 is not inside the network/,
    ],
    ['IPv6 public IP', { ...node, publicIp: 'fd00::1' }, conf('vxlan'), /node publicIp/],
    [
      'bad underlay cidr',
      { ...node, underlay: { ...node.underlay, cidr: '10.99.0.1' } },
      conf('host-gw'),
      /underlay cidr/,
    ],
    ['VNI too big', node, conf('vxlan', { vni: 1 << 24 }), /backend VNI/],
    ['port 0', node, conf('vxlan', { port: 0 }), /backend Port/],
    ['bad network', node, { ...conf('vxlan'), network: '10.244.0.0' }, /network "10\.244\.0\.0"/],
  ];
  for (const [name, n, c, re] of rows)
    test(name, () =>
      assert.throws(
        () => planBackend({ node: n, conf: c, peers: [] }),
        (e: unknown) => e instanceof BackendPlanError && re.test(e.message),
      ),
    );
});

describe('properties', () => {
  // Peers drawn from a small pool so that duplicates, overlaps, own subnet and own IP all occur.
  const arbPeer = fc
    .record({
      third: fc.integer({ min: 0, max: 6 }),
      prefix: fc.constantFrom(23, 24, 25),
      host: fc.integer({ min: 1, max: 4 }),
      segment: fc.constantFrom('10.99.0', '10.98.0'),
      type: fc.constantFrom('vxlan', 'host-gw'),
      vni: fc.constantFrom(1, 1, 1, 2),
    })
    .map(({ third, prefix, host, segment, type, vni }): PeerLease => {
      const publicIp = `${segment}.${host}`;
      return {
        subnet: `10.244.${prefix === 23 ? third & ~1 : third}.${prefix === 25 ? 128 : 0}/${prefix}`,
        publicIp,
        backendType: type,
        backendData: type === 'vxlan' ? { VNI: vni, VtepMAC: vtepMacFor(publicIp) } : {},
      };
    });
  const arbConf = fc
    .record({ type: fc.constantFrom<'vxlan' | 'host-gw'>('vxlan', 'host-gw'), directRouting: fc.boolean() })
    .map(({ type, directRouting }) => conf(type, { directRouting }));

  test('the desired state is a function of the peer set: any order gives the same state', () => {
    fc.assert(
      fc.property(
        arbConf,
        fc
          .array(arbPeer, { maxLength: 8 })
          .chain((ps) =>
            fc.tuple(fc.constant(ps), fc.shuffledSubarray(ps, { minLength: ps.length, maxLength: ps.length })),
          ),
        (c, [peers, shuffled]) => {
          assert.deepEqual(planBackend({ node, conf: c, peers: shuffled }), planBackend({ node, conf: c, peers }));
        },
      ),
    );
  });

  test("never a route for (or into) the node's own subnet, every peer either routed or reported", () => {
    fc.assert(
      fc.property(arbConf, fc.array(arbPeer, { maxLength: 8 }), (c, peers) => {
        const s = planBackend({ node, conf: c, peers });
        for (const r of s.routes)
          assert.ok(!r.dst.startsWith('10.244.1.') && r.dst !== '10.244.0.0/23', `route ${r.dst}`);
        const dsts = s.routes.map((r) => r.dst);
        assert.equal(new Set(dsts).size, dsts.length, 'one route per destination');
        const others = peers.filter((p) => p.subnet !== node.subnet);
        assert.ok(s.routes.length + s.errors.length >= new Set(others.map((p) => p.subnet)).size);
      }),
    );
  });
});
