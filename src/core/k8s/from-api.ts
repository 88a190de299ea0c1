/**
 * Objects as a Kubernetes API server returns them, turned into weft's object types (objects.ts)
 * for the cluster source over the API (src/adapters/cluster-source-kube.ts); and, for the object
 * store over the API (src/adapters/object-store-kube.ts), a Node as weft's NodeInfo and a weft
 * pod status as the status subresource's body.
 *
 * An API object is what a manifest became after the API server's defaulting and admission, plus
 * what the cluster wrote: metadata the server owns (uid, resourceVersion, creationTimestamp,
 * managedFields, generation), a `status`, defaults (dnsPolicy, schedulerName, tolerations, the
 * ServiceAccount volume…). They are decoded with the same strict schemas as a manifest, so the
 * fields weft acts on mean exactly what they mean in `weft apply`; then:
 * - server-owned metadata goes to the Stored meta (uid, resourceVersion as a number: etcd's
 *   revision, which the API server's resourceVersions are; creationTimestamp); deletionTimestamp
 *   and deletionGracePeriodSeconds stay in metadata, where weft reads them;
 * - `status` is decoded apart: Pod (phase, IPs, conditions weft models, container states) and
 *   Service (load-balancer ingress IPs); Namespace status (its phase) is not something weft acts on;
 * - a field the schema refuses in a manifest (a value weft does not implement yet, such as a
 *   LoadBalancer's allocateLoadBalancerNodePorts: true, a slice endpoint's topology hints, a second
 *   IP family) exists in the cluster whether weft likes it or not: the object is kept without it,
 *   and the field's path and the reason are returned as `ignored` so that the caller says so. Only
 *   when the object still does not decode (a name or selector weft cannot read) is it refused as
 *   a whole, with its problems.
 */

import type { NodeInfo, Stored, StoredMeta } from '../../ports/object-store.js';
import { KIND_INFO } from './kinds.js';
import type { K8sKind, K8sObject, ObjectOfKind, PodCondition, PodStatus, ServiceStatus } from './objects.js';
import { formatFieldPath } from './parse.js';

export type FromApiResult<K extends K8sKind> =
  | { stored: Stored<ObjectOfKind<K>>; ignored: string[] }
  | { problems: string[]; ref: string };

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Removes the value at `path` from `root`; true when something was there. */
function removeAt(root: unknown, path: ReadonlyArray<string | number>): boolean {
  if (path.length === 0) return false;
  let cur: unknown = root;
  for (const seg of path.slice(0, -1)) {
    if (Array.isArray(cur) && typeof seg === 'number') cur = cur[seg];
    else if (isObj(cur)) cur = cur[String(seg)];
    else return false;
  }
  const last = path[path.length - 1]!;
  if (Array.isArray(cur) && typeof last === 'number' && last < cur.length) {
    cur.splice(last, 1);
    return true;
  }
  if (isObj(cur) && String(last) in cur) {
    delete cur[String(last)];
    return true;
  }
  return false;
}

const CONDITION_TYPES = new Set(['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']);
const PHASES = new Set(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);

function containerState(v: unknown): Record<string, unknown> {
  if (!isObj(v)) return {};
  const out: Record<string, unknown> = {};
  if (isObj(v.running)) out.running = { startedAt: str(v.running.startedAt) ?? '' };
  if (isObj(v.waiting))
    out.waiting = {
      reason: str(v.waiting.reason) ?? '',
      ...(str(v.waiting.message) ? { message: str(v.waiting.message) } : {}),
    };
  if (isObj(v.terminated)) {
    const t = v.terminated;
    out.terminated = {
      exitCode: typeof t.exitCode === 'number' ? t.exitCode : 0,
      ...(typeof t.signal === 'number' ? { signal: t.signal } : {}),
      reason: str(t.reason) ?? '',
      ...(str(t.message) ? { message: str(t.message) } : {}),
      ...(str(t.startedAt) ? { startedAt: str(t.startedAt) } : {}),
      finishedAt: str(t.finishedAt) ?? '',
    };
  }
  return out;
}

