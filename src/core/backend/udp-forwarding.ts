/**
 * The per-packet decisions of the udp backend's forwarder (Flannel's first backend: a TUN device
 * and a userspace daemon that carries each IP packet in one UDP datagram), pure so they are
 * tested without a kernel:
 *
 * - outbound: a packet the kernel routed into the TUN device goes to the peer whose subnet holds
 *   its destination (longest prefix wins), or is dropped and counted ("no-route");
 * - inbound: a datagram is written to the TUN only if it came from a known peer's public IP and
 *   carries an IPv4 packet addressed into this node's own subnet. The second check is not in
 *   Flannel's proxy; without it any peer could use this node as a relay into the rest of its
 *   network (the kernel would forward whatever it is handed).
 *
 * The table is rebuilt from the peers on every backend sync and handed to the forwarder thread
 * as plain data (UdpRouteEntry[]), so it crosses postMessage unchanged.
 */

import { formatIp, tryParseCidr, tryParseIp } from '../net/ip.js';

/** One peer's subnet and where its datagrams go. */
export interface UdpRouteEntry {
  /** The peer's pod subnet, e.g. "10.244.2.0/24". */
  subnet: string;
  /** The peer's underlay address (its lease's PublicIP): the datagram's destination. */
  publicIp: string;
}

/** Why a packet was not forwarded; each is a counter of the forwarder. */
export type UdpDropReason =
  /** Shorter than an IPv4 header, or its header says more than it holds. */
  | 'malformed'
  /** Not IPv4 (the overlay is IPv4 only, as Flannel's udp backend). */
  | 'not-ipv4'
  /** Outbound: no peer's subnet holds the destination. */
  | 'no-route'
  /** Inbound: the datagram's sender is not a peer's public IP. */
  | 'unknown-sender'
  /** Inbound: the inner destination is not in this node's subnet. */
  | 'not-for-this-node';

export const UDP_DROP_REASONS: readonly UdpDropReason[] = [
  'malformed',
  'not-ipv4',
  'no-route',
  'unknown-sender',
  'not-for-this-node',
];

/** IPv4 addresses and prefixes as unsigned 32-bit numbers (the hot path does no parsing). */
interface Prefix {
  network: number;
  mask: number;
}

function toPrefix(cidr: string, what: string): Prefix {
  const net = tryParseCidr(cidr);
  if (!net || net.address.family !== 4) throw new Error(`udp forwarding table: ${what} "${cidr}" is not an IPv4 CIDR`);
  const mask = net.prefix === 0 ? 0 : (0xffffffff << (32 - net.prefix)) >>> 0;
  return { network: (Number(net.address.value) & mask) >>> 0, mask };
}

/** The canonical text of an IPv4 address (as Node's rinfo.address prints it). */
function canonicalAddress(text: string, what: string): string {
  const ip = tryParseIp(text);
  if (!ip || ip.family !== 4) throw new Error(`udp forwarding table: ${what} "${text}" is not an IPv4 address`);
  return formatIp(ip);
}

/** The 32-bit destination (or source) address of an IPv4 packet; the caller checked the header. */
function addressAt(packet: Uint8Array, offset: number): number {
  return (
    ((packet[offset]! << 24) | (packet[offset + 1]! << 16) | (packet[offset + 2]! << 8) | packet[offset + 3]!) >>> 0
  );
}

/** A reason the packet is not a usable IPv4 packet, or undefined. */
export function checkIpv4(packet: Uint8Array): UdpDropReason | undefined {
  if (packet.length < 1) return 'malformed';
  if (packet[0]! >> 4 !== 4) return 'not-ipv4';
  const headerLen = (packet[0]! & 0x0f) * 4;
  if (headerLen < 20 || packet.length < headerLen) return 'malformed';
  const total = (packet[2]! << 8) | packet[3]!;
  if (total < headerLen || total > packet.length) return 'malformed';
  return undefined;
}

/** The decision for one packet: send it to `peer`, or drop it for `reason`. */
export type UdpVerdict = { peer: string } | { drop: UdpDropReason };

export class UdpForwardingTable {
  /** Prefix lengths present, longest first; per length, network → peer public IP. */
  private readonly byLength: { mask: number; peers: Map<number, string> }[];
  /** Peers' public IPs, canonical text: a datagram's sender is compared without parsing it. */
  private readonly senders: Set<string>;
  private readonly own: Prefix;

  /**
   * `ownSubnet`: this node's subnet (inbound packets must be addressed into it). Entries must
   * not overlap (the backend's peer screening already drops overlapping leases); an entry that
   * repeats a subnet keeps the first peer.
   */
  constructor(ownSubnet: string, entries: readonly UdpRouteEntry[]) {
    this.own = toPrefix(ownSubnet, 'own subnet');
    const lengths = new Map<number, Map<number, string>>();
    this.senders = new Set();
    for (const e of entries) {
      const p = toPrefix(e.subnet, 'peer subnet');
      this.senders.add(canonicalAddress(e.publicIp, 'peer public IP'));
      const peers = lengths.get(p.mask) ?? new Map<number, string>();
      if (!peers.has(p.network)) peers.set(p.network, e.publicIp);
      lengths.set(p.mask, peers);
    }
    // A longer mask is a larger unsigned number: sorting masks descending puts longest first.
    this.byLength = [...lengths.entries()].sort((a, b) => b[0] - a[0]).map(([mask, peers]) => ({ mask, peers }));
  }

  /** Where a packet read from the TUN device goes. */
  outbound(packet: Uint8Array): UdpVerdict {
    const bad = checkIpv4(packet);
    if (bad) return { drop: bad };
    const dst = addressAt(packet, 16);
    for (const { mask, peers } of this.byLength) {
      const peer = peers.get((dst & mask) >>> 0);
      if (peer !== undefined) return { peer };
    }
    return { drop: 'no-route' };
  }

  /**
   * Why a datagram's payload from `sender` (its IPv4 address in canonical text, as Node's
   * rinfo.address) may not be written to the TUN, or undefined when it may.
   */
  inbound(packet: Uint8Array, sender: string): UdpDropReason | undefined {
    if (!this.senders.has(sender)) return 'unknown-sender';
    const bad = checkIpv4(packet);
    if (bad) return bad;
    if ((addressAt(packet, 16) & this.own.mask) >>> 0 !== this.own.network) return 'not-for-this-node';
    return undefined;
  }
}
