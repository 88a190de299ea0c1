/**
 * LeaseStore: where nodes' subnet leases and the cluster network config live. One interface,
 * three implementations: embedded SQLite (default, one machine, many processes), etcd v3 with
 * Flannel's key layout, and an in-memory fake for unit tests (src/testkit/lease-store-fake.ts).
 * All three pass one contract suite (src/testkit/lease-store-contract.ts), run by
 * src/adapters/lease-store-sqlite.test.ts, src/testkit/lease-store-fake.test.ts and, against a
 * real etcd, test/lease-store-etcd.test.ts.
 *
 * A lease maps one node subnet to the node that holds it, until `expiresAt`. An expired lease is
 * treated as absent by every method (as if etcd had deleted the key when its TTL ran out).
 * Subnets cross this port in canonical CIDR form ("10.244.3.0/24"); a lease is "this node's"
 * when its publicIp is the caller's.
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
  /**
   * When the lease runs out, in ms since the epoch. Exact for the lease acquire/renew return;
   * for a lease read back it is never later than the real expiry (etcd counts TTLs in whole
   * seconds and is asked for a lease's remaining TTL only when the last answer has run out).
   */
  expiresAt: number;
}

/**
 * 'added': a lease appeared, or its attributes (publicIp, backend, node name) changed; it carries
 * the new value. A renewal that only moves expiresAt is not an event (etcd's keepalive does not
 * touch the key, so no store could report it alike). 'removed': the lease was revoked or expired.
 */
export type LeaseEvent = { type: 'added'; lease: Lease } | { type: 'removed'; subnet: string };

export interface LeaseWatch {
  /** Stops the watch: no event is delivered once it resolved. Stopping twice does nothing. */
  stop(): Promise<void>;
}

export interface LeaseStore {
  /** The network config text (net-conf.json) stored at the config key; undefined when none is stored. */
  getConfig(): Promise<string | undefined>;
  /** Stores the network config text as given (no parsing), replacing what is there. */
  putConfig(text: string): Promise<void>;
  /** Every unexpired lease, sorted by subnet (an empty list when there are none). */
  listLeases(): Promise<Lease[]>;
  /**
   * Takes `subnet` for `ttlMs` if nobody holds it (or the holder's lease expired), atomically:
   * of many concurrent callers for one subnet (in any process) exactly one succeeds. Resolves to
   * the lease as stored. Throws LeaseTakenError when a live lease for the subnet exists, whoever
   * holds it (this node included: renew() is the call for that), and leaves that lease as it is.
   */
  acquire(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease>;
  /**
   * Extends a lease this node holds (same subnet and publicIp) by `ttlMs` from now, updating its
   * other attributes. Throws LeaseLostError when there is no live lease for the subnet (never
   * acquired, revoked or expired) or another node holds it now; nothing is written then.
   */
  renew(subnet: string, attrs: LeaseAttrs, ttlMs: number): Promise<Lease>;
  /** Deletes the lease for `subnet`, whoever holds it; resolves quietly when there is none. */
  revoke(subnet: string): Promise<void>;
  /**
   * Calls `onEvent` for every change (see LeaseEvent) after the call, once each and in order.
   * Events for the current state are not replayed: call listLeases() after starting the watch
   * and diff. `onError` hears about a broken connection (once per outage); the watch keeps
   * retrying until stopped and, once back, reports what changed meanwhile as events.
   */
  watch(onEvent: (e: LeaseEvent) => void, onError?: (err: Error) => void): Promise<LeaseWatch>;
  /** Stops every watch and releases connections and timers; the store is unusable afterwards. */
  close(): Promise<void>;
}
