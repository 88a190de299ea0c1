/**
 * What `weft apply` and `weft delete` will do to the lab's store, decided before anything is
 * written: the checks the API server and the scheduler make against what is already stored, so a
 * manifest is stored whole or not at all, and every refusal names the document and the field.
 *
 * - A namespaced object needs its namespace to exist (stored, or created by the same manifest).
 * - A pod's spec is immutable once stored (labels and annotations may change), as the API server
 *   has it; a re-apply without spec.nodeName keeps the node the pod was scheduled to.
 * - A pod without spec.nodeName is scheduled here: to the node with the fewest pods (first in
 *   node order on a tie), skipping nodes where a host port it needs (every port of a hostNetwork
 *   pod, the hostPorts of any other) is taken, which is what kube-scheduler's NodePorts filter does.
 * - Every namespace carries the label kubernetes.io/metadata.name=<its name>, as the API server
 *   sets it.
 * - The "default" namespace cannot be deleted; deleting a namespace deletes everything in it, at once.
 * - Deleting a pod with a grace period (`weft delete --grace-period N`, else the pod's
 *   spec.terminationGracePeriodSeconds) marks it as the API server does: metadata.deletionTimestamp
 *   (now + the grace period) and deletionGracePeriodSeconds; its node's pod runner tears it down
 *   and removes the object when the time is up. Unlike Kubernetes (default 30 s), a pod with
 *   neither is deleted at once: the lab's pods are plain sockets with nothing to finish, and a
 *   30 s default would make every delete in the lab slow. A pod no node runs (unscheduled, or
 *   Failed) goes at once, as the API server has it. A pod being deleted cannot be applied again.
 * - A Service gets its ClusterIP and NodePorts allocated, or keeps those it has (./service-alloc.ts).
 * - An Ingress keeps the status its controller wrote (status is a subresource: a re-apply changes
 *   the spec only). One created without a class gets the default IngressClass's name (the one
 *   annotated ingressclass.kubernetes.io/is-default-class: "true"), as the API server's
 *   DefaultIngressClass admission does; with more than one default it is refused, as there.
 */

import {
  DEFAULT_INGRESS_CLASS_ANNOTATION,
  INGRESS_CLASS_ANNOTATION,
  namespaceOf,
  type Ingress,
  type IngressClass,
  type K8sKind,
  type K8sObject,
  type Pod,
} from '../k8s/objects.js';
import { resourceNames, SUPPORTED_KINDS } from '../k8s/kinds.js';
import type { LocatedObject } from '../k8s/parse.js';
import { keyOf, sameKey, type ObjectKey } from '../k8s/object-key.js';
import type { Stored } from '../../ports/object-store.js';
import { canonicalJsonText } from '../canonical-json.js';
import { DEFAULT_NODE_PORTS, DEFAULT_SERVICE_CIDR, ServiceAllocator, type ServiceRanges } from './service-alloc.js';

