/**
 * The backend interface of issue 14, as the lead's brief gives its shape (the lead's own file
 * replaces this one when it lands on main): one object per Backend.Type, called by the agent's
 * `backend` SyncController.
 */

import type { BackendNetConf, BackendNode, BackendType, PeerError, PeerLease } from '../../core/backend/state.js';

export interface BackendSyncInput {
  node: BackendNode;
  conf: BackendNetConf;
  peers: PeerLease[];
}

export interface BackendSyncResult {
  /** The MTU the CNI config gives pods. */
  podMtu: number;
  /** What changed, for the log (empty: nothing). */
  described: string[];
  /** Peers this backend cannot serve (node warning). */
  peerErrors: PeerError[];
  /** Underlay ports the node guard keeps pods (and non-peers) from: vxlan 8472/udp, udp 8285/udp, bgp 179/tcp. */
  guardPorts: { protocol: 'udp' | 'tcp'; port: number }[];
}

export interface Backend {
  readonly type: BackendType;
  /** The BackendData this node publishes in its lease (vxlan: VNI and VtepMAC). */
  leaseData(publicIp: string): Record<string, unknown>;
  /** Brings the node (kernel state and the backend's own processes) in line with the peers. Idempotent. */
  sync(input: BackendSyncInput): Promise<BackendSyncResult>;
  /** A problem that makes the node unhealthy right now, or undefined. */
  problem(): string | undefined;
  /** Stops the backend's own processes (BIRD, the UDP forwarder); the kernel keeps forwarding what it has. */
  stop(): Promise<void>;
  /** `weft agent cleanup`: removes everything the backend put in the kernel. */
  teardown(): Promise<void>;
}
