/**
 * Leases → the kernel state the backends want, as plain values. This is Flannel's two backends
 * without the processes: host-gw (a route per peer via the peer's underlay address) and vxlan
 * (one VXLAN device, and per peer a neighbour, an FDB entry and a route), with DirectRouting
 * mixing the two. The result is a function of the peer *set*: peers are sorted first, so the
 * order leases arrive in never changes the outcome.
 *
 * A peer the backend cannot serve (off-segment for host-gw, no VTEP for vxlan, a subnet outside
 * the network or overlapping another) becomes a PeerError value naming the peer and the reason;
 * it never stops the other peers' routes. A bad *node* or *config* throws BackendPlanError,
 * because then nothing sensible can be planned.
 *
 * Flannel's behaviour this mirrors: backend/vxlan/vxlan_network.go (handleSubnetEvents) and
 * backend/hostgw + pkg/backend/route_network.go.
 */

import { vxlanDeviceName } from '../names.js';
import {
  cidrContains,
  cidrsOverlap,
  compareIp,
  formatCidr,
  formatIp,
  networkOf,
  tryParseCidr,
  tryParseIp,
  type IpAddress,
  type IpNet,
} from '../net/ip.js';
import type {
  BackendFdbEntry,
  BackendNeighbour,
  BackendNetConf,
  BackendNode,
  BackendRoute,
  DesiredBackendState,
  PeerError,
  PeerLease,
  VxlanDeviceSpec,
} from './state.js';

export class BackendPlanError extends Error {
  override readonly name = 'BackendPlanError';
}

/** VXLAN over IPv4 costs 50 bytes: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD_V4 = 50;

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * The MAC of a node's VXLAN device, derived from its public IP: 0e:77 followed by the four
 * octets of the address (0e = locally administered, unicast; 77 = "w"). Flannel picks a random
 * MAC and persists it; deriving it is simpler and as good: an agent restart that has to recreate
 * the device gets the same MAC, so the neighbour entries on every peer stay right and no peer
 * has to relearn anything. The agent publishes it in its lease (BackendData.VtepMAC) before the
 * device even exists. Unique as long as public IPs are (the same VNI needs unique VTEP MACs).
 */
export function vtepMacFor(publicIp: string): string {
  const ip = tryParseIp(publicIp);
  if (!ip || ip.family !== 4) throw new BackendPlanError(`vtep MAC: public IP "${publicIp}" is not an IPv4 address`);
  const octets = [0x0e, 0x77, ...[24n, 16n, 8n, 0n].map((s) => Number((ip.value >> s) & 0xffn))];
  return octets.map((o) => o.toString(16).padStart(2, '0')).join(':');
}

export interface ParsedNode {
  subnet: IpNet;
  publicIp: IpAddress;
  segment: IpNet;
  network: IpNet;
}

export function parseNode(node: BackendNode, conf: BackendNetConf): ParsedNode {
  const fail = (field: string, why: string): never => {
    throw new BackendPlanError(`backend plan: ${field} ${why}`);
  };
  const network = tryParseCidr(conf.network);
  if (!network || network.address.family !== 4) return fail('network', `"${conf.network}" is not an IPv4 CIDR`);
  const subnet = tryParseCidr(node.subnet);
  if (!subnet || subnet.address.family !== 4) return fail('node subnet', `"${node.subnet}" is not an IPv4 CIDR`);
  if (!cidrContains(network, subnet.address) || subnet.prefix < network.prefix)
    fail('node subnet', `${node.subnet} is not inside the network ${conf.network}`);
  const publicIp = tryParseIp(node.publicIp);
  if (!publicIp || publicIp.family !== 4) return fail('node publicIp', `"${node.publicIp}" is not an IPv4 address`);
  const segment = tryParseCidr(node.underlay.cidr);
  if (!segment || segment.address.family !== 4)
    return fail('underlay cidr', `"${node.underlay.cidr}" is not an IPv4 address/prefix`);
  if (!node.underlay.name) fail('underlay name', 'is empty');
  if (!Number.isInteger(node.underlay.mtu) || node.underlay.mtu < 576)
    fail('underlay mtu', `${node.underlay.mtu} is not a usable MTU`);
  const b = conf.backend;
  if (b.type === 'vxlan' || b.type === 'udp') {
    if (!Number.isInteger(b.port) || b.port < 1 || b.port > 65535)
      fail('backend Port', `${b.port} is outside 1..65535`);
  }
  if (b.type === 'vxlan') {
    if (!Number.isInteger(b.vni) || b.vni < 0 || b.vni > 0xffffff)
      fail('backend VNI', `${b.vni} is outside 0..16777215`);
    if (b.mtu !== undefined && (!Number.isInteger(b.mtu) || b.mtu < 576))
      fail('backend MTU', `${b.mtu} is not a usable MTU`);
  }
  return { subnet: networkOf(subnet), publicIp, segment: networkOf(segment), network };
}

export interface ParsedPeer {
  lease: PeerLease;
  subnet: IpNet;
  publicIp: IpAddress;
}

