/**
 * What the agent asks of a backend, the part of Flannel that gets a packet from this node's pods
 * to another node's. Each backend is one file in this directory behind this interface; the agent's
 * `backend` controller picks one by net-conf's Backend.Type (index.ts) and never branches on the
 * type itself.
 *
 * A backend owns the kernel state and the processes of its way of forwarding: vxlan and host-gw
 * (kernel-routes.ts) only routes, a VXLAN device, neighbours and FDB entries; a backend that runs a
 * daemon (a routing daemon, a userspace forwarder) also starts, supervises and stops it. `sync` is
 * idempotent and is called on every lease event, config change and periodic resync, never
 * concurrently (the agent's SyncRunner).
 */

import type { BackendNetConf, BackendNode, BackendType, PeerError, PeerLease } from '../../core/backend/state.js';
import type { GuardedPort } from '../../core/nft/node-guard.js';
import type { BackendData } from '../../ports/lease-store.js';
import type { Clock } from '../../ports/clock.js';
import type { Exec, SpawnChild } from '../../ports/exec.js';
import type { Logger } from '../../ports/logger.js';
import type { Metrics } from '../../ports/metrics.js';
import type { Netlink } from '../../ports/netlink.js';

export interface BackendSyncInput {
  node: BackendNode;
  conf: BackendNetConf;
  /** The peers' leases the agent believes (conflicting ones are already left out). */
  peers: PeerLease[];
}

export interface BackendSyncResult {
  /** The MTU pods get (subnet.env's FLANNEL_MTU). */
  podMtu: number;
  /** What this sync changed, one line each, for the log; empty when nothing did. */
  described: string[];
  /** Peers this backend cannot serve (the node's warning); the others are served. */
  peerErrors: PeerError[];
  /** Underlay ports only peers may send to (vxlan: its UDP port). */
  guardPorts: GuardedPort[];
}

export interface Backend {
  readonly type: BackendType;
  /** Brings the node (kernel state, the backend's own processes) in line with the peers. */
  sync(input: BackendSyncInput): Promise<BackendSyncResult>;
  /** Why the backend cannot forward right now (a daemon down and being restarted), or undefined. */
  problem(): string | undefined;
  /** Stops the backend's own processes; what it put in the kernel stays, so forwarding goes on. */
  stop(): Promise<void>;
}

/** What a backend may use. One set for every backend, so the factory needs no per-type wiring. */
export interface BackendDeps {
  netlink: Netlink;
  exec: Exec;
  /** Starts a long-lived child (a backend's daemon, e.g. BIRD) in the agent's namespace. */
  spawn: SpawnChild;
  clock: Clock;
  log: Logger;
  /** The agent's metrics (the udp backend counts its forwarder's packets there). */
  metrics: Metrics;
  /** The agent's run directory (subnet.env lives there): a backend's own files go under it. */
  runDir: string;
}

/** One backend type: what its nodes publish in their leases, and how to make one. */
export interface BackendKind {
  readonly type: BackendType;
  /** The BackendData this node publishes in its lease (vxlan: VNI and VTEP MAC). */
  leaseData(conf: BackendNetConf, publicIp: string): BackendData;
  create(deps: BackendDeps): Backend;
  /**
   * `weft agent cleanup`: removes what this backend type leaves behind beyond routes and devices
   * with weft's marks (which the kernel-routes teardown removes for every type).
   */
  cleanup?(deps: BackendDeps): Promise<string[]>;
}
