/**
 * The options of `weft lab up`, checked and defaulted, the addresses of the lab's underlay
 * segments (nodes, router, load-balancer pool, outside clients), and the net-conf.json the lab's
 * agents start with. Defaults are a newcomer's cluster: lab "weft", 3 nodes on one segment,
 * vxlan, the embedded store, pods in 10.244.0.0/16 (Flannel's default network).
 *
 * The address plan: segment k is 10.99.k.0/24 with its gateway at .254 and the router's leg at
 * .253; node n<i> lives on segment (i-1) mod K at 10.99.<segment>.<i>, so its last octet is its
 * number whatever K is, and with one segment every address is what it always was. Segment 0 is
 * "the LAN with the servers": the store, the load-balancer pool and the outside clients.
 */

import { LAB_NAME_PATTERN } from '../names.js';
import {
  addToIp,
  cidrContains,
  cidrSize,
  cidrsOverlap,
  formatCidr,
  formatIp,
  networkOf,
  parseCidr,
  tryParseIp,
  type IpAddress,
} from '../net/ip.js';
import { checkDns1123Subdomain } from '../k8s/names.js';
import { parseUpstream } from '../dns/upstreams.js';
import { DEFAULT_NODE_PORTS, DEFAULT_SERVICE_CIDR, type ServiceRanges } from './service-alloc.js';

export type LabBackend = 'vxlan' | 'host-gw' | 'udp' | 'bgp';

export type LabStore =
  /** The SQLite file in the lab's directory. */
  | { kind: 'embedded' }
  /** A Debian etcd the lab starts (and stops) in its segment namespace. */
  | { kind: 'etcd'; managed: true }
  /** An etcd the user runs, reachable from the lab's nodes at `endpoints`. */
  | { kind: 'etcd'; managed: false; endpoints: string[] };

export interface LabSpec {
  name: string;
  nodes: number;
  backend: LabBackend;
  store: LabStore;
  network: string;
  /** The Services' ClusterIP range (kube-apiserver's --service-cluster-ip-range); absent in labs made before it existed: the default. */
  serviceCidr?: string;
  /** The load-balancer pool on the underlay segment; absent in labs made before it existed: the default. */
  lbCidr?: string;
  /** Cluster DNS; absent in labs made before it existed (they have none). */
  dns?: LabDns;
  /** L2 segments joined by a router (`--segments`); absent: one, as every lab before it. */
  segments?: number;
  /** net-conf Backend.DirectRouting (vxlan only, `--direct-routing`); absent: off. */
  directRouting?: boolean;
  /** false with `--no-flow-log`: the agents run without flow logging; absent: on. */
  flowLog?: false;
  /** Flows each node's agent keeps (`--flow-log-capacity`); absent: the agent's default. */
  flowLogCapacity?: number;
  /**
   * bgp only (`--bgp-peer`): "router" makes every node peer with the lab router's leg on its
   * segment, and the lab runs BIRD in the router namespace; absent: mesh (every node with every
   * other node of its segment).
   */
  bgpPeer?: 'router';
  /**
   * `--api kube`: the lab runs a real kube-apiserver and kube-controller-manager (src/lab/lab-kube.ts);
   * absent: the embedded object store alone.
   */
  api?: 'kube';
  /** `--ingress-replicas N`: `weft ingress` pods behind ingress-weft/ingress-weft (see ./ingress-controller.ts); absent: none. */
  ingress?: { replicas: number };
  /**
   * Nodes that run a real peer instead of weft's agent (`--peer flannel=n1,n2`, issue 18): the
   * real flanneld with the lab's net-conf.json, in etcd mode (--store etcd) or in kube-subnet-mgr
   * mode (--api kube). Absent: every node runs weft.
   */
  peers?: LabPeers;
  /**
   * `--services kube-proxy` (issue 18): the real kube-proxy (--proxy-mode=nftables) programs
   * Services on every node, and weft's agents run with --no-services. Absent: weft's Services layer.
   */
  services?: 'kube-proxy';
}

/** The peer daemons `--peer` can put on a node instead of weft's agent. */
export const PEER_KINDS = ['flannel'] as const;
export type PeerKind = (typeof PEER_KINDS)[number];
/** Per peer kind, the nodes (n1, n2, ...) that run it, in node order. */
export type LabPeers = Partial<Record<PeerKind, string[]>>;