/** A Pod's status as weft models it; undefined when the API's status says nothing weft reads. */
export function podStatusFromApi(s: unknown): PodStatus | undefined {
  if (!isObj(s)) return undefined;
  const phase = str(s.phase);
  const out: PodStatus = { phase: phase && PHASES.has(phase) ? (phase as PodStatus['phase']) : 'Unknown' };
  if (str(s.message)) out.message = str(s.message)!;
  if (str(s.podIP)) out.podIP = str(s.podIP)!;
  if (Array.isArray(s.podIPs))
    out.podIPs = s.podIPs.flatMap((p) => (isObj(p) && typeof p.ip === 'string' ? [{ ip: p.ip }] : []));
  if (str(s.hostIP)) out.hostIP = str(s.hostIP)!;
  if (Array.isArray(s.conditions)) {
    out.conditions = s.conditions.flatMap((c): PodCondition[] => {
      if (!isObj(c) || !CONDITION_TYPES.has(str(c.type) ?? '')) return [];
      const status = str(c.status);
      if (status !== 'True' && status !== 'False' && status !== 'Unknown') return [];
      return [
        {
          type: c.type as PodCondition['type'],
          status,
          ...(str(c.lastTransitionTime) ? { lastTransitionTime: str(c.lastTransitionTime)! } : {}),
          ...(str(c.reason) ? { reason: str(c.reason)! } : {}),
          ...(str(c.message) ? { message: str(c.message)! } : {}),
        },
      ];
    });
  }
  if (str(s.startTime)) out.startTime = str(s.startTime)!;
  if (Array.isArray(s.containerStatuses))
    out.containerStatuses = s.containerStatuses.flatMap((c) =>
      isObj(c) && typeof c.name === 'string'
        ? [
            {
              name: c.name,
              ready: c.ready === true,
              started: c.started === true,
              restartCount: typeof c.restartCount === 'number' ? c.restartCount : 0,
              state: containerState(c.state),
              ...(isObj(c.lastState) && Object.keys(c.lastState).length > 0
                ? { lastState: containerState(c.lastState) }
                : {}),
              ...(str(c.image) ? { image: str(c.image)! } : {}),
            },
          ]
        : [],
    );
  return out;
}

/** A Service's status as weft models it (ingress IPs; hostname-only ingress entries have no meaning here). */
export function serviceStatusFromApi(s: unknown): ServiceStatus | undefined {
  if (!isObj(s) || !isObj(s.loadBalancer)) return undefined;
  const ingress = Array.isArray(s.loadBalancer.ingress)
    ? s.loadBalancer.ingress.flatMap((i) => (isObj(i) && typeof i.ip === 'string' ? [{ ip: i.ip }] : []))
    : undefined;
  return { loadBalancer: ingress && ingress.length > 0 ? { ingress } : {} };
}

/**
 * One API object of `kind` as weft's Stored object. `raw` is not changed. List items come without
 * apiVersion and kind (the list has them), which are filled in from the kind.
 */
