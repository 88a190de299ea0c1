// NFLOG batches as the kernel sends them (nflog.ts): a batch captured from a real kernel (three
// SYNs logged by `log group 7 prefix "weft a x 0"`, then NLMSG_DONE) is read field by field, and
// built messages cover what that capture lacks (a kernel timestamp, UDP, ICMP, a later fragment,
// IP options) and what must be refused with the reason (IPv6, no prefix, cut, not NFLOG).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readNflogBatch, type NflogPacket } from './nflog.js';

// Captured with native/netns's openNflog(7, 64, 4, 5, 16384, …) in a scratch namespace: the
// three 140-byte NFLOG messages of three connection attempts to 127.0.0.1:9, then NLMSG_DONE.
const CAPTURED = Buffer.from(
  '8c0000000004000000000000000000000200000708000100080003000f000a00776566742061207820300000080005000000000108000b000000000008000e000000000008000c0000000000400009004500003c80d740004006bbe27f0000017f000001a9980009ecf5d52900000000a002ffd7fe3000000204ffd70402080ac4724737000000000103030a' +
    '8c0000000004000000000000000000000200000708000100080003000f000a00776566742061207820300000080005000000000108000b000000000008000e000000000008000c0000000001400009004500003c734140004006c9787f0000017f000001a9a40009509ede3600000000a002ffd7fe3000000204ffd70402080a87cb4b7f000000000103030a' +
    '8c0000000004000000000000000000000200000708000100080003000f000a00776566742061207820300000080005000000000108000b000000000008000e000000000008000c0000000002400009004500003cdeeb400040065dce7f0000017f000001a9b0000906a9408300000000a002ffd7fe3000000204ffd70402080abaa2084b000000000103030a' +
    '1400000003000000000000000000000000000007',
  'hex',
);
const NOW = 1_800_000_000_123;

function read(buf: Uint8Array, start = 0, length = buf.length - start) {
  const packets: NflogPacket[] = [];
  const unreadable: string[] = [];
  readNflogBatch(buf, start, length, NOW, { packet: (p) => packets.push(p), unreadable: (r) => unreadable.push(r) });
  return { packets, unreadable };
}

test('a captured batch: three SYNs with prefix, addresses, ports and sequence numbers; DONE skipped', () => {
  const { packets, unreadable } = read(CAPTURED);
  assert.deepEqual(unreadable, []);
  assert.deepEqual(
    packets.map((p) => [p.seq, p.prefix, p.protocol, p.saddr, p.sport, p.daddr, p.dport, p.time]),
    [
      [0, 'weft a x 0', 'TCP', '127.0.0.1', 0xa998, '127.0.0.1', 9, NOW],
      [1, 'weft a x 0', 'TCP', '127.0.0.1', 0xa9a4, '127.0.0.1', 9, NOW],
      [2, 'weft a x 0', 'TCP', '127.0.0.1', 0xa9b0, '127.0.0.1', 9, NOW],
    ],
    'no kernel timestamp on a locally made packet: the reader time',
  );
  // A batch in the middle of the read buffer, as the reader hands them over.
  const padded = Buffer.concat([Buffer.alloc(100, 0xff), CAPTURED, Buffer.alloc(50, 0xff)]);
  assert.deepEqual(read(padded, 100, CAPTURED.length).packets, packets);
});

/** One NFLOG packet message in host (little-endian) order, with the attributes given. */
function message(o: { prefix?: string; payload?: Buffer; seq?: number; time?: [number, number]; type?: number }) {
  const attrs: Buffer[] = [];
  const attr = (type: number, data: Buffer) => {
    const a = Buffer.alloc(4 + data.length + ((4 - (data.length % 4)) % 4));
    a.writeUInt16LE(4 + data.length, 0);
    a.writeUInt16LE(type, 2);
    data.copy(a, 4);
    attrs.push(a);
  };
  attr(1, Buffer.from([0x08, 0x00, 3, 0])); // NFULA_PACKET_HDR: skipped
  if (o.time) {
    const t = Buffer.alloc(16);
    t.writeBigUInt64BE(BigInt(o.time[0]), 0);
    t.writeBigUInt64BE(BigInt(o.time[1]), 8);
    attr(3, t);
  }
  if (o.prefix !== undefined) attr(10, Buffer.from(`${o.prefix}\0`, 'latin1'));
  if (o.payload) attr(9, o.payload);
  if (o.seq !== undefined) {
    const s = Buffer.alloc(4);
    s.writeUInt32BE(o.seq, 0);
    attr(12, s);
  }
  const body = Buffer.concat(attrs);
  const h = Buffer.alloc(20);
  h.writeUInt32LE(20 + body.length, 0);
  h.writeUInt16LE(o.type ?? 0x400, 4);
  h[16] = 2; // nfgenmsg: AF_INET
  return Buffer.concat([h, body]);
}

