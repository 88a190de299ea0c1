/**
 * Which fields of each object weft acts on, which it keeps as written, and which it refuses:
 * the one place that says so, as data, so the schemas (schema-*.ts), the object types
 * (objects.ts) and this documentation cannot drift apart.
 *
 * weft decodes every manifest strictly, as `kubectl apply --validate=strict` and the API server's
 * strict field validation do: a field is one of
 *   - acted on: modelled in objects.ts, validated and defaulted by the schemas, and used by weft
 *     (names, labels, pod ports, hostNetwork, nodeName, policies, Service ports, endpoints…);
 *   - kept as written: a real Kubernetes field with no meaning for a pod network (a container's
 *     image, resources, liveness probes; a pod's volumes, tolerations;
 *     ownerReferences…). It is stored verbatim, so `weft get -o yaml` shows it and manifests
 *     written for a real cluster apply unchanged, but weft never reads it. Its contents are not
 *     checked beyond being JSON data: weft does not carry the whole Kubernetes API schema.
 *   - written by the API server (metadata.uid, resourceVersion, creationTimestamp…): accepted,
 *     as in `kubectl get -o yaml` output, and replaced by the store's own, as the API server
 *     ignores them on create;
 *   - refused, with its path and a reason: a field with network meaning that weft does not
 *     implement yet (some load balancer options, dual-stack, host ports other than a
 *     hostNetwork pod's own), so that nobody believes it is in force; and every `status`, which
 *     the cluster writes, not apply. Where a field's value is exactly what weft already does
 *     (ipFamilyPolicy: SingleStack, as every `kubectl get -o yaml` of a real Service shows),
 *     that value is accepted and kept as written; any other value is refused;
 *   - unknown: anything else, refused as `<path>: unknown field`, with the nearest known name
 *     when one is close (a misspelling such as `lables` or `protcol`).
 *
 * Field lists follow the Kubernetes API reference (v1.31): https://kubernetes.io/docs/reference/kubernetes-api/
 */

/** A JSON value, as a kept field holds it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** True for plain JSON data (finite numbers, no functions, no class instances), checked to any depth. */
export function isJsonValue(value: unknown): value is JsonValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJsonValue);
  if (typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value as Record<string, unknown>).every(isJsonValue);
}

/** Why a field is refused; `accepts` lets through values that are what weft already does (then kept as written). */
export interface Refusal {
  readonly reason: string;
  readonly accepts?: (value: unknown) => boolean;
}

/** The fields of one object level beyond the ones its schema models. */
export interface FieldRules {
  /** Real Kubernetes fields stored as written and never read by weft. */
  readonly kept: readonly string[];
  /** Fields the API server writes itself: accepted and left to the store (metadata only). */
  readonly serverSet?: readonly string[];
  /** Fields refused with a reason. */
  readonly refused?: Readonly<Record<string, Refusal>>;
}

/** The kept fields of a rule set (and refused fields whose accepted values are kept), as optional JSON members. */
export type Kept<R extends FieldRules> = {
  [F in R['kept'][number] | AcceptedKeys<R>]?: JsonValue;
};
type AcceptedKeys<R extends FieldRules> =
  R['refused'] extends Readonly<Record<string, Refusal>>
    ? { [K in keyof R['refused']]: R['refused'][K] extends { accepts: unknown } ? K : never }[keyof R['refused']] &
        string
    : never;

export const NOT_YET = 'not supported yet by weft';
const STATUS_BY_CLUSTER: Refusal = { reason: 'is written by the cluster, not by apply' };
const STATUS_BY_NODE: Refusal = { reason: 'is written by the node, not by apply' };
const only = (value: string, what: string): Refusal => ({
  reason: `${NOT_YET} (only ${value}: ${what})`,
  accepts: (v) => v === value,
});

/**
 * metadata of every kind. Acted on: name, namespace, labels; annotations are stored and bounded
 * (256 KiB in total, as the API server's ValidateAnnotationsSize).
 */
export const METADATA = {
  kept: ['generateName', 'ownerReferences', 'finalizers'],
  serverSet: [
    'uid',
    'resourceVersion',
    'generation',
    'creationTimestamp',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
    'selfLink',
    'managedFields',
  ],
} as const satisfies FieldRules;

/** A Namespace: its metadata is acted on; spec (only finalizers) is kept; status is the cluster's. */
export const NAMESPACE_OBJECT = { kept: [], refused: { status: STATUS_BY_CLUSTER } } as const satisfies FieldRules;
export const NAMESPACE_SPEC = { kept: ['finalizers'] } as const satisfies FieldRules;

