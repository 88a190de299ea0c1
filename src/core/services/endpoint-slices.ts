/**
 * The EndpointSlices of a Service with a selector, as kube-controller-manager's EndpointSlice
 * controller writes them: pure, from the Service and the pods of its namespace.
 *
 * - An endpoint per pod the selector matches that has an address and is not finished (phase
 *   Running, or still terminating): conditions ready (the pod's Ready condition, and not
 *   terminating), serving (Ready, terminating or not) and terminating (the pod is being
 *   deleted), its nodeName and a targetRef to the pod. With spec.publishNotReadyAddresses every
 *   endpoint is ready (podToEndpoint: `ready := publishNotReadyAddresses || (serving && !terminating)`).
 * - hostname: the pod's spec.hostname when its spec.subdomain names this Service
 *   (endpointutil.ShouldSetHostname), so cluster DNS answers `<hostname>.<service>.<ns>.svc`.
 * - Ports are resolved per pod: a numeric targetPort is itself, a named one is the pod's own
 *   container port of that name and protocol (pods may differ); a port a pod does not have is
 *   left out for that pod. Pods with the same resolved ports share slices, at most 100
 *   endpoints each (the controller's default --max-endpoints-per-slice).
 * - Labels kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by; names are
 *   `<service>-<hash of the ports>[-<n>]`, stable for the same ports, so a later sync rewrites a
 *   slice in place.
 * - Services without a selector (their slices are the user's) and ExternalName Services get none.
 */

import type { Endpoint, EndpointPort, EndpointSlice, Pod, Service } from '../k8s/objects.js';
import { SERVICE_NAME_LABEL } from '../k8s/objects.js';
import { canonicalJsonText } from '../canonical-json.js';
import { shortHash } from '../names.js';
import { isPodReady } from '../k8s/pod-status.js';

export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
/** The managed-by value kube-controller-manager writes; the lab's controller plays its part. */
export const SLICE_CONTROLLER = 'endpointslice-controller.k8s.io';
export const MAX_ENDPOINTS_PER_SLICE = 100;

/** Is this slice one the controller owns (as opposed to one a user applied)? */
export function isManagedSlice(s: EndpointSlice): boolean {
  return s.metadata.labels[MANAGED_BY_LABEL] === SLICE_CONTROLLER;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The pod's port for a Service port's targetPort, or undefined when the pod has no such port. */
export function resolveTargetPort(pod: Pod, target: number | string, protocol: string): number | undefined {
  if (typeof target === 'number') return target;
  for (const c of pod.spec.containers)
    for (const p of c.ports) if (p.name === target && p.protocol === protocol) return p.containerPort;
  return undefined;
}

const podReady = isPodReady;

function terminating(pod: Pod): boolean {
  // Set by `weft delete` when a deletion with a grace period began (metadata the API server writes).
  return pod.metadata.deletionTimestamp !== undefined;
}

/** The slices the controller wants for `service`, given the pods of its namespace. */
export function desiredSlices(service: Service, pods: readonly Pod[]): EndpointSlice[] {
  const selector = service.spec.selector;
  if (!selector || service.spec.type === 'ExternalName') return [];
  const { namespace, name } = service.metadata;
  const groups = new Map<string, { ports: EndpointPort[]; endpoints: Endpoint[] }>();
  const members = pods
    .filter((p) => p.metadata.namespace === namespace && selects(selector, p.metadata.labels))
    .filter((p) => p.status?.podIP !== undefined && (p.status.phase === 'Running' || terminating(p)))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const pod of members) {
    const ports: EndpointPort[] = [];
    for (const sp of service.spec.ports) {
      const port = resolveTargetPort(pod, sp.targetPort, sp.protocol);
      if (port === undefined) continue;
      ports.push({ ...(sp.name ? { name: sp.name } : {}), protocol: sp.protocol, port });
    }
    const key = JSON.stringify(ports);
    const ready = podReady(pod);
    const gone = terminating(pod);
    const endpoint: Endpoint = {
      addresses: [pod.status!.podIP!],
      conditions: {
        ready: service.spec.publishNotReadyAddresses === true || (ready && !gone),
        serving: ready,
        terminating: gone,
      },
      ...(pod.spec.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      ...(pod.spec.hostname && pod.spec.subdomain === name ? { hostname: pod.spec.hostname } : {}),
      targetRef: { kind: 'Pod', namespace, name: pod.metadata.name },
    };
    const g = groups.get(key) ?? { ports, endpoints: [] };
    g.endpoints.push(endpoint);
    groups.set(key, g);
  }
  const out: EndpointSlice[] = [];
  for (const [key, g] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const hash = shortHash(key);
    for (let i = 0; i * MAX_ENDPOINTS_PER_SLICE < g.endpoints.length; i++) {
      out.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `${name}-${hash}${i === 0 ? '' : `-${i}`}`,
          namespace,
          labels: { [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: SLICE_CONTROLLER },
          annotations: {},
          ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, controller: true }],
        },
        addressType: 'IPv4',
        endpoints: g.endpoints.slice(i * MAX_ENDPOINTS_PER_SLICE, (i + 1) * MAX_ENDPOINTS_PER_SLICE),
        ports: g.ports,
      });
    }
  }
  // A selected Service with no pods yet still has its (empty) slice, as the controller keeps one.
  if (out.length === 0) {
    const ports = service.spec.ports.map((sp) => ({
      ...(sp.name ? { name: sp.name } : {}),
      protocol: sp.protocol,
      ...(typeof sp.targetPort === 'number' ? { port: sp.targetPort } : {}),
    }));
    out.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${name}-empty`,
        namespace,
        labels: { [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: SLICE_CONTROLLER },
        annotations: {},
        ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, controller: true }],
      },
      addressType: 'IPv4',
      endpoints: [],
      ports,
    });
  }
  return out;
}

export interface SliceChanges {
  put: EndpointSlice[];
  /** Managed slices to remove, as namespace/name. */
  remove: Array<{ namespace: string; name: string }>;
}

/**
 * What to write so the managed slices are the desired ones: every Service with a selector gets
 * its slices; managed slices of Services that are gone or lost their selector are removed.
 * Slices a user applied (not managed) are never touched.
 */
export function sliceChanges(
  services: readonly Service[],
  pods: readonly Pod[],
  current: readonly EndpointSlice[],
): SliceChanges {
  const podsByNs = new Map<string, Pod[]>();
  for (const p of pods) {
    const list = podsByNs.get(p.metadata.namespace) ?? [];
    list.push(p);
    podsByNs.set(p.metadata.namespace, list);
  }
  const want = new Map<string, EndpointSlice>();
  for (const s of services)
    for (const slice of desiredSlices(s, podsByNs.get(s.metadata.namespace) ?? []))
      want.set(`${slice.metadata.namespace}/${slice.metadata.name}`, slice);
  const have = new Map<string, EndpointSlice>(
    current.filter(isManagedSlice).map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]),
  );
  const put: EndpointSlice[] = [];
  for (const [key, slice] of want) {
    const old = have.get(key);
    if (!old || !sameSlice(old, slice)) put.push(slice);
  }
  const remove = [...have]
    .filter(([key]) => !want.has(key))
    .map(([, s]) => ({ namespace: s.metadata.namespace, name: s.metadata.name }));
  return { put, remove };
}

function sameSlice(a: EndpointSlice, b: EndpointSlice): boolean {
  return (
    canonicalJsonText([a.endpoints, a.ports, a.metadata.labels, a.addressType]) ===
    canonicalJsonText([b.endpoints, b.ports, b.metadata.labels, b.addressType])
  );
}
