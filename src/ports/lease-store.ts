/**
 * LeaseStore: where nodes' subnet leases and the cluster network config live. One interface,
 * three implementations: embedded SQLite (default, one machine, many processes), etcd v3 with
 * Flannel's key layout, and a fake with the same semantics for unit tests. Every implementation
 * passes the same contract suite.
 *
 * A lease maps one node subnet to the node that holds it, until `expiresAt`. An expired lease is
 * treated as absent by every method (as if etcd had deleted the key when its TTL ran out).
 */

export interface BackendData {
  /** VXLAN network identifier (vxlan backend). */
  VNI?: number;
  /** MAC address of the node's VXLAN device (vxlan backend). */
  VtepMAC?: string;
}

export interface LeaseAttrs {
  /** The node's underlay address, as Flannel's "PublicIP". */
  publicIp: string;
  /** "vxlan" | "host-gw" (the backend the node runs). */
  backendType: string;
  backendData: BackendData;
  /** Optional node name, for humans (weft get nodes). */
  nodeName?: string;
}

export interface Lease extends LeaseAttrs {
  /** The node's pod subnet in canonical CIDR form, e.g. "10.244.3.0/24". */
  subnet: string;
  /** When the lease runs out, in ms since the epoch. */
  expiresAt: number;
}

export type LeaseEvent = { type: 'added'; lease: Lease } | { type: 'removed'; subnet: string };

export interface LeaseWatch {
  stop(): Promise<void>;
}

export class LeaseTakenError extends Error {
  override readonly name = 'LeaseTakenError';
}

export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

export interface LeaseStore {
  /** The network config text (net-conf.json) stored at the config key; undefined when none is stored. */
  getConfig(): Promise<string | undefined>;
  /** Stores the network config text, replacing what is there. */
  putConfig(text: string): Promise<void>;
  /** Every unexpired lease (an empty list when there are none). */
  listLeases(): Promise<Lease[]>;
  /**
   * Takes `subnet` for `ttlMs` if nobody holds it (or the holder's lease expired), atomically:
   * of many concurrent callers for one subnet exactly one succeeds. Throws LeaseTakenError when a
   * live lease for the subnet exists.
   */
  acquire(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease>;
  /**
   * Extends a lease this node holds (same subnet and publicIp) by `ttlMs` from now, updating its
   * attributes. Throws LeaseLostError when the lease expired or another node holds the subnet now.
   */
  renew(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease>;
  /** Deletes the lease for `subnet`; nothing happens when there is none. */
  revoke(subnet: string): Promise<void>;
  /**
   * Calls `onEvent` for every lease that appears, changes (reported as 'added' with the new
   * value) or disappears (revoked or expired) after the call, in order. Events for the current
   * state are not replayed: call listLeases() after starting the watch and diff.
   * `onError` hears about a broken connection; the watch keeps retrying until stopped.
   */
  watch(onEvent: (e: LeaseEvent) => void, onError?: (err: Error) => void): Promise<LeaseWatch>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