export class ApplyError extends Error {
  override readonly name = 'ApplyError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

export const DEFAULT_NAMESPACE = 'default';
/** Namespaces the API server never deletes (kube-system holds the lab's cluster DNS). */
const UNDELETABLE_NAMESPACES = [DEFAULT_NAMESPACE, 'kube-system', 'kube-public'];
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** kubectl's name for a kind in messages: pod/a, networkpolicy.networking.k8s.io/deny (from the kinds registry). */
export const RESOURCE_NAMES: Readonly<Record<K8sKind, { singular: string; plural: string }>> = Object.fromEntries(
  SUPPORTED_KINDS.map((k) => [k, resourceNames(k)]),
) as Record<K8sKind, { singular: string; plural: string }>;

/** The node ports a pod takes: every port of a hostNetwork pod, the hostPorts of any other. */
function hostPorts(pod: Pod): string[] {
  return pod.spec.containers.flatMap((c) =>
    c.ports.flatMap((p) => {
      const port = pod.spec.hostNetwork ? p.containerPort : p.hostPort;
      return port === undefined ? [] : [`${port}/${p.protocol}`];
    }),
  );
}

function keyText(k: ObjectKey): string {
  return `${k.kind}/${k.namespace}/${k.name}`;
}

/** Returns the objects to store (pods scheduled), in manifest order; throws ApplyError. */
export function planApply(
  current: readonly Stored[],
  nodes: readonly string[],
  incoming: readonly LocatedObject[],
  ranges: ServiceRanges = { serviceCidr: DEFAULT_SERVICE_CIDR, ...DEFAULT_NODE_PORTS },
): K8sObject[] {
  const problems: string[] = [];
  const stored = new Map(current.map((s) => [keyText(keyOf(s.object)), s.object]));
  const services = new ServiceAllocator(
    ranges,
    current.flatMap((s) => (s.object.kind === 'Service' ? [s.object] : [])),
  );
  const namespaces = new Set(current.filter((s) => s.object.kind === 'Namespace').map((s) => s.object.metadata.name));
  for (const { object } of incoming) if (object.kind === 'Namespace') namespaces.add(object.metadata.name);

  // Pods per node and host ports in use per node, from the store, then updated as pods
  // of this manifest are placed.
  const podCount = new Map(nodes.map((n) => [n, 0]));
  const portsInUse = new Map(nodes.map((n) => [n, new Map<string, string>()]));
  const place = (pod: Pod, node: string) => {
    podCount.set(node, (podCount.get(node) ?? 0) + 1);
    for (const p of hostPorts(pod)) portsInUse.get(node)?.set(p, `${pod.metadata.namespace}/${pod.metadata.name}`);
  };
  const replaced = new Set(incoming.map((l) => keyText(keyOf(l.object))));
  for (const s of current) {
    if (s.object.kind !== 'Pod' || !s.object.spec.nodeName) continue;
    // A pod re-applied by this manifest is counted once, when it is placed again below.
    if (replaced.has(keyText(keyOf(s.object)))) continue;
    place(s.object, s.object.spec.nodeName);
  }

  // Default IngressClasses: the stored ones, as this manifest leaves them.
  const classes = new Map<string, IngressClass>();
  for (const s of current) if (s.object.kind === 'IngressClass') classes.set(s.object.metadata.name, s.object);
  for (const { object } of incoming) if (object.kind === 'IngressClass') classes.set(object.metadata.name, object);
  const defaultClasses = [...classes.values()]
    .filter((c) => c.metadata.annotations[DEFAULT_INGRESS_CLASS_ANNOTATION] === 'true')
    .map((c) => c.metadata.name)
    .sort();

  const seen = new Map<string, string>();
  const out: K8sObject[] = [];
  for (const { object, where } of incoming) {
    const k = keyOf(object);
    const first = seen.get(keyText(k));
    if (first !== undefined) {
      problems.push(`${where}: the same object is already in ${first}`);
      continue;
    }
    seen.set(keyText(k), where);
    const namespace = namespaceOf(object);
    if (namespace !== '' && !namespaces.has(namespace)) {
      problems.push(`${where}: metadata.namespace: namespace "${namespace}" not found`);
      continue;
    }
    if (object.kind === 'Namespace') {
      // The API server labels every namespace with its own name (immutable), which is what
      // policies use to select a namespace by name.
      out.push({
        ...object,
        metadata: {
          ...object.metadata,
          labels: { ...object.metadata.labels, [NAMESPACE_NAME_LABEL]: object.metadata.name },
        },
      });
      continue;
    }
    if (object.kind === 'Service') {
      const prior = stored.get(keyText(k));
      const planned = services.plan(object, prior?.kind === 'Service' ? prior : undefined);
      if ('problems' in planned) for (const p of planned.problems) problems.push(`${where}: ${p}`);
      else out.push(planned.service);
      continue;
    }
    if (object.kind === 'Ingress') {
      const prior = stored.get(keyText(k));
      const planned = planIngress(object, prior?.kind === 'Ingress' ? prior : undefined, defaultClasses);
      if (typeof planned === 'string') problems.push(`${where}: ${planned}`);
      else out.push(planned);
      continue;
    }
    if (object.kind !== 'Pod') {
      out.push(object);
      continue;
    }
    const existing = stored.get(keyText(k));
    let pod: Pod = object;
    if (existing?.kind === 'Pod' && existing.metadata.deletionTimestamp !== undefined) {
      // The API server's answer to a create of an object still being deleted (AlreadyExists).
      problems.push(`${where}: object is being deleted: pods "${object.metadata.name}" already exists`);
      continue;
    }
    if (existing?.kind === 'Pod') {
      const nodeName = object.spec.nodeName ?? existing.spec.nodeName;
      pod = { ...object, spec: { ...object.spec, ...(nodeName === undefined ? {} : { nodeName }) } };
      if (canonicalJsonText(pod.spec) !== canonicalJsonText(existing.spec)) {
        problems.push(
          `${where}: spec: Forbidden: pod updates may not change fields other than metadata.labels and metadata.annotations (delete the pod and apply it again)`,
        );
        continue;
      }
    }
    const wanted = hostPorts(pod);
    const conflict = (node: string) =>
      wanted.map((p) => [p, portsInUse.get(node)?.get(p)] as const).find(([, owner]) => owner !== undefined);
    if (pod.spec.nodeName !== undefined) {
      if (!nodes.includes(pod.spec.nodeName)) {
        problems.push(`${where}: spec.nodeName: node "${pod.spec.nodeName}" not found (nodes: ${nodes.join(', ')})`);
        continue;
      }
      const c = existing ? undefined : conflict(pod.spec.nodeName);
      if (c) {
        problems.push(
          `${where}: spec.containers: host port ${c[0]} is already taken on node ${pod.spec.nodeName} by pod ${c[1]}`,
        );
        continue;
      }
      place(pod, pod.spec.nodeName);
      out.push(pod);
      continue;
    }
    const candidates = nodes.filter((n) => conflict(n) === undefined);
    if (candidates.length === 0) {
      problems.push(
        `${where}: spec: no node can run this pod: every node already has a pod taking one of its host ports (${wanted.join(', ')})`,
      );
      continue;
    }
    const best = candidates.reduce((a, b) => ((podCount.get(b) ?? 0) < (podCount.get(a) ?? 0) ? b : a));
    pod = { ...pod, spec: { ...pod.spec, nodeName: best } };
    place(pod, best);
    out.push(pod);
  }
  if (problems.length > 0) throw new ApplyError(problems);
  return out;
}

/** An Ingress as stored: the prior status kept, the default class filled in on create; or why it is refused. */
function planIngress(
  ingress: Ingress,
  prior: Ingress | undefined,
  defaultClasses: readonly string[],
): Ingress | string {
  let out: Ingress = ingress;
  const classless =
    ingress.spec.ingressClassName === undefined && !(INGRESS_CLASS_ANNOTATION in ingress.metadata.annotations);
  if (classless) {
    // On update the class stays what it was (the admission plugin acts on create only).
    const had = prior?.spec.ingressClassName;
    if (had !== undefined) out = { ...out, spec: { ...out.spec, ingressClassName: had } };
    else if (prior === undefined && defaultClasses.length > 1)
      return `spec.ingressClassName: Forbidden: ${defaultClasses.length} default IngressClasses were found, only 1 allowed (${defaultClasses.join(', ')})`;
    else if (prior === undefined && defaultClasses.length === 1)
      out = { ...out, spec: { ...out.spec, ingressClassName: defaultClasses[0]! } };
  }
  if (prior?.status !== undefined) out = { ...out, status: prior.status };
  return out;
}

export interface DeletePlan {
  /** Keys named by the manifest that exist, in manifest order. */
  named: ObjectKey[];
  /** Everything to remove now: the named keys deleted at once plus the contents of deleted namespaces. */
  all: ObjectKey[];
  /** Pods whose graceful deletion begins (or is shortened): to store with their deletionTimestamp. */
  terminate: Pod[];
}

export interface DeleteOptions {
  /** `--grace-period`: seconds, 0 for at once; undefined uses each pod's spec.terminationGracePeriodSeconds. */
  gracePeriodSeconds?: number;
  /** The time of the request (ms since the epoch), from which deletionTimestamp counts. */
  now: number;
}

/**
 * The grace period of deleting `pod` (0: at once), and its deletionTimestamp. A pod already
 * being deleted keeps its deadline unless the new one is sooner (the API server only shortens).
 */
function gracefulDeletion(pod: Pod, o: DeleteOptions): 'now' | 'keep' | Pod {
  const grace = o.gracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 0;
  const phase = pod.status?.phase;
  // Nothing runs the pod, so nothing is to wait for (the API server's CheckGracefulDelete).
  if (grace <= 0 || pod.spec.nodeName === undefined || phase === 'Failed' || phase === 'Succeeded') return 'now';
  const deadline = o.now + grace * 1000;
  const current = pod.metadata.deletionTimestamp;
  if (current !== undefined && Date.parse(current) <= deadline) return 'keep';
  const { status: _status, ...rest } = pod;
  return {
    ...rest,
    metadata: {
      ...pod.metadata,
      deletionTimestamp: new Date(deadline).toISOString(),
      deletionGracePeriodSeconds: grace,
    },
  };
}

/** What `weft delete` removes or begins to delete; a missing object is an error unless ignoreNotFound. */
export function planDelete(
  current: readonly Stored[],
  incoming: readonly LocatedObject[],
  ignoreNotFound: boolean,
  options: DeleteOptions = { now: 0 },
): DeletePlan {
  const problems: string[] = [];
  const named: ObjectKey[] = [];
  for (const { object, where } of incoming) {
    const k = keyOf(object);
    if (named.some((n) => sameKey(n, k))) continue;
    // As the API server's NamespaceLifecycle admission: the system namespaces stay.
    if (k.kind === 'Namespace' && UNDELETABLE_NAMESPACES.includes(k.name)) {
      problems.push(`${where}: namespaces "${k.name}" is forbidden: this namespace may not be deleted`);
      continue;
    }
    if (!current.some((s) => sameKey(keyOf(s.object), k))) {
      if (!ignoreNotFound) problems.push(`${where}: ${RESOURCE_NAMES[k.kind].plural} "${k.name}" not found`);
      continue;
    }
    named.push(k);
  }
  if (problems.length > 0) throw new ApplyError(problems);
  const all: ObjectKey[] = [];
  const terminate: Pod[] = [];
  // The contents of a deleted namespace go at once, a pod of it named too (as today's lab does).
  const doomed = new Set(named.filter((k) => k.kind === 'Namespace').map((k) => k.name));
  for (const k of named) {
    const s = current.find((c) => sameKey(keyOf(c.object), k));
    if (s?.object.kind !== 'Pod' || doomed.has(k.namespace)) {
      all.push(k);
      continue;
    }
    const d = gracefulDeletion(s.object, options);
    if (d === 'now') all.push(k);
    else if (d !== 'keep') terminate.push(d);
  }
  for (const k of named) {
    if (k.kind !== 'Namespace') continue;
    for (const s of current) {
      const sk = keyOf(s.object);
      if (sk.kind !== 'Namespace' && sk.namespace === k.name && !all.some((a) => sameKey(a, sk))) all.push(sk);
    }
  }
  return { named, all, terminate };
}
