/**
 * The plain values the backends trade in: what a node knows about itself and the cluster
 * (BackendNode, BackendNetConf, PeerLease), the kernel state weft wants (DesiredBackendState) and
 * the kernel state it found (ActualBackendState), and the change list between the two
 * (BackendChange). Planning (plan.ts) and diffing (diff.ts) are pure functions over these; the
 * Netlink port (src/ports/netlink.ts) reads ActualBackendState and applies BackendChange lists.
 *
 * IPv4 only for now: the overlay and the underlay are IPv4, as in Flannel's vxlan and host-gw.
 */

import type { Lease } from '../../ports/lease-store.js';
import type { BgpConf } from '../bgp/bird-config.js';

export type BackendType = 'vxlan' | 'host-gw' | 'udp' | 'bgp';

/** This node, as the backend sees it: its lease and the underlay interface it talks through. */
export interface BackendNode {
  /** The node's pod subnet (its lease), e.g. "10.244.1.0/24". */
  subnet: string;
  /** The node's underlay address (Flannel's PublicIP), e.g. "10.99.0.1". */
  publicIp: string;
  underlay: {
    /** The underlay interface, e.g. "eth0". */
    name: string;
    /** Its address with the connected prefix, e.g. "10.99.0.1/24": the node's L2 segment. */
    cidr: string;
    mtu: number;
  };
}

/** The parts of Flannel's net-conf.json the backends need. */
export interface BackendNetConf {
  /** The whole cluster's pod network, e.g. "10.244.0.0/16". */
  network: string;
  backend: {
    type: BackendType;
    /** VXLAN network identifier (Flannel's default: 1). */
    vni: number;
    /** vxlan: the VXLAN UDP port (Flannel's default: 8472, the Linux kernel's); udp: the forwarder's port (8285). */
    port: number;
    /** vxlan only: peers on this node's segment get direct routes instead of VXLAN. */
    directRouting: boolean;
    /** Overrides the VXLAN device MTU (default: underlay MTU - 50). */
    mtu?: number;
    /** The bgp backend's settings (set exactly when type is "bgp"). */
    bgp?: BgpConf;
  };
}

/** What the backends read from a peer's lease. */
export type PeerLease = Pick<Lease, 'subnet' | 'publicIp' | 'backendType' | 'backendData'> & { nodeName?: string };

/** The VXLAN device of the vxlan backend, as weft wants it. */
export interface VxlanDeviceSpec {
  name: string;
  vni: number;
  port: number;
  /** Source address of the outer packets: the node's public IP. */
  local: string;
  /** The underlay interface the device sends through. */
  underlay: string;
  mtu: number;
  mac: string;
  /** The node subnet's network address as a /32, e.g. "10.244.1.0/32" (the node's VTEP address). */
  address: string;
}

export interface BackendRoute {
  /** The peer's subnet (udp: the whole cluster network). */
  dst: string;
  /**
   * The next hop: the peer's VTEP address (vxlan) or its public IP (host-gw, direct routing);
   * none for a route straight into a device (udp: the network into the TUN device).
   */
  via?: string;
  dev: string;
  /** Gateway outside every connected prefix of `dev` (the vxlan case); see plan.ts. */
  onlink: boolean;
}

export interface BackendNeighbour {
  dev: string;
  ip: string;
  mac: string;
}

export interface BackendFdbEntry {
  dev: string;
  mac: string;
  /** The peer's underlay address: where VXLAN packets for `mac` are sent. */
  dst: string;
}

/** A peer the backend cannot serve; the other peers are unaffected. */
export interface PeerError {
  subnet: string;
  publicIp: string;
  message: string;
}

export interface DesiredBackendState {
  /** 'none': no backend at all (teardown): no weft device, no weft route. */
  type: BackendType | 'none';
  /** The vxlan backend's device; undefined for host-gw (and then no weft VXLAN device may exist). */
  device?: VxlanDeviceSpec;
  /** Sorted by dst. */
  routes: BackendRoute[];
  /** Sorted by ip. */
  neighbours: BackendNeighbour[];
  /** Sorted by mac. */
  fdb: BackendFdbEntry[];
  /** Sorted by subnet. */
  errors: PeerError[];
  /** The MTU pods should use (subnet.env's FLANNEL_MTU). */
  podMtu: number;
}

/** A weft VXLAN device as the kernel reports it. */
export interface VxlanDeviceState {
  name: string;
  vni: number;
  port: number;
  /** undefined when the device has no fixed local address. */
  local?: string;
  /** undefined when the device is not bound to an underlay interface. */
  underlay?: string;
  learning: boolean;
  mtu: number;
  mac: string;
  up: boolean;
  /** IPv4 addresses with prefix, e.g. ["10.244.1.0/32"]. */
  addresses: string[];
}

export interface ActualRoute {
  dst: string;
  via?: string;
  dev?: string;
  onlink: boolean;
  /** "unicast" unless the route is a blackhole, unreachable, ... */
  type: string;
}

export interface ActualNeighbour extends BackendNeighbour {
  /** NUD_PERMANENT: only permanent entries are weft's; the kernel's own ones are left alone. */
  permanent: boolean;
}

export interface ActualBackendState {
  /** Every VXLAN device whose name has weft's prefix. */
  devices: VxlanDeviceState[];
  /** Every route in the main table with weft's protocol number. */
  routes: ActualRoute[];
  /** Neighbours on the devices in `devices`. */
  neighbours: ActualNeighbour[];
  /** FDB entries with a destination on the devices in `devices`. */
  fdb: BackendFdbEntry[];
}

/** The desired state of "no backend": what teardown converges to. */
export function noBackend(): DesiredBackendState {
  return { type: 'none', routes: [], neighbours: [], fdb: [], errors: [], podMtu: 0 };
}

/** A namespace with none of weft's backend state in it. */
export function emptyActual(): ActualBackendState {
  return { devices: [], routes: [], neighbours: [], fdb: [] };
}

/**
 * One kernel change. `add-*` and `replace-*` differ only for humans (the renderer uses the
 * kernel's replace for both, so a repeated apply is harmless); deletes name the object exactly.
 */
export type BackendChange =
  | { kind: 'create-device'; device: VxlanDeviceSpec; reason: string }
  | { kind: 'delete-device'; name: string; reason: string }
  | { kind: 'set-device'; name: string; mtu?: number; mac?: string; up?: true }
  | { kind: 'add-address'; dev: string; cidr: string }
  | { kind: 'delete-address'; dev: string; cidr: string }
  | { kind: 'add-route' | 'replace-route'; route: BackendRoute }
  | { kind: 'delete-route'; route: ActualRoute }
  | { kind: 'add-neighbour' | 'replace-neighbour'; neighbour: BackendNeighbour }
  | { kind: 'delete-neighbour'; neighbour: BackendNeighbour }
  | { kind: 'add-fdb' | 'replace-fdb'; entry: BackendFdbEntry }
  | { kind: 'delete-fdb'; entry: BackendFdbEntry };
