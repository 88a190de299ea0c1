// Unit tests for the udp backend's per-packet decisions: outbound lookup (table rows and a
// property against a brute-force longest-prefix match), inbound sender/destination checks, and
// malformed packets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkIpv4, UdpForwardingTable, type UdpRouteEntry } from './udp-forwarding.js';

/** A minimal IPv4 header (20 bytes) plus `payload` bytes, from src to dst. */
function ipv4(src: string, dst: string, payload = 8): Uint8Array {
  const p = new Uint8Array(20 + payload);
  p[0] = 0x45;
  p[2] = (p.length >> 8) & 0xff;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  return p;
}

const peers: UdpRouteEntry[] = [
  { subnet: '10.244.2.0/24', publicIp: '10.99.0.2' },
  { subnet: '10.244.3.0/24', publicIp: '10.99.1.3' },
];
const table = new UdpForwardingTable('10.244.1.0/24', peers);

test('outbound: each destination goes to the peer owning its subnet, or is dropped', () => {
  const rows: [string, string, ReturnType<UdpForwardingTable['outbound']>][] = [
    ['pod on peer 2', '10.244.2.7', { peer: '10.99.0.2' }],
    ['peer 2 subnet network address (its TUN address)', '10.244.2.0', { peer: '10.99.0.2' }],
    ['pod on a peer across the router', '10.244.3.250', { peer: '10.99.1.3' }],
    ['a subnet no node holds', '10.244.9.1', { drop: 'no-route' }],
    ['own subnet (the kernel routes it to the bridge; never sent back out)', '10.244.1.5', { drop: 'no-route' }],
    ['outside the network', '8.8.8.8', { drop: 'no-route' }],
  ];
  for (const [name, dst, want] of rows) assert.deepEqual(table.outbound(ipv4('10.244.1.5', dst)), want, name);
});

test('outbound: the longest prefix wins when subnets of different lengths nest', () => {
  const t = new UdpForwardingTable('10.244.1.0/24', [
    { subnet: '10.244.0.0/16', publicIp: '10.99.0.9' },
    { subnet: '10.244.2.0/24', publicIp: '10.99.0.2' },
  ]);
  assert.deepEqual(t.outbound(ipv4('10.244.1.5', '10.244.2.1')), { peer: '10.99.0.2' });
  assert.deepEqual(t.outbound(ipv4('10.244.1.5', '10.244.7.1')), { peer: '10.99.0.9' });
});

test('inbound: only peers, only packets for this node', () => {
  const rows: [string, Uint8Array, string, string | undefined][] = [
    ['peer to a pod here', ipv4('10.244.2.7', '10.244.1.5'), '10.99.0.2', undefined],
    ['peer across the router', ipv4('10.244.3.7', '10.244.1.0'), '10.99.1.3', undefined],
    ['a host that is no peer', ipv4('10.244.2.7', '10.244.1.5'), '10.99.0.77', 'unknown-sender'],
    ['a peer relaying to another subnet', ipv4('10.244.2.7', '10.244.3.5'), '10.99.0.2', 'not-for-this-node'],
    ['a peer relaying outside the network', ipv4('10.244.2.7', '8.8.8.8'), '10.99.0.2', 'not-for-this-node'],
    ['a peer sending garbage', new Uint8Array([0x45, 0, 0]), '10.99.0.2', 'malformed'],
  ];
  for (const [name, packet, sender, want] of rows) assert.equal(table.inbound(packet, sender), want, name);
});

test('checkIpv4: headers that lie are malformed, other versions are not-ipv4', () => {
  const good = ipv4('10.0.0.1', '10.0.0.2');
  assert.equal(checkIpv4(good), undefined);
  assert.equal(checkIpv4(new Uint8Array()), 'malformed');
  const v6 = new Uint8Array(40);
  v6[0] = 0x60;
  assert.equal(checkIpv4(v6), 'not-ipv4');
  const shortIhl = good.slice();
  shortIhl[0] = 0x44;
  assert.equal(checkIpv4(shortIhl), 'malformed', 'IHL below 5');
  const longTotal = good.slice();
  longTotal[3] = good.length + 1;
  assert.equal(checkIpv4(longTotal), 'malformed', 'total length past the end');
  assert.equal(checkIpv4(good.subarray(0, 19)), 'malformed', 'cut inside the header');
});

test('bad table input names what is wrong', () => {
  assert.throws(() => new UdpForwardingTable('10.244.1.0', []), /own subnet "10.244.1.0" is not an IPv4 CIDR/);
  assert.throws(
    () => new UdpForwardingTable('10.244.1.0/24', [{ subnet: 'fd00::/64', publicIp: '10.99.0.2' }]),
    /peer subnet "fd00::\/64"/,
  );
  assert.throws(
    () => new UdpForwardingTable('10.244.1.0/24', [{ subnet: '10.244.2.0/24', publicIp: 'node2' }]),
    /peer public IP "node2"/,
  );
});

test('property: outbound equals a brute-force longest-prefix match over the entries', () => {
  const octet = fc.integer({ min: 0, max: 255 });
  const entry = fc.tuple(octet, octet, fc.integer({ min: 16, max: 28 }), octet).map(([a, b, len, h]): UdpRouteEntry => {
    const value = ((10 << 24) | (a << 16) | (b << 8)) >>> 0;
    const mask = (0xffffffff << (32 - len)) >>> 0;
    const net = (value & mask) >>> 0;
    return {
      subnet: `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${len}`,
      publicIp: `192.168.0.${h}`,
    };
  });
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 12 }), octet, octet, octet, (entries, a, b, c) => {
      const dst = `10.${a}.${b}.${c}`;
      const dstValue = ((10 << 24) | (a << 16) | (b << 8) | c) >>> 0;
      let best: { len: number; peer: string } | undefined;
      for (const e of entries) {
        const [net, len] = e.subnet.split('/') as [string, string];
        const mask = (0xffffffff << (32 - Number(len))) >>> 0;
        const netValue = net.split('.').reduce((v, o) => ((v << 8) | Number(o)) >>> 0, 0);
        // Repeated subnets keep the first entry, as the table does.
        if ((dstValue & mask) >>> 0 === netValue && (!best || Number(len) > best.len))
          best = { len: Number(len), peer: e.publicIp };
      }
      const got = new UdpForwardingTable('172.16.0.0/24', entries).outbound(ipv4('172.16.0.1', dst));
      assert.deepEqual(got, best ? { peer: best.peer } : { drop: 'no-route' });
    }),
  );
});
