/**
 * Reading NFLOG batches: what the kernel's nfnetlink_log sends the agent's flow log reader
 * (src/adapters/nflog.ts, native/netns/nflog.c) for every packet the policy table logged with
 * `log group G prefix "weft …"`. Pure: bytes in, logged packets out.
 *
 * One read of the netlink socket is one batch: netlink messages back to back, each a 16-byte
 * nlmsghdr (host byte order), a 4-byte nfgenmsg, then attributes (2-byte length, 2-byte type,
 * payload, padded to 4). A batch of more than one packet ends with NLMSG_DONE. The attributes
 * read here (linux/netfilter/nfnetlink_log.h):
 *   NFULA_TIMESTAMP  two big-endian u64, seconds and microseconds: when the packet arrived; only
 *                    when the packet carries a timestamp (locally made packets and forwarded ones
 *                    without a timestamping socket do not), else the reader's clock is used
 *   NFULA_PAYLOAD    the packet from its IP header, cut to the group's copy range
 *   NFULA_PREFIX     the rule's prefix, NUL-terminated
 *   NFULA_SEQ        big-endian u32, the group's own packet number (NFULNL_CFG_F_SEQ): a gap
 *                    means the kernel could not deliver that many (the socket's buffer was full)
 * Everything else (interfaces, mark, uid, hardware header) is skipped: a flow names pods.
 *
 * Only IPv4 packets become flows (the policy table's sets hold IPv4 addresses, so it never logs
 * anything else); another family, a cut or malformed message, is "unreadable" with the reason.
 */

import type { LoggedPacket } from './flow.js';

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
/** (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET */
const NFULNL_PACKET = (4 << 8) | 0;
const NFULA_TIMESTAMP = 3;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;
const NFULA_SEQ = 12;
/** nla_type without NLA_F_NESTED and NLA_F_NET_BYTEORDER. */
const NLA_TYPE_MASK = 0x3fff;

/** A logged packet with the group's sequence number, when the kernel gave one. */
export interface NflogPacket extends LoggedPacket {
  seq?: number;
}

export interface NflogSink {
  packet(p: NflogPacket): void;
  /** A message that is not a readable IPv4 packet, with the reason. */
  unreadable(reason: string): void;
}

const PROTOCOLS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 132: 'SCTP' };
/** Prefixes are what weft wrote (ASCII); latin1 maps any byte to one character, so nothing throws. */
const LATIN1 = new TextDecoder('latin1');
/** Protocols whose first 4 bytes after the IP header are the source and destination ports. */
const WITH_PORTS = new Set([6, 17, 132]);

function ipv4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/**
 * Reads one batch (`length` bytes of `buf` from `start`), calling the sink once per message in
 * order. `now` (ms since the epoch) stands in for packets without a kernel timestamp. Netlink
 * headers are in the machine's byte order: `littleEndian` says which (x86, arm64: true).
 */
export function readNflogBatch(
  buf: Uint8Array,
  start: number,
  length: number,
  now: number,
  sink: NflogSink,
  littleEndian = true,
): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const end = start + length;
  let off = start;
  while (off + 16 <= end) {
    const len = view.getUint32(off, littleEndian);
    const type = view.getUint16(off + 4, littleEndian);
    if (len < 16 || off + len > end) {
      sink.unreadable(`netlink message of ${len} bytes at ${off - start} of a ${length}-byte batch: cut`);
      return;
    }
    if (type === NFULNL_PACKET) readPacket(buf, view, off, len, now, sink, littleEndian);
    else if (type !== NLMSG_DONE && type !== NLMSG_ERROR) sink.unreadable(`netlink message type ${type}: not NFLOG`);
    off += (len + 3) & ~3;
  }
}

function readPacket(
  buf: Uint8Array,
  view: DataView,
  msg: number,
  len: number,
  now: number,
  sink: NflogSink,
  littleEndian: boolean,
): void {
  let prefix: string | undefined;
  let time: number | undefined;
  let seq: number | undefined;
  let payload = -1;
  let payloadLen = 0;
  const end = msg + len;
  // nlmsghdr (16) + nfgenmsg (4)
  for (let a = msg + 20; a + 4 <= end; ) {
    const alen = view.getUint16(a, littleEndian);
    const atype = view.getUint16(a + 2, littleEndian) & NLA_TYPE_MASK;
    if (alen < 4 || a + alen > end) {
      sink.unreadable(`NFLOG attribute ${atype} of ${alen} bytes: cut`);
      return;
    }
    const data = a + 4;
    const dlen = alen - 4;
    if (atype === NFULA_PREFIX) {
      let nul = data;
      while (nul < data + dlen && buf[nul] !== 0) nul++;
      prefix = LATIN1.decode(buf.subarray(data, nul));
    } else if (atype === NFULA_PAYLOAD) {
      payload = data;
      payloadLen = dlen;
    } else if (atype === NFULA_TIMESTAMP && dlen >= 16) {
      time =
        Number(view.getBigUint64(data, false)) * 1000 + Math.floor(Number(view.getBigUint64(data + 8, false)) / 1000);
    } else if (atype === NFULA_SEQ && dlen >= 4) {
      seq = view.getUint32(data, false);
    }
    a += (alen + 3) & ~3;
  }
  if (prefix === undefined) return sink.unreadable('NFLOG packet without a prefix');
  if (payload < 0 || payloadLen < 20) return sink.unreadable(`NFLOG packet "${prefix}": no IP header`);
  const version = buf[payload]! >> 4;
  if (version !== 4) return sink.unreadable(`NFLOG packet "${prefix}": IP version ${version}, not IPv4`);
  const ihl = (buf[payload]! & 0x0f) * 4;
  const proto = buf[payload + 9]!;
  // Ports are in the first fragment only (fragment offset 0) and only when copied.
  const firstFragment = (view.getUint16(payload + 6, false) & 0x1fff) === 0;
  const ports = WITH_PORTS.has(proto) && firstFragment && ihl >= 20 && payloadLen >= ihl + 4;
  // Built by assignment, not spreads: this runs once per logged packet.
  const p: NflogPacket = {
    time: time ?? now,
    prefix,
    protocol: PROTOCOLS[proto] ?? String(proto),
    saddr: ipv4(buf, payload + 12),
    daddr: ipv4(buf, payload + 16),
  };
  if (ports) {
    p.sport = view.getUint16(payload + ihl, false);
    p.dport = view.getUint16(payload + ihl + 2, false);
  }
  if (seq !== undefined) p.seq = seq;
  sink.packet(p);
}