/** The peer a node runs instead of weft's agent, or undefined when it runs weft. */
export function peerOfNode(spec: Pick<LabSpec, 'peers'>, node: string): PeerKind | undefined {
  return PEER_KINDS.find((k) => spec.peers?.[k]?.includes(node));
}

/** The lab's cluster DNS: `weft dns` pods behind kube-system/kube-dns (see src/lab/cluster-dns.ts). */
export interface LabDns {
  /** The cluster domain (kubelet's --cluster-domain). */
  domain: string;
  /** DNS pods (0: the lab has no cluster DNS, and pods get the node's resolv.conf). */
  replicas: number;
  /** Where names outside the cluster domain are forwarded (IP or IP:PORT); none: they are refused. */
  upstreams: string[];
  /** The DNS pods' server (`--dns`): weft's own `weft dns` (absent), or the real CoreDNS (issue 18, `--api kube` only). */
  server?: 'coredns';
}

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
export const DEFAULT_DNS_REPLICAS = 2;

/** The kube-dns Service's address: the tenth of the service range, as kubeadm gives it. */
export function clusterDnsIp(spec: LabSpec): string {
  const ip = addToIp(networkOf(parseCidr(serviceCidrOf(spec))).address, 10n);
  if (!ip) throw new LabSpecError(`the service range ${serviceCidrOf(spec)} has no tenth address`);
  return formatIp(ip);
}

/** The service range of a lab (the default for labs recorded before --service-cidr). */
export function serviceCidrOf(spec: LabSpec): string {
  return spec.serviceCidr ?? DEFAULT_SERVICE_CIDR;
}

/** The load-balancer pool of a lab (the default for labs recorded before --lb-cidr). */
export function lbCidrOf(spec: LabSpec): string {
  return spec.lbCidr ?? DEFAULT_LB_CIDR;
}

/** The allocator's ranges for a lab: its service range, less the underlay's addresses, and its load-balancer pool. */
export function serviceRangesOf(spec: LabSpec): ServiceRanges {
  return {
    serviceCidr: serviceCidrOf(spec),
    ...DEFAULT_NODE_PORTS,
    reserved: segmentsOf(spec).map((k) => segmentCidr(k)),
    lbCidr: lbCidrOf(spec),
  };
}

/**
 * The lab's first underlay segment (segment 0): node addresses .1-.200 (at most MAX_LAB_NODES
 * nodes), the load-balancer pool .224-.239 by default, the outside client .250 by default, the
 * router to the other segments .253, the gateway .254. The other segments follow the same plan
 * in 10.99.k.0/24 (without pool and clients).
 */
export const UNDERLAY_CIDR = '10.99.0.0/24';
export const UNDERLAY_GATEWAY = '10.99.0.254';
const UNDERLAY_ROUTER = '10.99.0.253';

export const MAX_LAB_NODES = 200;

/** `--segments` accepts 1 to this: enough to show what crossing a router does to each backend. */
export const MAX_LAB_SEGMENTS = 4;

/** The segments of a lab: 0 .. K-1 (labs recorded before --segments have one). */
export function segmentsOf(spec: Pick<LabSpec, 'segments'>): number[] {
  return Array.from({ length: spec.segments ?? 1 }, (_, k) => k);
}

/** The first three octets of segment k, e.g. "10.99.1". */
export function segmentPrefix24(k: number): string {
  if (!Number.isInteger(k) || k < 0 || k >= MAX_LAB_SEGMENTS)
    throw new LabSpecError(`segment ${k}: no such segment (0 to ${MAX_LAB_SEGMENTS - 1})`);
  return `10.99.${k}`;
}

/** Segment k's network, e.g. "10.99.1.0/24". */
export function segmentCidr(k: number): string {
  return `${segmentPrefix24(k)}.0/24`;
}

/** Segment k's gateway (its namespace's bridge address, the nodes' default route). */
export function segmentGateway(k: number): string {
  return `${segmentPrefix24(k)}.254`;
}

/** The router's leg on segment k (the segment's namespace routes the other segments to it). */
export function segmentRouter(k: number): string {
  return `${segmentPrefix24(k)}.253`;
}

