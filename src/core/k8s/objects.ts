/**
 * The Kubernetes objects weft reads, as users write them in manifests: Namespace, Pod,
 * NetworkPolicy (networking.k8s.io/v1), Service and EndpointSlice (discovery.k8s.io/v1), and for
 * HTTP routing into the cluster Ingress and IngressClass (networking.k8s.io/v1) with the TLS
 * Secrets (v1) they name.
 *
 * Scope (as kindnet states it for its plugins): only the fields a pod network needs — who a pod
 * is (namespace, name, labels, node), which ports it serves, what policies select it, and how
 * Services map to endpoints. Other fields of real manifests (volumes, resources, probes, …) are
 * kept as written (the optional JSON members each type gains from Kept<…>) without weft acting on
 * them, so manifests written for a real cluster apply unchanged and `weft get -o yaml` shows them;
 * which fields are acted on, kept or refused is listed in schema-fields.ts.
 *
 * Defaults are filled in by the parser exactly where the API server fills them (namespace
 * "default", protocol TCP, Service type ClusterIP, targetPort = port), so the rest of weft never
 * has to guess. Field names and meanings follow https://kubernetes.io/docs/reference/kubernetes-api/.
 */

import type {
  CONTAINER,
  INGRESS_CLASS_SPEC,
  SECRET_OBJECT,
  CONTAINER_PORT,
  ENDPOINT,
  ENDPOINT_PORT,
  HTTP_GET,
  Kept,
  METADATA,
  NAMESPACE_SPEC,
  POD_SPEC,
  SERVICE_PORT,
  SERVICE_SPEC,
} from './schema-fields.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** A port given by number or by the name of a container port (Kubernetes' IntOrString). */
export type IntOrString = number | string;

export type Labels = Record<string, string>;

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
export const SELECTOR_OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

export interface LabelSelectorRequirement {
  key: string;
  operator: SelectorOperator;
  /** Non-empty for In/NotIn, empty for Exists/DoesNotExist (the parser enforces this). */
  values: string[];
}

/** metav1.LabelSelector. The empty selector {} selects everything (see selector.ts). */
export interface LabelSelector {
  matchLabels: Labels;
  matchExpressions: LabelSelectorRequirement[];
}

/** Metadata of a cluster-scoped object (Namespace). */
export interface ClusterObjectMeta extends Kept<typeof METADATA> {
  name: string;
  labels: Labels;
  annotations: Record<string, string>;
  /**
   * Written by the store (never by apply) when a graceful deletion began: the time (ISO 8601) by
   * which the object will be gone, as the API server sets it (request time + grace period).
   */
  deletionTimestamp?: string;
  /** The grace period of that deletion, in seconds (set with deletionTimestamp). */
  deletionGracePeriodSeconds?: number;
}

/** Metadata of a namespaced object; namespace defaults to "default" as kubectl does. */
export interface ObjectMeta extends ClusterObjectMeta {
  namespace: string;
}

export interface Namespace {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: ClusterObjectMeta;
  /** Kept as written (only finalizers); weft does not act on it. */
  spec?: Kept<typeof NAMESPACE_SPEC>;
}

export interface ContainerPort extends Kept<typeof CONTAINER_PORT> {
  containerPort: number;
  protocol: Protocol;
  name?: string;
  /** The node's port mapped to this one (portmap's DNAT); on a hostNetwork pod equal to containerPort. */
  hostPort?: number;
}

/**
 * core/v1 Probe as the lab's kubelet runs it: exactly one handler (tcpSocket, httpGet or exec;
 * grpc is refused at apply), and the timing fields with the API server's defaults filled in
 * (initialDelaySeconds 0, timeoutSeconds 1, periodSeconds 10, successThreshold 1, failureThreshold 3).
 */
