/**
 * The data of `weft ui`, the lab's live dashboard: one snapshot of the lab (nodes with their
 * subnets and health, pods by node and namespace, Services with their endpoints, NetworkPolicies
 * with the pods they select) computed from the stored objects, and the reachability matrix in the
 * same shape `weft reach -o json` prints. Pure, so the page and the tests see the same values the
 * CLI computes; the server (src/lab/ui-server.ts) only reads the store and sends these.
 */

import type { EndpointSlice, Labels, NetworkPolicy, Pod, Service } from '../k8s/objects.js';
import { SERVICE_NAME_LABEL } from '../k8s/objects.js';
import type { NodeInfo } from '../../ports/object-store.js';
import { selectingPolicies, type PolicyCluster } from '../policy/evaluate.js';
import { reachMatrix, reachVerdict, type ReachPod } from '../policy/reach.js';
import { explainVerdict } from '../policy/explain.js';
import type { MatrixProtocol, ProbeMatrix } from './probe-table.js';

/** A node as its runner registers it (the object store's NodeInfo, without the heartbeat), with its processes. */
export interface DashboardNode extends Omit<NodeInfo, 'heartbeat'> {
  /** Whether the node's agent and pod runner processes are alive (`weft lab status`'s columns). */
  agent?: boolean;
  runner?: boolean;
  /** The agent's controllers that are not ready, with why (from its node status document). */
  failing?: string[];
}

/** What the lab knows of a node beyond the store: its processes and its agent's controllers. */
export interface NodeHealth {
  agent: boolean;
  runner: boolean;
  controllers?: ReadonlyArray<{ name: string; ready: boolean; state: string; lastError?: string }>;
}

export interface DashboardPod {
  namespace: string;
  name: string;
  node?: string;
  ip?: string;
  phase: string;
  hostNetwork: boolean;
  labels: Labels;
}

export interface DashboardEndpoint {
  address: string;
  /** The pod that has the address, as namespace/name, when one does. */
  pod?: string;
  node?: string;
  ready: boolean;
}

export interface DashboardService {
  namespace: string;
  name: string;
  type: string;
  clusterIP?: string;
  ports: Array<{ name?: string; port: number; protocol: string; targetPort: number | string; nodePort?: number }>;
  endpoints: DashboardEndpoint[];
}

export interface DashboardPolicy {
  namespace: string;
  name: string;
  policyTypes: string[];
  /** The pods (namespace/name) the policy selects, in name order. */
  selects: string[];
  ingressRules: number;
  egressRules: number;
}

export interface DashboardLab {
  name: string;
  backend: string;
  network: string;
  /** The underlay segments' CIDRs (one unless the lab has routed segments). */
  segments: string[];
}

export interface DashboardSnapshot {
  lab: DashboardLab;
  /** The store revision the objects are read at. */
  revision: number;
  nodes: DashboardNode[];
  pods: DashboardPod[];
  services: DashboardService[];
  policies: DashboardPolicy[];
  /** The probes the lab keeps (the last `weft probe` of each port and protocol), with when each ran. */
  probes: ProbeStamp[];
}

export interface ProbeStamp {
  port: number;
  protocol: MatrixProtocol;
  time: number;
}

export interface DashboardInput {
  lab: DashboardLab;
  revision: number;
  nodes: readonly NodeInfo[];
  pods: readonly Pod[];
  services: readonly Service[];
  slices: readonly EndpointSlice[];
  cluster: PolicyCluster;
  /** By node name; a node missing here shows only what the store says. */
  health?: ReadonlyMap<string, NodeHealth>;
  probes?: readonly ProbeStamp[];
}

const byRef = <T extends { namespace: string; name: string }>(a: T, b: T) =>
  `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`);

function dashboardPod(p: Pod): DashboardPod {
  return {
    namespace: p.metadata.namespace,
    name: p.metadata.name,
    ...(p.spec.nodeName ? { node: p.spec.nodeName } : {}),
    ...(p.status?.podIP ? { ip: p.status.podIP } : {}),
    phase: p.status?.phase ?? 'Pending',
    hostNetwork: p.spec.hostNetwork,
    labels: p.metadata.labels,
  };
}

/** A pod as `weft reach` and `weft explain` see it (LabClient.reachPod): an address only while Running. */
export function reachPodOf(p: Pod): ReachPod {
  const running = p.status?.phase === 'Running';
  return {
    namespace: p.metadata.namespace,
    name: p.metadata.name,
    labels: p.metadata.labels,
    hostNetwork: p.spec.hostNetwork,
    ports: p.spec.containers.flatMap((c) => c.ports),
    ...(running && p.status?.podIP ? { ip: p.status.podIP } : {}),
    ...(p.spec.nodeName ? { node: p.spec.nodeName } : {}),
  };
}