/** The segment node i (1-based) is on: (i-1) mod K. */
export function nodeSegment(i: number, segments = 1): number {
  if (!Number.isInteger(i) || i < 1 || i > MAX_LAB_NODES)
    throw new LabSpecError(`node ${i}: no such node (1 to ${MAX_LAB_NODES})`);
  if (!Number.isInteger(segments) || segments < 1 || segments > MAX_LAB_SEGMENTS)
    throw new LabSpecError(`${segments} segments: a lab has 1 to ${MAX_LAB_SEGMENTS}`);
  return (i - 1) % segments;
}

/** The segment an underlay address is on, or undefined when it is on none of the lab's. */
export function segmentOfAddress(ip: string, segments = 1): number | undefined {
  const addr = tryParseIp(ip);
  if (!addr) return undefined;
  return segmentsOf({ segments }).find((k) => cidrContains(parseCidr(segmentCidr(k)), addr));
}

/** A block of the segment above every possible node address, below the outside client and the gateway. */
export const DEFAULT_LB_CIDR = '10.99.0.224/28';

/** The outside client's address when `weft lab outside` is given none. */
export const DEFAULT_OUTSIDE_ADDRESS = '10.99.0.250';

/** The address of node i (1-based): on its segment (node i's segment of K), host number i. */
export function nodeUnderlayAddress(i: number, segments = 1): string {
  const k = nodeSegment(i, segments);
  const ip = addToIp(parseCidr(segmentCidr(k)).address, BigInt(i));
  if (!ip) throw new LabSpecError(`node ${i}: no underlay address (1 to ${MAX_LAB_NODES})`);
  return formatIp(ip);
}

/**
 * What holds an address of segment 0 other than a client or the pool, or undefined when nothing
 * does. With K segments only every K-th node is on segment 0; the router's address is held
 * whatever K is, so a lab's pool and clients never depend on its segment count.
 */
function segmentUser(ip: IpAddress, nodes: number, segments: number): string | undefined {
  const seg = parseCidr(UNDERLAY_CIDR);
  const offset = ip.value - seg.address.value;
  if (offset === 0n) return "the segment's network address";
  if (offset === cidrSize(seg) - 1n) return "the segment's broadcast address";
  if (offset >= 1n && offset <= BigInt(nodes) && nodeSegment(Number(offset), segments) === 0)
    return `node n${offset} (${formatIp(ip)})`;
  if (formatIp(ip) === UNDERLAY_GATEWAY) return `the segment's gateway (${UNDERLAY_GATEWAY})`;
  if (formatIp(ip) === UNDERLAY_ROUTER) return `the router to the other segments (${UNDERLAY_ROUTER})`;
  return undefined;
}

/**
 * An outside client's address (`weft lab outside --address`): on the segment, and not a node's,
 * the gateway's, the router's, or in the load-balancer pool. Returns the address; throws
 * LabSpecError naming the flag.
 */
export function checkOutsideAddress(spec: LabSpec, text: string): string {
  const ip = tryParseIp(text);
  if (!ip || ip.family !== 4) throw new LabSpecError(`--address: "${text}" is not an IPv4 address`);
  if (!cidrContains(parseCidr(UNDERLAY_CIDR), ip))
    throw new LabSpecError(`--address: ${text} is not on the lab's underlay segment ${UNDERLAY_CIDR}`);
  const user = segmentUser(ip, spec.nodes, spec.segments ?? 1);
  if (user) throw new LabSpecError(`--address: ${text} is ${user}, not free for an outside client`);
  if (cidrContains(parseCidr(lbCidrOf(spec)), ip))
    throw new LabSpecError(
      `--address: ${text} is in the lab's load-balancer pool ${lbCidrOf(spec)}, not free for an outside client`,
    );
  return formatIp(ip);
}
export interface LabUpOptions {
  name?: string;
  nodes?: string | number;
  backend?: string;
  store?: string;
  network?: string;
  serviceCidr?: string;
  lbCidr?: string;
  clusterDomain?: string;
  dnsReplicas?: string | number;
  dnsUpstream?: string[];
  /** `--dns weft|coredns`: the cluster DNS pods' server. */
  dns?: string;
  segments?: string | number;
  directRouting?: boolean;
  /** Commander's `--no-flow-log`: false when given. */
  flowLog?: boolean;
  flowLogCapacity?: string | number;
  bgpPeer?: string;
  api?: string;
  ingressReplicas?: string | number;
  /** `--peer KIND=NODE[,NODE]` (repeatable). */
  peer?: string[];
  /** `--services weft|kube-proxy`. */
  services?: string;
}