export interface Probe {
  exec?: { command: string[] };
  /** port: a number, or the name of one of the container's ports; host defaults to the pod IP. */
  tcpSocket?: { port: IntOrString; host?: string };
  /** An HTTP GET from the node to host (default: the pod IP); a status of 200–399 is success (kubelet's). */
  httpGet?: HttpGetAction;
  initialDelaySeconds: number;
  timeoutSeconds: number;
  periodSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

/** core/v1 HTTPGetAction as the lab's kubelet runs it: scheme HTTP only (HTTPS is refused at apply). */
export interface HttpGetAction extends Kept<typeof HTTP_GET> {
  /** Defaults to "/". */
  path: string;
  port: IntOrString;
  host?: string;
  httpHeaders: Array<{ name: string; value: string }>;
}

/** An environment variable with a plain value (valueFrom is refused at apply: the lab has no API for it). */
export interface EnvVar {
  name: string;
  value: string;
}

/** core/v1 RestartPolicy: what the kubelet does when a container's program exits (Always by default). */
export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export interface Container extends Kept<typeof CONTAINER> {
  name: string;
  image?: string;
  /**
   * The program the lab's kubelet runs in the pod's network namespace (on the host's file system;
   * the image is not used), with `args` after it. A container without it serves its ports itself.
   */
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  ports: ContainerPort[];
  /** Run by the node's pod runner; the pod is Ready once every container's probe says so. */
  readinessProbe?: Probe;
}

export interface PodSpec extends Kept<typeof POD_SPEC> {
  nodeName?: string;
  hostNetwork: boolean;
  containers: Container[];
  /** What happens when a container's program exits; absent means "Always" (the API server's default). */
  restartPolicy?: RestartPolicy;
  /**
   * The grace period of a deletion (seconds) when `weft delete --grace-period` is not given.
   * Absent means an immediate delete in the lab (Kubernetes defaults it to 30; see apply-plan.ts).
   */
  terminationGracePeriodSeconds?: number;
  /** The pod's hostname (a DNS label); with subdomain, its DNS name in the headless Service `subdomain`. */
  hostname?: string;
  /** A DNS label: the headless Service whose EndpointSlices carry this pod's hostname. */
  subdomain?: string;
  /** How the pod's resolv.conf is made (kubelet's rules, see core/lab/pod-dns.ts); absent means ClusterFirst. */
  dnsPolicy?: DnsPolicy;
  /** Merged into the resolv.conf the policy gives (the whole of it with dnsPolicy None). */
  dnsConfig?: PodDnsConfig;
}

/** core/v1 DNSPolicy. */
export type DnsPolicy = 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';
export const DNS_POLICIES = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] as const;

/** core/v1 PodDNSConfig. */
export interface PodDnsConfig {
  nameservers?: string[];
  searches?: string[];
  options?: Array<{ name: string; value?: string }>;
}

/**
 * core/v1 PodPhase. weft's pods are Pending, Running, Failed when the sandbox cannot be made, and
 * Succeeded or Failed when their programs have all ended for good (see core/lab/container-run.ts).
 */
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** core/v1 PodCondition; weft writes PodScheduled and Ready. */
export interface PodCondition {
  type: 'PodScheduled' | 'Initialized' | 'ContainersReady' | 'Ready';
  status: 'True' | 'False' | 'Unknown';
  /** ISO 8601. */
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/**
 * core/v1 PodStatus, the part weft reads: written only by the pod's node (the kubelet's role, in
 * the lab the pod runner), never by users (the parser refuses `status` in manifests).
 */
export interface PodStatus {
  phase: PodPhase;
  /** Why the pod is Pending or Failed. */
  message?: string;
  podIP?: string;
  /** The pod's addresses (podIPs[0] is podIP), one per family. */
  podIPs?: Array<{ ip: string }>;
  hostIP?: string;
  conditions?: PodCondition[];
  /** ISO 8601: when the node acknowledged the pod. */
  startTime?: string;
  /** One per container, as kubelet reports them (the lab's are running, waiting or terminated programs). */
  containerStatuses?: ContainerStatus[];
}

/** core/v1 ContainerState: exactly one member is set. */
export interface ContainerState {
  running?: { startedAt: string };
  waiting?: { reason: string; message?: string };
  terminated?: {
    exitCode: number;
    signal?: number;
    reason: string;
    message?: string;
    startedAt?: string;
    finishedAt: string;
  };
}

/** core/v1 ContainerStatus, the part the lab's kubelet writes. */
export interface ContainerStatus {
  name: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: ContainerState;
  lastState?: ContainerState;
  image?: string;
}

export interface Pod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta;
  spec: PodSpec;
  /** Absent until the pod's node first reports (and in every manifest). */
  status?: PodStatus;
}

export type PolicyType = 'Ingress' | 'Egress';

export interface IpBlock {
  cidr: string;
  except: string[];
}

/** Exactly one of ipBlock or (podSelector and/or namespaceSelector) is set. */
export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IpBlock;
}