function dashboardService(s: Service, slices: readonly EndpointSlice[], podByIp: Map<string, Pod>): DashboardService {
  const { namespace, name } = s.metadata;
  const endpoints: DashboardEndpoint[] = [];
  for (const slice of slices) {
    if (slice.metadata.namespace !== namespace || slice.metadata.labels[SERVICE_NAME_LABEL] !== name) continue;
    for (const e of slice.endpoints)
      for (const address of e.addresses) {
        const pod = podByIp.get(address);
        // The EndpointSlice API: an absent `ready` means ready.
        endpoints.push({
          address,
          ...(pod ? { pod: `${pod.metadata.namespace}/${pod.metadata.name}` } : {}),
          ...(e.nodeName ? { node: e.nodeName } : {}),
          ready: e.conditions?.ready !== false,
        });
      }
  }
  endpoints.sort((a, b) => a.address.localeCompare(b.address, 'en', { numeric: true }));
  return {
    namespace,
    name,
    type: s.spec.type,
    ...(s.spec.clusterIP ? { clusterIP: s.spec.clusterIP } : {}),
    ports: s.spec.ports.map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      port: p.port,
      protocol: p.protocol,
      targetPort: p.targetPort,
      ...(p.nodePort !== undefined ? { nodePort: p.nodePort } : {}),
    })),
    endpoints,
  };
}

function dashboardPolicy(p: NetworkPolicy, cluster: PolicyCluster, pods: readonly Pod[]): DashboardPolicy {
  const one: PolicyCluster = { namespaces: cluster.namespaces, policies: [p] };
  const selects = pods
    .filter((pod) => {
      const r = reachPodOf(pod);
      const policyPod = { ...r, selectable: !r.hostNetwork };
      return p.spec.policyTypes.some((d) => selectingPolicies(one, policyPod, d).length > 0);
    })
    .map((pod) => `${pod.metadata.namespace}/${pod.metadata.name}`)
    .sort();
  return {
    namespace: p.metadata.namespace,
    name: p.metadata.name,
    policyTypes: [...p.spec.policyTypes],
    selects,
    ingressRules: p.spec.ingress.length,
    egressRules: p.spec.egress.length,
  };
}

function healthOf(h: NodeHealth | undefined): Pick<DashboardNode, 'agent' | 'runner' | 'failing'> {
  if (!h) return {};
  const failing = (h.controllers ?? [])
    .filter((c) => !c.ready)
    .map((c) => `${c.name} ${c.state}${c.lastError ? ` (${c.lastError})` : ''}`);
  return { agent: h.agent, runner: h.runner, ...(failing.length > 0 ? { failing } : {}) };
}

/** The dashboard's snapshot of the lab, every list in a stable order (so equal states compare equal). */
export function dashboardSnapshot(input: DashboardInput): DashboardSnapshot {
  const podByIp = new Map<string, Pod>();
  for (const p of input.pods) if (p.status?.podIP && !p.spec.hostNetwork) podByIp.set(p.status.podIP, p);
  return {
    lab: input.lab,
    revision: input.revision,
    nodes: input.nodes
      .map((n) => ({
        name: n.name,
        internalIP: n.internalIP,
        ...(n.podCIDR ? { podCIDR: n.podCIDR } : {}),
        ...(n.backend ? { backend: n.backend } : {}),
        ready: n.ready,
        ...(n.message ? { message: n.message } : {}),
        ...healthOf(input.health?.get(n.name)),
      }))
      .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true })),
    pods: input.pods.map(dashboardPod).sort(byRef),
    services: input.services.map((s) => dashboardService(s, input.slices, podByIp)).sort(byRef),
    policies: input.cluster.policies.map((p) => dashboardPolicy(p, input.cluster, input.pods)).sort(byRef),
    probes: [...(input.probes ?? [])].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol)),
  };
}

export interface DashboardMatrix {
  port: number;
  protocol: MatrixProtocol;
  pods: string[];
  results: Array<{ from: string; to: string; allowed: boolean }>;
}

/**
 * `weft reach -o json -A`'s matrix: the pods of every namespace but kube-system (or of the
 * namespaces given), sorted by namespace/name, every ordered pair with its verdict.
 */
