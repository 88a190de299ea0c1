/**
 * Every metric the agent exports, declared once: name, help, labels (and buckets). Controllers
 * and the runtime take their counters from here, through the Metrics port
 * (src/ports/metrics.ts; prom-client behind it), so a name is spelled in one place and what a
 * user scrapes does not change by accident.
 *
 * Names kept from the agent's first registry (unchanged): weft_backend_syncs_total{result},
 * weft_backend_changes_total, weft_peers, weft_peer_errors, weft_lease_expiry_seconds.
 * New: the per-controller family weft_controller_* (every loop: subnet, backend, ip-masq,
 * cni-files, cni-socket, policy) and weft_policy_*.
 */

import type { HistogramDef, MetricDef } from '../ports/metrics.js';

/** Sync durations: a no-op resync takes well under a millisecond, a full policy table seconds. */
export const SYNC_SECONDS_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const CONTROLLER_SYNCS: MetricDef = {
  name: 'weft_controller_syncs_total',
  help: 'Syncs by controller and result (ok or error).',
  labelNames: ['controller', 'result'],
};

export const CONTROLLER_SYNC_ERRORS: MetricDef = {
  name: 'weft_controller_sync_errors_total',
  help: 'Failed syncs by controller (each is logged with its error and retried with backoff).',
  labelNames: ['controller'],
};

export const CONTROLLER_SYNC_SECONDS: HistogramDef = {
  name: 'weft_controller_sync_duration_seconds',
  help: 'How long one sync took, by controller (successful and failed).',
  labelNames: ['controller'],
  buckets: SYNC_SECONDS_BUCKETS,
};

export const CONTROLLER_READY: MetricDef = {
  name: 'weft_controller_ready',
  help: '1 when the controller is ready (started and its last sync succeeded), else 0.',
  labelNames: ['controller'],
};

export const CONTROLLER_LAST_SYNC: MetricDef = {
  name: 'weft_controller_last_sync_timestamp_seconds',
  help: 'When the controller last synced successfully (unix time).',
  labelNames: ['controller'],
};

export const BACKEND_SYNCS: MetricDef = {
  name: 'weft_backend_syncs_total',
  help: 'Backend syncs by result.',
  labelNames: ['result'],
};
export const BACKEND_CHANGES: MetricDef = {
  name: 'weft_backend_changes_total',
  help: 'Kernel changes applied by the backend reconciler.',
};
export const PEERS: MetricDef = { name: 'weft_peers', help: 'Peer nodes with a live lease.' };
export const PEER_ERRORS: MetricDef = {
  name: 'weft_peer_errors',
  help: 'Peers the backend cannot serve (see the log).',
};
export const LEASE_EXPIRY: MetricDef = {
  name: 'weft_lease_expiry_seconds',
  help: "When the node's lease runs out (unix time).",
};

export const POLICY_REVISION: MetricDef = {
  name: 'weft_policy_revision',
  help: 'The objects revision whose NetworkPolicies the kernel enforces.',
};

export const FLOWS: MetricDef = {
  name: 'weft_flows_total',
  help: 'Flows logged by the policy table (allowed new connections and denied packets), by verdict, namespace and policy (a drop counts once for each policy isolating the pod).',
  labelNames: ['verdict', 'namespace', 'policy'],
};

export const FLOW_LOG_RECORDS: MetricDef = {
  name: 'weft_flow_log_records_total',
  help: "Packets the node's flow log read from its NFLOG group, by result: flow; unreadable (not an IPv4 packet, not weft's prefix, or an unknown chain); lost (logged by the kernel but not delivered: the reader's socket buffer was full).",
  labelNames: ['result'],
};

export const FLOW_LOG_RESTARTS: MetricDef = {
  name: 'weft_flow_log_restarts_total',
  help: "Times the node's flow log reader failed (could not bind its NFLOG group, or stopped reading) and was reopened.",
};

/** Every metric above (for tests: unique names, one prefix). */
export const ALL_METRICS: readonly MetricDef[] = [
  CONTROLLER_SYNCS,
  CONTROLLER_SYNC_ERRORS,
  CONTROLLER_SYNC_SECONDS,
  CONTROLLER_READY,
  CONTROLLER_LAST_SYNC,
  BACKEND_SYNCS,
  BACKEND_CHANGES,
  PEERS,
  PEER_ERRORS,
  LEASE_EXPIRY,
  POLICY_REVISION,
  FLOWS,
  FLOW_LOG_RECORDS,
  FLOW_LOG_RESTARTS,
];

export const UDP_FORWARDED: MetricDef = {
  name: 'weft_udp_forwarded_packets_total',
  help: 'udp backend: packets the forwarder sent to peers (sent) and wrote to its TUN from peers (received).',
  labelNames: ['direction'],
};
export const UDP_DROPPED: MetricDef = {
  name: 'weft_udp_dropped_packets_total',
  help: 'udp backend: packets the forwarder dropped, by reason (no-route: no peer owns the destination; unknown-sender: a datagram from a host that is no peer; ...).',
  labelNames: ['reason'],
};