/** A Pod: status is written by the node's kubelet (the lab's pod runner), never by apply. */
export const POD_OBJECT = { kept: [], refused: { status: STATUS_BY_NODE } } as const satisfies FieldRules;

/**
 * Pod spec. Acted on: nodeName (scheduling), hostNetwork, containers, terminationGracePeriodSeconds
 * (the grace period of a deletion), restartPolicy (the lab's kubelet restarts containers'
 * programs), hostname and subdomain (the EndpointSlice controller names the pod's endpoint
 * `hostname` in the headless Service called `subdomain`, which cluster DNS answers as
 * `<hostname>.<subdomain>.<ns>.svc.<zone>`), dnsPolicy and dnsConfig (the pod's resolv.conf).
 */
export const POD_SPEC = {
  kept: [
    'volumes',
    'initContainers',
    'ephemeralContainers',
    'activeDeadlineSeconds',
    'nodeSelector',
    'serviceAccountName',
    'serviceAccount',
    'automountServiceAccountToken',
    'hostPID',
    'hostIPC',
    'shareProcessNamespace',
    'securityContext',
    'imagePullSecrets',
    'affinity',
    'schedulerName',
    'tolerations',
    'hostAliases',
    'priorityClassName',
    'priority',
    'readinessGates',
    'runtimeClassName',
    'enableServiceLinks',
    'preemptionPolicy',
    'overhead',
    'topologySpreadConstraints',
    'setHostnameAsFQDN',
    'os',
    'hostUsers',
    'schedulingGates',
    'resourceClaims',
    'resources',
  ],
} as const satisfies FieldRules;

/**
 * A container. Acted on: name, ports, readinessProbe (run by the lab's kubelet, see PROBE), and
 * command, args, workingDir, env (plain values): the lab's kubelet runs that program in the pod's
 * network namespace. image is kept (typed as a string; the program runs on the host's file system).
 * livenessProbe and startupProbe are kept: the lab restarts programs only when they exit.
 * envFrom is refused: it would change the program's environment, and the lab has no ConfigMaps or
 * Secrets to take it from.
 */
export const CONTAINER = {
  refused: {
    envFrom: { reason: `${NOT_YET} (the lab has no ConfigMaps or Secrets; give env with plain values)` },
  },
  kept: [
    'resources',
    'resizePolicy',
    'restartPolicy',
    'volumeMounts',
    'volumeDevices',
    'livenessProbe',
    'startupProbe',
    'lifecycle',
    'terminationMessagePath',
    'terminationMessagePolicy',
    'imagePullPolicy',
    'securityContext',
    'stdin',
    'stdinOnce',
    'tty',
  ],
} as const satisfies FieldRules;

/**
 * A readiness probe. Acted on: tcpSocket, exec, httpGet (see HTTP_GET) and the timing fields. grpc
 * would need a gRPC health client in the runner; terminationGracePeriodSeconds is the API server's
 * own refusal for readiness probes.
 */
export const PROBE_NOT_YET = `${NOT_YET}: the lab's kubelet runs tcpSocket, httpGet and exec probes`;
export const PROBE = {
  kept: [],
  refused: {
    grpc: { reason: PROBE_NOT_YET },
    terminationGracePeriodSeconds: { reason: 'must not be set for readinessProbes' },
  },
} as const satisfies FieldRules;

/** A probe's httpGet. Acted on: path, port, host (an address), httpHeaders; scheme only HTTP. */
export const HTTP_GET = {
  kept: [],
  refused: {
    // Written out (not only()) so that the accepted value's key is typed as kept.
    scheme: {
      reason: `${NOT_YET} (only HTTP: the lab's kubelet probes over plain HTTP (no TLS client))`,
      accepts: (v: unknown) => v === 'HTTP',
    },
  },
} as const satisfies FieldRules;

/** A container's env entry. Acted on: name, value. valueFrom needs the API (fieldRef, Secrets…) the lab lacks. */
export const ENV_VAR = {
  kept: [],
  refused: {
    valueFrom: { reason: `${NOT_YET} (the lab's kubelet passes plain values only; give value)` },
  },
} as const satisfies FieldRules;

/**
 * A container port. Acted on: containerPort, protocol, name (the lab serves each port; policies
 * and Services name them) and hostPort (the lab's pod runner passes it to the CNI plugins as a
 * portMappings capability, as kubelet does, and the portmap plugin DNATs the node's port to the
 * pod; on a hostNetwork pod it must equal containerPort). hostIP is refused: the lab's portmap
 * maps every node address.
 */
