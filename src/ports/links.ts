/**
 * Links: the port to the kernel's links, addresses and routes, in the process's own network
 * namespace or in one given by path. The real implementation (src/adapters/iproute2.ts) reads with
 * `ip -j` and applies a whole list of changes with one `ip -batch -` process per namespace, so a
 * CNI ADD costs a handful of processes rather than one per command.
 *
 * Changes are plain data (LinkChange) so that plugins build them and tests can read them.
 */

import type { CniRoute } from '../core/cni/result.js';

export interface AddressState {
  /** "addr/prefix" with host bits, as on the interface. */
  cidr: string;
  family: 4 | 6;
  /** IPv6 only: duplicate address detection is still running (the address is not usable yet). */
  tentative: boolean;
  /** IPv6 only: duplicate address detection found another holder. */
  dadFailed: boolean;
}

export interface LinkState {
  name: string;
  index: number;
  /** "bridge", "veth", ...; undefined for a plain device. */
  kind?: string;
  /** veth only: the ifindex of the peer (in the peer's namespace). */
  peerIndex?: number;
  /** Name of the bridge (or other master) the link is enslaved to, if any. */
  master?: string;
  mtu: number;
  mac: string;
  /** Administratively up (IFF_UP). */
  up: boolean;
  promisc: boolean;
  /** Bridge ports only: hairpin mode. */
  hairpin?: boolean;
  addresses: AddressState[];
}

export interface RouteState {
  /** Destination in CIDR form; the default route is "0.0.0.0/0" or "::/0". */
  dst: string;
  gateway?: string;
  dev?: string;
}

/** A route to install: the CNI result's route shape (dst, gw and the 1.1 attributes). */
export type RouteSpec = CniRoute;

export type LinkChange =
  | { op: 'add-bridge'; name: string; mtu?: number }
  /** A veth pair whose peer is created directly in the namespace at `peerNetns` (a path). */
  | { op: 'add-veth'; name: string; mtu?: number; peer: string; peerNetns: string; peerMac?: string }
  | { op: 'set-master'; name: string; master: string }
  | { op: 'set-up'; name: string }
  | { op: 'set-mac'; name: string; mac: string }
  | { op: 'set-promisc'; name: string; on: boolean }
  | { op: 'set-hairpin'; name: string; on: boolean }
  /** `none`: the link gets no IPv6 link-local address when it comes up (an IPv4-only pod). */
  | { op: 'set-addrgenmode'; name: string; mode: 'none' | 'eui64' }
  | { op: 'add-address'; dev: string; cidr: string; nodad?: boolean }
  | { op: 'del-address'; dev: string; cidr: string }
  /** Create-or-replace, so that a retried change is idempotent. */
  | { op: 'replace-route'; dev: string; route: RouteSpec }
  | { op: 'del-link'; name: string };

export interface NsOption {
  /** Path of the network namespace to work in; the process's own when omitted. */
  netns?: string;
}

export interface ApplyOptions extends NsOption {
  /** Names the action for error messages ("create veth pair a / b"). */
  context: string;
  /** Links to read back after the changes, in the same batch; their states are returned in order. */
  read?: readonly string[];
}

export interface Links {
  /** The link and its addresses; undefined when no link has that name. */
  get(name: string, opts?: NsOption): Promise<LinkState | undefined>;
  /** Every link of the namespace with its addresses, in one read; [] when there are none. */
  list(opts?: NsOption): Promise<LinkState[]>;
  /** Routes of the main table in one family; [] when there are none. */
  routes(family: 4 | 6, opts?: NsOption): Promise<RouteState[]>;
  /**
   * Applies the changes in order, in one batch, then reads back the links named in `opts.read`
   * (returned in that order; [] without it). Stops at the first failure and rejects with a
   * LinkBatchError naming it; a link to read that does not exist is a failure too. Changes made
   * before the failure stay: callers roll back what they know they made.
   */
  apply(changes: readonly LinkChange[], opts: ApplyOptions): Promise<LinkState[]>;
}