/** Sorts by subnet, then public IP (then the rest, for full ties): the order every later decision (who conflicts) follows. */
function comparePeers(a: ParsedPeer, b: ParsedPeer): number {
  const rest = (p: ParsedPeer) =>
    JSON.stringify([p.lease.backendType, p.lease.backendData.VNI, p.lease.backendData.VtepMAC, p.lease.nodeName]);
  const [ra, rb] = [rest(a), rest(b)];
  return (
    compareIp(a.subnet.address, b.subnet.address) ||
    a.subnet.prefix - b.subnet.prefix ||
    compareIp(a.publicIp, b.publicIp) ||
    (ra < rb ? -1 : ra > rb ? 1 : 0)
  );
}

export function describePeer(lease: PeerLease): string {
  return `peer ${lease.publicIp} (subnet ${lease.subnet})`;
}

/**
 * Keeps the peers that can have a route at all, in canonical order; the rest become errors.
 * The node's own lease (same subnet) is skipped silently: it is not a peer.
 */
export function screenPeers(node: ParsedNode, peers: readonly PeerLease[], errors: PeerError[]): ParsedPeer[] {
  const parsed: ParsedPeer[] = [];
  for (const lease of peers) {
    const err = (message: string) => errors.push({ subnet: lease.subnet, publicIp: lease.publicIp, message });
    const subnet = tryParseCidr(lease.subnet);
    const publicIp = tryParseIp(lease.publicIp);
    if (!subnet || subnet.address.family !== 4) err(`${describePeer(lease)}: subnet is not an IPv4 CIDR`);
    else if (!publicIp || publicIp.family !== 4) err(`${describePeer(lease)}: public IP is not an IPv4 address`);
    else parsed.push({ lease, subnet: networkOf(subnet), publicIp });
  }
  parsed.sort(comparePeers);
  const kept: ParsedPeer[] = [];
  for (const p of parsed) {
    const err = (message: string) => errors.push({ subnet: p.lease.subnet, publicIp: p.lease.publicIp, message });
    const what = describePeer(p.lease);
    if (p.subnet.prefix === node.subnet.prefix && p.subnet.address.value === node.subnet.address.value) continue;
    if (cidrsOverlap(p.subnet, node.subnet))
      err(`${what}: subnet overlaps this node's subnet ${formatCidr(node.subnet)}`);
    else if (!cidrContains(node.network, p.subnet.address) || p.subnet.prefix < node.network.prefix)
      err(`${what}: subnet is outside the network ${formatCidr(node.network)}`);
    else if (compareIp(p.publicIp, node.publicIp) === 0) err(`${what}: has this node's own public IP`);
    else {
      const clash = kept.find((k) => cidrsOverlap(k.subnet, p.subnet));
      if (clash) err(`${what}: subnet overlaps peer ${clash.lease.publicIp}'s subnet ${clash.lease.subnet}`);
      else kept.push(p);
    }
  }
  return kept;
}

function directRoute(node: BackendNode, p: ParsedPeer): BackendRoute {
  return { dst: formatCidr(p.subnet), via: formatIp(p.publicIp), dev: node.underlay.name, onlink: false };
}

function planHostGw(node: BackendNode, parsed: ParsedNode, peers: ParsedPeer[], errors: PeerError[]): BackendRoute[] {
  const routes: BackendRoute[] = [];
  for (const p of peers) {
    // A next hop must be on a connected prefix of the underlay, or the kernel refuses the route
    // (and a gateway behind a router would not forward our pod-addressed packets anyway).
    if (cidrContains(parsed.segment, p.publicIp)) routes.push(directRoute(node, p));
    else {
      errors.push({
        subnet: p.lease.subnet,
        publicIp: p.lease.publicIp,
        message: `host-gw: ${describePeer(p.lease)}${p.lease.nodeName ? ` of node ${p.lease.nodeName}` : ''} is not on this node's segment ${formatCidr(parsed.segment)}; not routed: use vxlan, vxlan with DirectRouting, or bgp`,
      });
    }
  }
  return routes;
}

interface VxlanPlan {
  device: VxlanDeviceSpec;
  routes: BackendRoute[];
  neighbours: BackendNeighbour[];
  fdb: BackendFdbEntry[];
}