export interface NetworkPolicyPort {
  protocol: Protocol;
  /** Absent means every port of the protocol. */
  port?: IntOrString;
  /** Only with a numeric port: the range port..endPort, inclusive. */
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  /** Empty means from anywhere. */
  from: NetworkPolicyPeer[];
  /** Empty means every port. */
  ports: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to: NetworkPolicyPeer[];
  ports: NetworkPolicyPort[];
}

export interface NetworkPolicySpec {
  podSelector: LabelSelector;
  /**
   * Never empty after parsing: when the manifest omits it, the parser applies the API server's
   * default (Ingress, plus Egress when egress rules are present).
   */
  policyTypes: PolicyType[];
  ingress: NetworkPolicyIngressRule[];
  egress: NetworkPolicyEgressRule[];
}

export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: ObjectMeta;
  spec: NetworkPolicySpec;
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';

export interface ServicePort extends Kept<typeof SERVICE_PORT> {
  name?: string;
  protocol: Protocol;
  port: number;
  /** Defaults to port, as the API server does. */
  targetPort: IntOrString;
  nodePort?: number;
}

export type TrafficPolicy = 'Cluster' | 'Local';
export type SessionAffinity = 'None' | 'ClientIP';
/** The API server's default for sessionAffinityConfig.clientIP.timeoutSeconds (3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;
export const MAX_AFFINITY_TIMEOUT_SECONDS = 86400;

export interface ServiceSpec extends Kept<typeof SERVICE_SPEC> {
  /** Absent means the Service has no selector and its EndpointSlices are managed by hand. */
  selector?: Labels;
  /** Empty only for ExternalName and headless Services. */
  ports: ServicePort[];
  type: ServiceType;
  /** An IP, "None" for a headless Service, or absent until the cluster allocates one (never for ExternalName). */
  clusterIP?: string;
  /** Default None; ClientIP keeps a client on its endpoint for sessionAffinityConfig's timeout. */
  sessionAffinity: SessionAffinity;
  /** Only with ClientIP (defaulted to 10800 s there, as the API server does). */
  sessionAffinityConfig?: { clientIP: { timeoutSeconds: number } };
  /** NodePort and LoadBalancer only (default Cluster): Local keeps the client's address and serves only from local endpoints. */
  externalTrafficPolicy?: TrafficPolicy;
  /** Every type but ExternalName (default Cluster): Local sends pods only to endpoints on their own node. */
  internalTrafficPolicy?: TrafficPolicy;
  /** ExternalName only: the DNS name the Service is an alias of. */
  externalName?: string;
  /** Addresses routed to the nodes by someone else; traffic to EXTERNAL_IP:port is treated like load-balancer traffic. */
  externalIPs?: string[];
  /** LoadBalancer only: the source CIDRs the load balancer admits (as written; the API server allows space padding). */
  loadBalancerSourceRanges?: string[];
  /** LoadBalancer with externalTrafficPolicy Local only: the node port each node answers health checks on (allocated when absent). */
  healthCheckNodePort?: number;
  /**
   * As written (absent means false): when true, the EndpointSlice controller marks every endpoint
   * ready whatever its pod's readiness, so DNS and the data plane use them all (StatefulSet peers).
   */
  publishNotReadyAddresses?: boolean;
}

/** core/v1 ServiceStatus: the load balancer's ingress addresses, written by the cluster (the lab). */
export interface ServiceStatus {
  loadBalancer: { ingress?: Array<{ ip: string }> };
}

export interface Service {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: ObjectMeta;
  spec: ServiceSpec;
  /** Written by the cluster (never in a manifest: the parser refuses it). */
  status?: ServiceStatus;
}

export type AddressType = 'IPv4' | 'IPv6' | 'FQDN';

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint extends Kept<typeof ENDPOINT> {
  addresses: string[];
  conditions?: EndpointConditions;
  nodeName?: string;
  /** A DNS label: cluster DNS answers `<hostname>.<service>.<ns>.svc.<zone>` with this endpoint's addresses. */
  hostname?: string;
}

export interface EndpointPort extends Kept<typeof ENDPOINT_PORT> {
  name?: string;
  protocol: Protocol;
  /** Absent means all ports. */
  port?: number;
}