export class LabSpecError extends Error {
  override readonly name = 'LabSpecError';
}

export function checkLabName(name: string, flag = '--name'): string {
  if (!LAB_NAME_PATTERN.test(name)) {
    throw new LabSpecError(
      `${flag}: "${name}" is not a valid lab name: use 1-16 lowercase letters and digits, starting with a letter`,
    );
  }
  return name;
}

export function parseLabUpOptions(o: LabUpOptions): LabSpec {
  const name = checkLabName(o.name ?? 'weft');
  const nodesText = String(o.nodes ?? 3);
  if (!/^\d+$/.test(nodesText) || Number(nodesText) < 1 || Number(nodesText) > MAX_LAB_NODES) {
    throw new LabSpecError(`--nodes: "${nodesText}" must be a whole number from 1 to ${MAX_LAB_NODES}`);
  }
  const backend = o.backend ?? 'vxlan';
  if (backend !== 'vxlan' && backend !== 'host-gw' && backend !== 'udp' && backend !== 'bgp')
    throw new LabSpecError(`--backend: "${backend}" is not a backend (use vxlan, host-gw, udp or bgp)`);
  const network = o.network ?? '10.244.0.0/16';
  let cidr;
  try {
    cidr = parseCidr(network);
  } catch (err) {
    throw new LabSpecError(`--network: ${(err as Error).message}`);
  }
  if (cidr.address.family !== 4)
    throw new LabSpecError(`--network: "${network}" must be an IPv4 network (the lab is IPv4 only)`);
  if (cidr.prefix > 22)
    throw new LabSpecError(
      `--network: "${network}" is too small for a lab: use a /22 or bigger, so that every node gets a /24 or more`,
    );
  const nodes = Number(nodesText);
  const segments = parseSegments(String(o.segments ?? 1));
  const services = o.services ?? 'weft';
  const serviceCidr =
    services === 'kube-proxy'
      ? parseKubeProxyServiceCidr(o.serviceCidr, network, segments)
      : parseServiceCidr(o.serviceCidr ?? DEFAULT_SERVICE_CIDR, network);
  if (o.directRouting === true && backend !== 'vxlan')
    throw new LabSpecError(
      `--direct-routing: only applies to the vxlan backend (net-conf Backend.DirectRouting), not ${backend}`,
    );
  const bgpPeer = o.bgpPeer ?? 'mesh';
  if (bgpPeer !== 'mesh' && bgpPeer !== 'router')
    throw new LabSpecError(`--bgp-peer: "${bgpPeer}" must be mesh or router`);
  if (o.bgpPeer !== undefined && backend !== 'bgp')
    throw new LabSpecError(`--bgp-peer: only applies to the bgp backend (net-conf Backend.Peering), not ${backend}`);
  if (bgpPeer === 'router' && segments < 2)
    throw new LabSpecError('--bgp-peer router: the lab has a router only with --segments 2 or more');
  const api = o.api ?? 'embedded';
  if (api !== 'embedded' && api !== 'kube')
    throw new LabSpecError(`--api: "${api}" must be embedded (the lab's own store) or kube (a real kube-apiserver)`);
  if (api === 'kube' && o.store !== undefined && o.store !== 'embedded')
    throw new LabSpecError(
      `--store: "${o.store}" cannot be combined with --api kube (the cluster's objects and node subnets are then the API server's, in its own etcd)`,
    );
  if (services !== 'weft' && services !== 'kube-proxy')
    throw new LabSpecError(
      `--services: "${services}" must be weft (weft's agents program Services) or kube-proxy (the real kube-proxy does, in nftables mode)`,
    );
  if (services === 'kube-proxy' && api !== 'kube')
    throw new LabSpecError(
      '--services kube-proxy: needs --api kube (kube-proxy reads Services, EndpointSlices and its Node from the Kubernetes API; the embedded store has no API it can read)',
    );
  const lbCidr = parseLbCidr(o.lbCidr ?? DEFAULT_LB_CIDR, nodes, segments);
  const store = parseStore(o.store ?? 'embedded');
  const peers = parsePeers(o.peer ?? [], { nodes, store, backend, api });
  const dns: LabDns = {
    domain: parseClusterDomain(o.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN),
    replicas: parseDnsReplicas(String(o.dnsReplicas ?? DEFAULT_DNS_REPLICAS)),
    upstreams: (o.dnsUpstream ?? []).map(parseDnsUpstream),
    ...parseDnsServer(o.dns, api, o.dnsReplicas),
  };
  return {
    name,
    nodes,
    backend,
    store,
    network,
    serviceCidr,
    lbCidr,
    dns,
    // Recorded only when not the default, so a one-segment lab's spec is what it always was.
    ...(segments > 1 ? { segments } : {}),
    ...(o.directRouting === true ? { directRouting: true } : {}),
    ...ingressOf(o.ingressReplicas),
    ...(o.flowLog === false ? { flowLog: false as const } : {}),
    ...(o.flowLogCapacity !== undefined ? { flowLogCapacity: parseFlowLogCapacity(String(o.flowLogCapacity)) } : {}),
    ...(bgpPeer === 'router' ? { bgpPeer } : {}),
    ...(api === 'kube' ? { api: 'kube' as const } : {}),
    ...(peers ? { peers } : {}),
    ...(services === 'kube-proxy' ? { services } : {}),
  };
}