function planVxlan(
  node: BackendNode,
  conf: BackendNetConf,
  parsed: ParsedNode,
  peers: ParsedPeer[],
  errors: PeerError[],
): VxlanPlan {
  const b = conf.backend;
  const name = vxlanDeviceName(b.vni);
  const device: VxlanDeviceSpec = {
    name,
    vni: b.vni,
    port: b.port,
    local: formatIp(parsed.publicIp),
    underlay: node.underlay.name,
    mtu: b.mtu ?? node.underlay.mtu - VXLAN_OVERHEAD_V4,
    mac: vtepMacFor(node.publicIp),
    // Flannel gives flannel.<VNI> the subnet's network address as a /32: the node's VTEP
    // address, which is the source address of packets the node itself sends into the overlay.
    address: `${formatIp(parsed.subnet.address)}/32`,
  };
  const routes: BackendRoute[] = [];
  const neighbours: BackendNeighbour[] = [];
  const fdb: BackendFdbEntry[] = [];
  const macOwner = new Map<string, PeerLease>();
  for (const p of peers) {
    const what = describePeer(p.lease);
    const err = (message: string) => errors.push({ subnet: p.lease.subnet, publicIp: p.lease.publicIp, message });
    if (b.directRouting && cidrContains(parsed.segment, p.publicIp)) {
      // DirectRouting, as Flannel: a peer on our segment is reached by a plain route over the
      // underlay, without encapsulation, and needs no neighbour or FDB entry.
      routes.push(directRoute(node, p));
      continue;
    }
    const mac = p.lease.backendData.VtepMAC?.toLowerCase();
    const vni = p.lease.backendData.VNI;
    if (!mac) {
      err(
        `vxlan: ${what} has no VTEP MAC (its backend is ${p.lease.backendType || 'unknown'})${b.directRouting ? " and is not on this node's segment" : ''}`,
      );
      continue;
    }
    if (!MAC_RE.test(mac) || (parseInt(mac.slice(0, 2), 16) & 1) === 1) {
      err(`vxlan: ${what} has an invalid VTEP MAC "${mac}"`);
      continue;
    }
    if (vni !== undefined && vni !== b.vni) {
      err(`vxlan: ${what} uses VNI ${vni}, this node uses ${b.vni}`);
      continue;
    }
    const owner = macOwner.get(mac);
    if (owner || mac === device.mac) {
      err(`vxlan: ${what} has VTEP MAC ${mac}, already used by ${owner ? describePeer(owner) : 'this node'}`);
      continue;
    }
    macOwner.set(mac, p.lease);
    const vtep = formatIp(p.subnet.address);
    // The peer's VTEP address (its subnet's network address, the /32 on its device) is the next
    // hop. It lies in no connected prefix of our device (which has only our own /32), so the
    // kernel needs `onlink` to accept it as a gateway.
    routes.push({ dst: formatCidr(p.subnet), via: vtep, dev: name, onlink: true });
    // nolearning and no flood entry mean the device can neither ARP for a VTEP address nor
    // learn where a MAC lives, so both mappings are programmed from the lease: the neighbour
    // (VTEP IP → VTEP MAC) and the FDB entry (VTEP MAC → peer's underlay address). Permanent,
    // so the kernel never ages them out or probes for them.
    neighbours.push({ dev: name, ip: vtep, mac });
    fdb.push({ dev: name, mac, dst: formatIp(p.publicIp) });
  }
  return { device, routes, neighbours, fdb };
}

export interface BackendPlanInput {
  node: BackendNode;
  conf: BackendNetConf;
  /** Every lease in the store; the node's own (same subnet) is recognised and skipped. */
  peers: readonly PeerLease[];
}

/** The desired backend state of one node. Throws BackendPlanError for a bad node or config. */
export function planBackend({ node, conf, peers }: BackendPlanInput): DesiredBackendState {
  if (conf.backend.type === 'bgp')
    throw new BackendPlanError('backend plan: the bgp backend routes through BIRD (src/core/bgp), not a kernel plan');
  if (conf.backend.type === 'udp')
    throw new BackendPlanError('backend plan: the udp backend is planned by planUdp (udp-plan.ts), not here');
  const parsed = parseNode(node, conf);
  const errors: PeerError[] = [];
  const kept = screenPeers(parsed, peers, errors);
  const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const sortErrors = (e: PeerError[]) =>
    e.sort((x, y) => byText(x.subnet, y.subnet) || byText(x.publicIp, y.publicIp) || byText(x.message, y.message));
  const sortRoutes = (r: BackendRoute[]) => r.sort((x, y) => comparePrefixes(x.dst, y.dst));
  if (conf.backend.type === 'host-gw') {
    const routes = planHostGw(node, parsed, kept, errors);
    return {
      type: 'host-gw',
      routes: sortRoutes(routes),
      neighbours: [],
      fdb: [],
      errors: sortErrors(errors),
      podMtu: node.underlay.mtu,
    };
  }
  const v = planVxlan(node, conf, parsed, kept, errors);
  return {
    type: 'vxlan',
    device: v.device,
    routes: sortRoutes(v.routes),
    neighbours: v.neighbours.sort((x, y) => comparePrefixes(`${x.ip}/32`, `${y.ip}/32`)),
    fdb: v.fdb.sort((x, y) => byText(x.mac, y.mac)),
    errors: sortErrors(errors),
    podMtu: v.device.mtu,
  };
}

/** Numeric order of canonical CIDR texts (text order would put 10.244.10.0 before 10.244.2.0). */
function comparePrefixes(a: string, b: string): number {
  const x = tryParseCidr(a);
  const y = tryParseCidr(b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0;
  return compareIp(x.address, y.address) || x.prefix - y.prefix;
}