export function objectFromApi<K extends K8sKind>(kind: K, raw: unknown): FromApiResult<K> {
  const info = KIND_INFO[kind];
  if (!isObj(raw) || !isObj(raw.metadata)) return { problems: ['metadata: missing'], ref: kind };
  const m = raw.metadata;
  const ref = `${kind} ${str(m.namespace) ? `${str(m.namespace)}/` : ''}${str(m.name) ?? '?'}`;
  const uid = str(m.uid);
  const rv = Number(str(m.resourceVersion));
  if (!uid || !Number.isSafeInteger(rv) || rv <= 0)
    return {
      problems: [`metadata: uid and a numeric resourceVersion are needed (got ${uid}, ${m.resourceVersion as string})`],
      ref,
    };
  const meta: StoredMeta = { uid, resourceVersion: rv, creationTimestamp: str(m.creationTimestamp) ?? '' };
  const doc = structuredClone(raw);
  doc.apiVersion = info.apiVersion;
  doc.kind = kind;
  const status = doc.status;
  delete doc.status;
  const md = doc.metadata as Json;
  const deletion = {
    ...(str(md.deletionTimestamp) ? { deletionTimestamp: str(md.deletionTimestamp)! } : {}),
    ...(typeof md.deletionGracePeriodSeconds === 'number'
      ? { deletionGracePeriodSeconds: md.deletionGracePeriodSeconds }
      : {}),
  };
  const ignored: string[] = [];
  // Each round removes the fields the schema refused; a few rounds cover fields nested in refused ones.
  for (let round = 0; round < 4; round++) {
    const parsed = info.schema.safeParse(doc);
    if (parsed.success) {
      const obj = { ...parsed.data, metadata: { ...parsed.data.metadata, ...deletion } } as K8sObject;
      if (obj.kind === 'Pod') {
        const s = podStatusFromApi(status);
        if (s) obj.status = s;
      } else if (obj.kind === 'Service') {
        const s = serviceStatusFromApi(status);
        if (s) obj.status = s;
      }
      return { stored: { object: obj as ObjectOfKind<K>, meta }, ignored };
    }
    let removed = 0;
    const problems: string[] = [];
    for (const issue of parsed.error.issues) {
      const where = formatFieldPath(issue.path) || '(object)';
      // metadata and what names the object cannot be left out: weft could not say what it is.
      if (issue.path[0] !== 'metadata' && issue.path.length > 1 && removeAt(doc, issue.path)) {
        ignored.push(`${where}: ${issue.message}`);
        removed++;
      } else problems.push(`${where}: ${issue.message}`);
    }
    if (problems.length > 0 || removed === 0) return { problems: problems.length > 0 ? problems : ignored, ref };
  }
  return { problems: ['the object still does not decode after leaving out the fields weft refuses', ...ignored], ref };
}

export interface KubeNodeJson {
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: { podCIDR?: string };
  status?: {
    addresses?: Array<{ type: string; address: string }>;
    conditions?: Array<{ type: string; status: string; message?: string; lastHeartbeatTime?: string }>;
  };
}

/** A Node as weft's NodeInfo (what `weft get nodes` shows). */
export function nodeInfoFromApi(n: KubeNodeJson): NodeInfo {
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
  const backend = n.metadata.annotations?.['flannel.alpha.coreos.com/backend-type'];
  return {
    name: n.metadata.name,
    internalIP: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '',
    ...(n.spec?.podCIDR ? { podCIDR: n.spec.podCIDR } : {}),
    ...(backend ? { backend } : {}),
    ready: ready?.status === 'True',
    ...(ready && ready.status !== 'True' && ready.message ? { message: ready.message } : {}),
    heartbeat: ready?.lastHeartbeatTime ?? '',
  };
}

/**
 * The API's form of a weft pod status (the status subresource's body). `containers` are the pod's
 * container names: kubelet reports every container (kubectl's READY column counts them), and the
 * lab's kubelet reports only those that run programs, so the others get a status here: running
 * since the pod started, ready when the pod is.
 */
export function podStatusToApi(s: PodStatus, containers: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { phase: s.phase };
  if (s.message !== undefined) out.message = s.message;
  if (s.podIP !== undefined) out.podIP = s.podIP;
  if (s.podIPs !== undefined) out.podIPs = s.podIPs;
  if (s.hostIP !== undefined) {
    out.hostIP = s.hostIP;
    out.hostIPs = [{ ip: s.hostIP }];
  }
  if (s.conditions !== undefined) out.conditions = s.conditions;
  if (s.startTime !== undefined) out.startTime = s.startTime;
  const ready = s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const reported = new Map((s.containerStatuses ?? []).map((c) => [c.name, c]));
  if (s.phase === 'Running' || reported.size > 0)
    // image and imageID are required by the API's validation of a status; the lab runs no images.
    out.containerStatuses = containers.map((name) => ({
      image: 'weft-lab',
      imageID: '',
      ...(reported.get(name) ?? {
        name,
        ready,
        restartCount: 0,
        started: true,
        state: { running: { startedAt: s.startTime ?? new Date().toISOString() } },
      }),
    }));
  return out;
}
