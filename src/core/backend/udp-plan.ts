/**
 * Leases → what the udp backend wants on a node, as plain values: its TUN device `weft0`
 * (MTU = underlay − 28, the outer IPv4 and UDP headers; the node subnet's network address as a
 * /32), one route sending the whole cluster network into it, and the forwarder's table (each
 * peer's subnet → its public IP).
 *
 * Why one route for the network (as Flannel's udp backend): the node's own subnet has a more
 * specific connected route on the bridge, so only other nodes' pods reach the TUN, and the
 * forwarder, not the kernel, knows which peer owns which subnet. Unlike Flannel, the device
 * address is a /32 (Flannel gives flannel0 the subnet address with the *network's* prefix): the
 * kernel's connected route for a /16 would be the kernel's, not weft's, and the reconciler could
 * neither see nor repair it; the explicit route carries weft's protocol number instead. The /32
 * is the source address of packets the node itself sends into the overlay, as vxlan's VTEP
 * address is.
 *
 * Peers are screened as for the other backends (plan.ts); a peer running another backend gets a
 * PeerError: its agent has no forwarder listening, so its datagrams would go nowhere.
 */

import { UDP_TUN_DEVICE } from '../names.js';
import { formatCidr, formatIp } from '../net/ip.js';
import { describePeer, parseNode, screenPeers, type BackendPlanInput } from './plan.js';
import type { BackendChange, DesiredBackendState, PeerError } from './state.js';
import type { UdpRouteEntry } from './udp-forwarding.js';

/** Outer IPv4 header (20) + UDP header (8): what each packet costs on the underlay. */
export const UDP_OVERHEAD_V4 = 28;

export interface UdpTunSpec {
  name: string;
  mtu: number;
  /** The node subnet's network address as a /32, e.g. "10.244.1.0/32". */
  address: string;
}

/** The TUN device as the kernel reports it (iproute2-codec's parseTunDevice). */
export interface TunDeviceState {
  name: string;
  mtu: number;
  up: boolean;
  /** IPv4 addresses with prefix. */
  addresses: string[];
}

export interface UdpPlan {
  tun: UdpTunSpec;
  /** The routes (the network into the TUN), peer errors and pod MTU, for the shared diff. */
  desired: DesiredBackendState;
  /** The forwarder's table: one entry per peer it can serve, sorted by subnet. */
  entries: UdpRouteEntry[];
  /** This node's subnet (canonical): the only destinations the forwarder delivers to. */
  ownSubnet: string;
  port: number;
}

/** The udp backend's desired state. Throws BackendPlanError for a bad node or config. */
export function planUdp({ node, conf, peers }: BackendPlanInput): UdpPlan {
  const parsed = parseNode(node, conf);
  const errors: PeerError[] = [];
  const entries: UdpRouteEntry[] = [];
  for (const p of screenPeers(parsed, peers, errors)) {
    if (p.lease.backendType !== 'udp') {
      errors.push({
        subnet: p.lease.subnet,
        publicIp: p.lease.publicIp,
        message: `udp: ${describePeer(p.lease)}${p.lease.nodeName ? ` of node ${p.lease.nodeName}` : ''} runs the ${p.lease.backendType || 'unknown'} backend, which has no forwarder on port ${conf.backend.port}; not routed`,
      });
      continue;
    }
    entries.push({ subnet: formatCidr(p.subnet), publicIp: formatIp(p.publicIp) });
  }
  const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  errors.sort((x, y) => byText(x.subnet, y.subnet) || byText(x.publicIp, y.publicIp) || byText(x.message, y.message));
  const mtu = node.underlay.mtu - UDP_OVERHEAD_V4;
  return {
    tun: { name: UDP_TUN_DEVICE, mtu, address: `${formatIp(parsed.subnet.address)}/32` },
    desired: {
      type: 'udp',
      routes: [{ dst: formatCidr(parsed.network), dev: UDP_TUN_DEVICE, onlink: false }],
      neighbours: [],
      fdb: [],
      errors,
      podMtu: mtu,
    },
    entries,
    ownSubnet: formatCidr(parsed.subnet),
    port: conf.backend.port,
  };
}

/**
 * The changes that give the TUN device its MTU, address and up state (the forwarder creates
 * it, the kernel brings it up without them). Run before the route changes: a route into a
 * device that is down is refused.
 */
export function diffTunDevice(want: UdpTunSpec, have: TunDeviceState): BackendChange[] {
  const changes: BackendChange[] = [];
  const set: Extract<BackendChange, { kind: 'set-device' }> = { kind: 'set-device', name: want.name };
  if (have.mtu !== want.mtu) set.mtu = want.mtu;
  if (!have.up) set.up = true;
  if (set.mtu !== undefined || set.up) changes.push(set);
  for (const cidr of have.addresses)
    if (cidr !== want.address) changes.push({ kind: 'delete-address', dev: want.name, cidr });
  if (!have.addresses.includes(want.address)) changes.push({ kind: 'add-address', dev: want.name, cidr: want.address });
  return changes;
}