export function dashboardMatrix(
  cluster: PolicyCluster,
  pods: readonly Pod[],
  port: number,
  protocol: MatrixProtocol,
  namespaces?: readonly string[],
): DashboardMatrix {
  const chosen = pods
    .filter((p) =>
      namespaces === undefined ? p.metadata.namespace !== 'kube-system' : namespaces.includes(p.metadata.namespace),
    )
    .map(reachPodOf)
    .sort(byRef);
  return {
    port,
    protocol,
    pods: chosen.map((p) => `${p.namespace}/${p.name}`),
    results: reachMatrix(cluster, chosen, port, protocol),
  };
}

/**
 * `weft explain FROM TO --port P --protocol PROTO`'s text for a matrix cell, and its verdict; an
 * error naming the argument when a pod does not exist.
 */
export function explainPair(
  cluster: PolicyCluster,
  pods: readonly Pod[],
  from: string,
  to: string,
  port: number,
  protocol: MatrixProtocol,
): { allowed: boolean; text: string } {
  const find = (ref: string, arg: string): ReachPod => {
    const p = pods.find((v) => `${v.metadata.namespace}/${v.metadata.name}` === ref);
    if (!p) throw new Error(`${arg}: pod "${ref}" not found`);
    return reachPodOf(p);
  };
  const v = reachVerdict(cluster, find(from, 'from'), find(to, 'to'), port, protocol);
  if (v.kind === 'fixed')
    return {
      allowed: v.allowed,
      text: `${from} -> ${to} on ${port}/${protocol}: ${v.allowed ? 'ALLOWED' : 'DENIED'}\n  ${v.reason}\n`,
    };
  return { allowed: v.verdict.allowed, text: explainVerdict(from, to, port, protocol, v.verdict) };
}

/** The last `weft probe` matrix of a port and protocol, as the lab keeps it (src/lab/probe-store.ts). */
export interface KeptProbe extends ProbeMatrix {
  /** When the probe ran (ms since the epoch). */
  time: number;
  /** The store revision when it ran: the lab may have changed since. */
  revision: number;
}

/** A matrix cell with the last probe over it. */
export interface OverlaidResult {
  from: string;
  to: string;
  allowed: boolean;
  /** What the probe measured; absent when the probe did not cover the pair. */
  connected?: boolean;
  /** Whether the probe agrees with the model (allowed and connected, or denied and not). */
  agrees?: boolean;
  /** For a disagreement, what may explain it when weft knows (no container port declared). */
  hint?: string;
}

export interface OverlaidMatrix extends Omit<DashboardMatrix, 'results'> {
  results: OverlaidResult[];
  /** The probe laid over the matrix (without its results: they are in the cells). */
  probe?: { time: number; revision: number; pods: number };
  /** Every pair where the probe and the model disagree, in words. */
  disagreements: string[];
}

/**
 * The matrix with the last probe of the same port and protocol over it: each pair the probe
 * covered gets what it measured and whether that agrees with the model. A disagreement is listed,
 * never smoothed over: it is either a bug in weft or a pod that does not serve the port (the hint
 * says so when the destination declares no such container port).
 */
export function overlayProbe(
  matrix: DashboardMatrix,
  probe: KeptProbe | undefined,
  pods: readonly Pod[],
): OverlaidMatrix {
  if (!probe || probe.port !== matrix.port || probe.protocol !== matrix.protocol)
    return { ...matrix, results: matrix.results.map((r) => ({ ...r })), disagreements: [] };
  const measured = new Map(probe.results.map((r) => [`${r.from} ${r.to}`, r.connected]));
  const serves = (ref: string) =>
    pods
      .find((p) => `${p.metadata.namespace}/${p.metadata.name}` === ref)
      ?.spec.containers.some((c) =>
        c.ports.some((cp) => cp.containerPort === matrix.port && cp.protocol === matrix.protocol),
      ) ?? false;
  const disagreements: string[] = [];
  const results = matrix.results.map((r): OverlaidResult => {
    const connected = measured.get(`${r.from} ${r.to}`);
    if (connected === undefined) return { ...r };
    const agrees = connected === r.allowed;
    if (agrees) return { ...r, connected, agrees };
    const hint =
      r.allowed && !serves(r.to) ? `${r.to} declares no container port ${matrix.port}/${matrix.protocol}` : undefined;
    disagreements.push(
      `${r.from} -> ${r.to}: weft reach says ${r.allowed ? 'allowed' : 'denied'}, weft probe ${connected ? 'connected' : 'did not connect'}${hint ? ` (${hint})` : ''}`,
    );
    return { ...r, connected, agrees, ...(hint ? { hint } : {}) };
  });
  return {
    ...matrix,
    results,
    probe: { time: probe.time, revision: probe.revision, pods: probe.pods.length },
    disagreements,
  };
}