export interface EndpointSlice {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  /** labels["kubernetes.io/service-name"] names the Service the slice belongs to. */
  metadata: ObjectMeta;
  addressType: AddressType;
  endpoints: Endpoint[];
  ports: EndpointPort[];
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** networking.k8s.io/v1 PathType; ImplementationSpecific is weft's plain string prefix (nginx's own `location`). */
export type PathType = 'Exact' | 'Prefix' | 'ImplementationSpecific';
export const PATH_TYPES = ['Exact', 'Prefix', 'ImplementationSpecific'] as const;

/** A Service backend: exactly one of port.number and port.name is set. */
export interface IngressServiceBackend {
  name: string;
  port: { number: number } | { name: string };
}

/** networking.k8s.io/v1 IngressBackend: weft routes to Services only (resource backends are refused at apply). */
export interface IngressBackend {
  service: IngressServiceBackend;
}

export interface HttpIngressPath {
  /** Always set: "/" stands in for an ImplementationSpecific path left empty. */
  path: string;
  pathType: PathType;
  backend: IngressBackend;
}

export interface IngressRule {
  /** Absent: every host (the rule matches any Host header). */
  host?: string;
  /** Absent: the rule routes nothing (a rule may only name a host for TLS). */
  http?: { paths: HttpIngressPath[] };
}

export interface IngressTls {
  hosts: string[];
  /** Absent: no certificate (the controller serves none for these hosts). */
  secretName?: string;
}

export interface IngressSpec {
  /** The IngressClass; set at apply from the default class when the manifest has none (DefaultIngressClass admission). */
  ingressClassName?: string;
  defaultBackend?: IngressBackend;
  tls: IngressTls[];
  rules: IngressRule[];
}

/**
 * networking.k8s.io/v1 IngressStatus, written by the ingress controller only. `conditions` is
 * weft's own addition (the API has none on Ingress): the controller's verdict on its last render
 * (type Configured: True, or False with the nginx error), where ingress-nginx writes an Event.
 */
export interface IngressStatus {
  loadBalancer: { ingress?: Array<{ ip: string }> };
  conditions?: Array<{
    type: 'Configured';
    status: 'True' | 'False';
    reason: string;
    message: string;
    lastTransitionTime: string;
  }>;
}

export interface Ingress {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'Ingress';
  metadata: ObjectMeta;
  spec: IngressSpec;
  /** Written by the ingress controller (never in a manifest: the parser refuses it); kept across re-applies. */
  status?: IngressStatus;
}

/** The annotation that makes an IngressClass the cluster's default (value "true"). */
export const DEFAULT_INGRESS_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
/** The deprecated annotation that named an Ingress's class before spec.ingressClassName. */
export const INGRESS_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

export interface IngressClass {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'IngressClass';
  metadata: ClusterObjectMeta;
  spec: IngressClassSpec;
}

export interface IngressClassSpec extends Kept<typeof INGRESS_CLASS_SPEC> {
  /** The controller that serves Ingresses of this class, a domain-prefixed path (weft's: weft.dev/ingress). */
  controller: string;
}

/** A Secret: data is base64 text as in manifests (stringData is merged into it at apply, as the API server does). */
export interface Secret extends Kept<typeof SECRET_OBJECT> {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta;
  /** Defaults to Opaque; kubernetes.io/tls requires data["tls.crt"] and data["tls.key"] (PEM). */
  type: string;
  data: Record<string, string>;
}

export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

export type K8sObject = Namespace | Pod | NetworkPolicy | Service | EndpointSlice | Ingress | IngressClass | Secret;
export type K8sKind = K8sObject['kind'];
/** The object type of a kind: ObjectOfKind<'Pod'> is Pod. */
export type ObjectOfKind<K extends K8sKind> = Extract<K8sObject, { kind: K }>;

/** "ns/name" for namespaced objects, "name" for Namespaces; used in every message about an object. */
export function objectRef(obj: K8sObject): string {
  const ns = namespaceOf(obj);
  return ns === '' ? obj.metadata.name : `${ns}/${obj.metadata.name}`;
}

/** The kinds stored without a namespace. */
export const CLUSTER_SCOPED_KINDS: readonly K8sKind[] = ['Namespace', 'IngressClass'];

/** The object's namespace; "" for a cluster-scoped object (a Namespace, an IngressClass). */
export function namespaceOf(obj: K8sObject): string {
  return 'namespace' in obj.metadata ? obj.metadata.namespace : '';
}