/** An IPv4 header (20 bytes, or more with options) and `rest`. */
function ipv4(proto: number, rest: number[], o: { ihl?: number; fragOffset?: number } = {}) {
  const ihl = o.ihl ?? 5;
  const b = Buffer.alloc(ihl * 4 + rest.length);
  b[0] = 0x40 | ihl;
  b.writeUInt16BE(o.fragOffset ?? 0, 6);
  b[9] = proto;
  Buffer.from([10, 244, 2, 3, 10, 244, 1, 2]).copy(b, 12);
  Buffer.from(rest).copy(b, ihl * 4);
  return b;
}

test('built messages: what a flow needs, from each kind of packet', () => {
  const ports = [0x9c, 0x41, 0x00, 0x50]; // 40001 -> 80
  const rows: Array<[string, Buffer, Partial<NflogPacket>]> = [
    [
      'TCP with a kernel timestamp',
      message({ prefix: 'weft d in-abc', payload: ipv4(6, ports), seq: 7, time: [1_796_652_298, 561_923] }),
      { time: 1_796_652_298_561, protocol: 'TCP', sport: 40001, dport: 80, seq: 7 },
    ],
    [
      'UDP',
      message({ prefix: 'weft d in-abc', payload: ipv4(17, ports) }),
      { protocol: 'UDP', sport: 40001, dport: 80 },
    ],
    ['SCTP', message({ prefix: 'weft d in-abc', payload: ipv4(132, ports) }), { protocol: 'SCTP', sport: 40001 }],
    ['ICMP: no ports', message({ prefix: 'weft d in-abc', payload: ipv4(1, [8, 0, 0, 0]) }), { protocol: 'ICMP' }],
    ['GRE: the number', message({ prefix: 'weft d in-abc', payload: ipv4(47, []) }), { protocol: '47' }],
    [
      'IP options: ports after them',
      message({ prefix: 'weft d in-abc', payload: ipv4(6, ports, { ihl: 6 }) }),
      { sport: 40001, dport: 80 },
    ],
    [
      'a later fragment: no ports',
      message({ prefix: 'weft d in-abc', payload: ipv4(17, ports, { fragOffset: 185 }) }),
      { protocol: 'UDP' },
    ],
    ['cut before the ports', message({ prefix: 'weft d in-abc', payload: ipv4(6, [0x9c]) }), { protocol: 'TCP' }],
  ];
  for (const [name, msg, want] of rows) {
    const { packets, unreadable } = read(msg);
    assert.deepEqual(unreadable, [], name);
    assert.equal(packets.length, 1, name);
    const p = packets[0]!;
    assert.equal(p.saddr, '10.244.2.3', name);
    assert.equal(p.daddr, '10.244.1.2', name);
    assert.equal(p.prefix, 'weft d in-abc', name);
    for (const [k, v] of Object.entries(want)) assert.equal(p[k as keyof NflogPacket], v, `${name}: ${k}`);
    if (want.sport === undefined) assert.ok(!('sport' in p) && !('dport' in p), `${name}: no ports`);
    if (want.time === undefined) assert.equal(p.time, NOW, `${name}: the reader's time`);
  }
});

test('refused with the reason; the rest of the batch is still read', () => {
  const good = message({ prefix: 'weft d in-abc', payload: ipv4(6, [0, 1, 0, 2]) });
  const v6 = Buffer.alloc(40);
  v6[0] = 0x60;
  const rows: Array<[string, Buffer, RegExp]> = [
    ['IPv6', message({ prefix: 'weft d in-abc', payload: v6 }), /IP version 6, not IPv4/],
    ['no prefix', message({ payload: ipv4(6, [0, 1, 0, 2]) }), /without a prefix/],
    ['no payload', message({ prefix: 'weft d in-abc' }), /no IP header/],
    ['not NFLOG', message({ prefix: 'x', type: 0x401 }), /type 1025: not NFLOG/],
  ];
  for (const [name, bad, re] of rows) {
    const { packets, unreadable } = read(Buffer.concat([bad, good]));
    assert.equal(unreadable.length, 1, name);
    assert.match(unreadable[0]!, re, name);
    assert.equal(packets.length, 1, `${name}: the next message still read`);
  }
  // A message longer than the batch (cut): refused, and reading stops there.
  const cut = read(Buffer.concat([good, good.subarray(0, good.length - 8)]));
  assert.equal(cut.packets.length, 1);
  assert.match(cut.unreadable[0] ?? '', /cut/);
  // An attribute longer than its message.
  const badAttr = Buffer.from(good);
  badAttr.writeUInt16LE(200, 20);
  assert.match(read(badAttr).unreadable[0] ?? '', /attribute 1 of 200 bytes: cut/);
});