/**
 * `--peer KIND=NODE[,NODE]`: nodes that run a real peer daemon instead of weft's agent. Only
 * flannel (flanneld) so far, and only where flanneld can run beside weft in this lab: with a
 * datastore both read (an etcd store: flanneld's etcd mode; or --api kube: its kube-subnet-mgr
 * mode, Node objects as leases; the embedded SQLite store is weft's own and flanneld cannot read
 * it), on a backend both have (vxlan, host-gw).
 */
function parsePeers(
  texts: readonly string[],
  lab: { nodes: number; store: LabStore; backend: LabBackend; api: 'embedded' | 'kube' },
): LabPeers | undefined {
  if (texts.length === 0) return undefined;
  const peers: LabPeers = {};
  const taken = new Map<string, string>();
  for (const text of texts) {
    const eq = text.indexOf('=');
    const kind = eq < 0 ? text : text.slice(0, eq);
    if (!(PEER_KINDS as readonly string[]).includes(kind))
      throw new LabSpecError(
        `--peer: "${kind}" is not a peer (use ${PEER_KINDS.map((k) => `${k}=NODE[,NODE]`).join(' or ')})`,
      );
    const names =
      eq < 0
        ? []
        : text
            .slice(eq + 1)
            .split(',')
            .map((s) => s.trim());
    if (names.length === 0 || names.some((n) => n === ''))
      throw new LabSpecError(`--peer ${text}: name the nodes that run ${kind}, e.g. ${kind}=n2 or ${kind}=n1,n2`);
    for (const n of names) {
      const i = /^n([1-9]\d*)$/.exec(n);
      if (!i || Number(i[1]) > lab.nodes)
        throw new LabSpecError(`--peer ${text}: the lab has no node "${n}" (its nodes are n1 to n${lab.nodes})`);
      const other = taken.get(n);
      if (other !== undefined)
        throw new LabSpecError(`--peer ${text}: node ${n} is named twice (already in --peer ${other})`);
      taken.set(n, text);
    }
    peers[kind as PeerKind] = [...(peers[kind as PeerKind] ?? []), ...names].sort(
      (a, b) => Number(a.slice(1)) - Number(b.slice(1)),
    );
  }
  if (lab.store.kind !== 'etcd' && lab.api !== 'kube')
    throw new LabSpecError(
      `--peer: flanneld needs a datastore it shares with weft: --store etcd (its etcd mode) or --api kube (its kube-subnet-mgr mode); the embedded store is weft's own`,
    );
  if (lab.backend !== 'vxlan' && lab.backend !== 'host-gw')
    throw new LabSpecError(
      `--peer: flanneld runs beside weft on --backend vxlan or host-gw only, not ${lab.backend}${lab.backend === 'bgp' ? ' (flanneld has no bgp backend)' : " (weft's udp backend is not checked against flanneld's)"}`,
    );
  return peers;
}