export const HOST_IP_NOT_YET = `${NOT_YET} (a hostPort is mapped on every address of the node)`;
export const CONTAINER_PORT = {
  kept: [],
  refused: {
    hostIP: { reason: HOST_IP_NOT_YET },
  },
} as const satisfies FieldRules;

/** A Service: status (load-balancer ingress) will be written by the cluster, never by apply. */
export const SERVICE_OBJECT = { kept: [], refused: { status: STATUS_BY_CLUSTER } } as const satisfies FieldRules;

/**
 * Service spec. Acted on: selector, ports, type, clusterIP (allocated when absent), sessionAffinity
 * and sessionAffinityConfig, externalTrafficPolicy, internalTrafficPolicy, externalName,
 * publishNotReadyAddresses (the EndpointSlice controller marks every endpoint ready; see
 * schema-workloads.ts). The fields below have network meaning weft does not implement yet.
 */
export const SERVICE_SPEC = {
  kept: [],
  refused: {
    loadBalancerIP: { reason: `${NOT_YET} (the lab's load balancer picks the address from its pool)` },
    loadBalancerClass: { reason: `${NOT_YET} (the lab has one load balancer)` },
    allocateLoadBalancerNodePorts: { reason: NOT_YET },
    trafficDistribution: { reason: NOT_YET },
    ipFamilyPolicy: only('SingleStack', 'one address family per Service'),
    ipFamilies: {
      reason: `${NOT_YET} (only one family, [IPv4] or [IPv6])`,
      accepts: (v) => Array.isArray(v) && v.length === 1 && (v[0] === 'IPv4' || v[0] === 'IPv6'),
    },
    // A one-item list is accepted here; the spec's own check makes sure it equals [clusterIP].
    clusterIPs: {
      reason: `${NOT_YET} (one cluster IP per Service: give spec.clusterIP)`,
      accepts: (v) => Array.isArray(v) && v.length === 1 && typeof v[0] === 'string',
    },
  },
} as const satisfies FieldRules;

/** sessionAffinityConfig and its clientIP: timeoutSeconds is acted on. */
export const SESSION_AFFINITY_CONFIG = { kept: [] } as const satisfies FieldRules;

/** A Service port. Acted on: name, protocol, port, targetPort, nodePort; appProtocol is a hint for gateways, kept. */
export const SERVICE_PORT = { kept: ['appProtocol'] } as const satisfies FieldRules;

/** An EndpointSlice endpoint. Acted on: addresses, conditions, nodeName, hostname (cluster DNS names it). */
export const ENDPOINT = {
  kept: ['targetRef', 'zone', 'deprecatedTopology'],
  refused: { hints: { reason: `${NOT_YET} (topology-aware routing)` } },
} as const satisfies FieldRules;

/** An EndpointSlice port. Acted on: name, protocol, port. */
export const ENDPOINT_PORT = { kept: ['appProtocol'] } as const satisfies FieldRules;

/** NetworkPolicy is modelled whole (every field is acted on, see schema-policy.ts); only status is refused. */
export const NETWORK_POLICY_OBJECT = { kept: [], refused: { status: STATUS_BY_CLUSTER } } as const satisfies FieldRules;

/** An Ingress: status (load-balancer addresses, the controller's verdict) is the ingress controller's. */
export const INGRESS_OBJECT = { kept: [], refused: { status: STATUS_BY_CLUSTER } } as const satisfies FieldRules;

/** An Ingress backend: `resource` (a backend that is not a Service) has no meaning for weft's nginx. */
export const INGRESS_BACKEND = {
  kept: [],
  refused: { resource: { reason: `${NOT_YET} (weft's ingress controller routes to Services only)` } },
} as const satisfies FieldRules;

/** An IngressClass spec: controller is acted on; parameters would configure a controller, and weft's takes none. */
export const INGRESS_CLASS_SPEC = {
  kept: [],
  refused: { parameters: { reason: `${NOT_YET} (weft's ingress controller takes no parameters)` } },
} as const satisfies FieldRules;

/** A Secret: immutable is kept as written (weft never changes a stored Secret on its own). */
export const SECRET_OBJECT = { kept: ['immutable'] } as const satisfies FieldRules;

/** Levels with nothing beyond what the schema models (selectors, policy rules, conditions, EndpointSlice itself, Ingress rules and paths). */
export const MODELLED = { kept: [] } as const satisfies FieldRules;