function parseFlowLogCapacity(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 1_000_000)
    throw new LabSpecError(`--flow-log-capacity: "${text}" must be a whole number from 1 to 1000000`);
  return Number(text);
}

function parseSegments(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > MAX_LAB_SEGMENTS)
    throw new LabSpecError(
      `--segments: "${text}" must be a whole number from 1 to ${MAX_LAB_SEGMENTS} (the lab's segments are 10.99.0.0/24 to 10.99.${MAX_LAB_SEGMENTS - 1}.0/24, joined by one router)`,
    );
  return Number(text);
}

function parseClusterDomain(text: string): string {
  const domain = text.replace(/\.$/, '').toLowerCase();
  const problems = domain === '' ? ['must not be empty'] : checkDns1123Subdomain(domain);
  if (problems.length > 0) throw new LabSpecError(`--cluster-domain: "${text}": ${problems.join('; ')}`);
  return domain;
}

/** `--dns`: weft (the default) or coredns, which reads the Kubernetes API and so needs --api kube. */
function parseDnsServer(
  text: string | undefined,
  api: string,
  replicas: string | number | undefined,
): { server?: 'coredns' } {
  if (text === undefined || text === 'weft') return {};
  if (text !== 'coredns')
    throw new LabSpecError(
      `--dns: "${text}" must be weft (weft dns) or coredns (the real CoreDNS, built by scripts/build-peers.sh)`,
    );
  if (api !== 'kube')
    throw new LabSpecError(
      "--dns coredns: needs --api kube (CoreDNS's kubernetes plugin reads Services and EndpointSlices from the Kubernetes API)",
    );
  if (replicas !== undefined && Number(replicas) === 0)
    throw new LabSpecError('--dns coredns: --dns-replicas 0 runs no DNS pods at all (give 1 or more)');
  return { server: 'coredns' };
}

function parseDnsReplicas(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 10)
    throw new LabSpecError(`--dns-replicas: "${text}" must be a whole number from 0 (no cluster DNS) to 10`);
  return Number(text);
}

/** IP, IP:PORT or [IPv6]:PORT, kept as written once checked (`weft dns --upstream` reads it). */
function parseDnsUpstream(text: string): string {
  try {
    parseUpstream(text, '--dns-upstream');
  } catch (err) {
    throw new LabSpecError((err as Error).message);
  }
  return text;
}

/**
 * The load-balancer pool: a block of the underlay segment (the outside client reaches it through
 * the segment's gateway, which routes it to the nodes) that holds no node, gateway, router or
 * default outside client address. Every address of the block is handed out, as MetalLB does.
 */
function parseLbCidr(text: string, nodes: number, segments: number): string {
  let net;
  try {
    net = networkOf(parseCidr(text));
  } catch (err) {
    throw new LabSpecError(`--lb-cidr: ${(err as Error).message}`);
  }
  const segment = parseCidr(UNDERLAY_CIDR);
  if (net.address.family !== 4 || net.prefix < segment.prefix || !cidrContains(segment, net.address))
    throw new LabSpecError(
      `--lb-cidr: "${text}" must be a block of the lab's underlay segment ${UNDERLAY_CIDR} (default ${DEFAULT_LB_CIDR})`,
    );
  for (let off = 0n; off < cidrSize(net); off++) {
    const ip = addToIp(net.address, off);
    if (!ip) break;
    const user =
      segmentUser(ip, nodes, segments) ??
      (formatIp(ip) === DEFAULT_OUTSIDE_ADDRESS
        ? `the default outside client (${DEFAULT_OUTSIDE_ADDRESS})`
        : undefined);
    if (user)
      throw new LabSpecError(
        `--lb-cidr: "${text}" holds ${user}; pick a block clear of it (default ${DEFAULT_LB_CIDR})`,
      );
  }
  return formatCidr(net);
}

function parseServiceCidr(text: string, network: string): string {
  let net;
  try {
    net = parseCidr(text);
  } catch (err) {
    throw new LabSpecError(`--service-cidr: ${(err as Error).message}`);
  }
  if (net.address.family !== 4)
    throw new LabSpecError(`--service-cidr: "${text}" must be an IPv4 range (the lab is IPv4 only)`);
  // kube-apiserver refuses IPv4 service ranges bigger than a /12; smaller than /28 leaves no room.
  if (net.prefix < 12 || net.prefix > 28)
    throw new LabSpecError(`--service-cidr: "${text}" must be a /12 to /28 (kube-apiserver allows at most a /12)`);
  // The underlay (10.99.0.0/24) lies inside the default range (kubeadm's 10.96.0.0/12): its
  // addresses are held back from allocation instead (see serviceRangesOf).
  if (cidrsOverlap(net, parseCidr(network)))
    throw new LabSpecError(`--service-cidr: "${text}" overlaps the pod network (--network) ${network}`);
  return formatCidr(networkOf(net));
}

/**
 * The Service CIDR of a `--services kube-proxy` lab. kube-proxy's nftables mode drops every packet
 * to an address of the Service CIDR that is no ClusterIP (its cluster-ips-check chain: "Drop
 * traffic to unallocated ClusterIPs"), so the lab's default range (kubeadm's 10.96.0.0/12, which
 * holds the underlay 10.99.0.0/24) would cut the nodes off from their gateway and the API server.
 * Such a lab's default is 10.96.0.0/16, and a range over any underlay segment is refused.
 */
export const KUBE_PROXY_SERVICE_CIDR = '10.96.0.0/16';
function parseKubeProxyServiceCidr(text: string | undefined, network: string, segments: number): string {
  const cidr = parseServiceCidr(text ?? KUBE_PROXY_SERVICE_CIDR, network);
  for (let k = 0; k < segments; k++)
    if (cidrsOverlap(parseCidr(cidr), parseCidr(segmentCidr(k))))
      throw new LabSpecError(
        `--service-cidr: "${text}" overlaps the underlay ${segmentCidr(k)} (the nodes' addresses): with --services kube-proxy it must not, as kube-proxy drops traffic to every address of the Service CIDR that is no ClusterIP (e.g. --service-cidr ${KUBE_PROXY_SERVICE_CIDR}, its default there)`,
      );
  return cidr;
}

function parseStore(text: string): LabStore {
  if (text === 'embedded') return { kind: 'embedded' };
  if (text === 'etcd') return { kind: 'etcd', managed: true };
  if (text.startsWith('etcd=')) {
    const endpoints = text
      .slice('etcd='.length)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (endpoints.length === 0)
      throw new LabSpecError('--store: etcd= needs at least one URL, e.g. etcd=http://10.99.0.254:2379');
    for (const e of endpoints) {
      let url: URL;
      try {
        url = new URL(e);
      } catch {
        throw new LabSpecError(`--store: "${e}" is not a URL`);
      }
      if (url.protocol !== 'http:')
        throw new LabSpecError(`--store: "${e}": only http:// etcd endpoints are supported`);
    }
    return { kind: 'etcd', managed: false, endpoints };
  }
  throw new LabSpecError(`--store: "${text}" is not a store (use embedded, etcd, or etcd=URL)`);
}

/** The net-conf.json the agents start from (Flannel's format). */
export function labNetConf(spec: LabSpec): string {
  // The subnet length Flannel would pick is /24 for networks of /22 or more.
  const backend = {
    Type: spec.backend,
    ...(spec.directRouting ? { DirectRouting: true } : {}),
    // Router peering: each node peers with the router's leg on its own segment.
    ...(spec.bgpPeer === 'router' ? { Peering: 'router', RouterAddress: segmentsOf(spec).map(segmentRouter) } : {}),
  };
  return JSON.stringify({ Network: spec.network, SubnetLen: 24, Backend: backend }, null, 2) + '\n';
}

/** `--ingress-replicas`: 0 (the default: no ingress controller) to 10 pods. */
function ingressOf(value: string | number | undefined): { ingress?: { replicas: number } } {
  const text = String(value ?? 0);
  if (!/^\d+$/.test(text) || Number(text) > 10)
    throw new LabSpecError(`--ingress-replicas: "${text}" must be a whole number from 0 (no ingress controller) to 10`);
  return Number(text) === 0 ? {} : { ingress: { replicas: Number(text) } };
}
