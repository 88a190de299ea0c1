/**
 * Every kernel object name weft makes (links, nftables tables, chains and sets, lock and data
 * paths) comes from here, so that cleanup code and humans can find them, and so that generated
 * names respect Linux's 15-character interface name limit (IFNAMSIZ - 1).
 */

/** FNV-1a, 32 bits, as 8 hex digits: stable across runs and processes, no crypto needed. */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * The host end of a pod's veth pair: "veth" + 8 hex digits of hash(containerID, ifname), 12
 * characters. Deterministic, so DEL finds it even when the pod's namespace is already gone, and
 * a repeated ADD finds the pair it made before.
 */
export function hostVethName(containerId: string, ifname: string): string {
  return `veth${shortHash(`${containerId}/${ifname}`)}`;
}

/**
 * The MAC of a pod's interface when the runtime asks for none. Known before the veth exists, so
 * the pod guard can hold it before either end is up (a kernel-chosen MAC would need one more read
 * of the pod's namespace).
 *
 * With an IPv4 address it is 0a:58 and the address's four bytes, as Kubernetes' kubenet and the
 * reference bridge plugin once did: an address that comes back on a new pod comes back with the
 * same MAC, so the neighbour entries that other pods and the node still hold for it stay right
 * (with a new MAC they point at the old pod for seconds, until the kernel probes again). Without
 * one: locally administered unicast from hash(containerID, ifname).
 */
export function podMac(containerId: string, ifname: string, ipv4?: string): string {
  if (ipv4 !== undefined) {
    const bytes = ipv4.split('.').map((b) => Number(b).toString(16).padStart(2, '0'));
    return ['0a', '58', ...bytes].join(':');
  }
  const hex = shortHash(`${containerId}/${ifname}`) + shortHash(`mac/${containerId}/${ifname}`).slice(0, 4);
  const bytes = hex.match(/../g) ?? [];
  bytes[0] = ((Number.parseInt(bytes[0] ?? '0', 16) & 0xfc) | 0x02).toString(16).padStart(2, '0');
  return bytes.join(':');
}

/** Default bridge name, as in the reference bridge plugin. */
export const DEFAULT_BRIDGE = 'cni0';

/** The nftables table (family inet) where the bridge plugin's ipMasq lives. */
export const MASQ_TABLE = 'weft-masq';

/** The nftables table (family inet) where the portmap plugin's DNAT lives. */
export const PORTMAP_TABLE = 'weft-portmap';

/** The chains, maps and sets inside PORTMAP_TABLE (see src/core/nft/portmap.ts for their roles). */
export const PORTMAP_OBJECTS = {
  preroutingChain: 'prerouting',
  outputChain: 'output',
  postroutingChain: 'postrouting',
  hostportsChain: 'hostports',
  /** hostPort on any local address: `proto . port : podIP . podPort`. */
  anyAddressMap: { 4: 'hostports-v4', 6: 'hostports-v6' },
  /** hostPort on one hostIP: `hostIP . proto . port : podIP . podPort`. */
  hostIpMap: { 4: 'hostip-hostports-v4', 6: 'hostip-hostports-v6' },
  /** Connections to masquerade after DNAT: `source prefix . podIP`. */
  masqSet: { 4: 'masq-v4', 6: 'masq-v6' },
} as const;

/** Lock file (under the plugin's lock dir) serialising read-modify-write of PORTMAP_TABLE. */
export const PORTMAP_LOCK_FILE = 'portmap.lock';

/** The host-local plugin's default data directory, the reference plugin's own default. */
export const DEFAULT_IPAM_DATA_DIR = '/var/lib/cni/networks';

/** Where weft's plugins keep lock files for state shared between invocations (nft tables). */
export const DEFAULT_LOCK_DIR = '/run/weft/locks';

/** The tag weft puts on nft set elements and comments: "<containerID>/<ifname>". */
export function attachmentTag(containerId: string, ifname: string): string {
  return `${containerId}/${ifname}`;
}

/** The nftables table (family inet) where the agent's ip-masq rules live. */
export const AGENT_MASQ_TABLE = 'weft-agent-masq';

/** The chains inside AGENT_MASQ_TABLE (see src/core/nft/agent-masq.ts). */
export const AGENT_MASQ_OBJECTS = { postroutingChain: 'postrouting' } as const;

/** The nftables table (family inet) where the agent's NetworkPolicy lives. */
export const POLICY_TABLE = 'weft-policy';

/** The fixed chains, maps and sets of POLICY_TABLE (see src/core/policy/policy-table.ts for their roles). */
export const POLICY_OBJECTS = {
  /** The base chain. */
  forwardChain: 'forward',
  /** Local pod address → `jump` to the chain of the policies isolating it for ingress. */
  ingressMap: 'ingress-pods',
  /** Local pod address → `jump` to the chain of the policies isolating it for egress. */
  egressMap: 'egress-pods',
  /** `addr . addr` of every isolated local pod: a pod always reaches itself. */
  selfSet: 'self',
} as const;

/**
 * The NFLOG group the policy table logs flows to (`log group N`), read by the agent's own NFLOG
 * socket (src/adapters/nflog.ts). NFLOG groups are per network namespace, so every node uses the
 * same number.
 */
export const FLOW_LOG_GROUP = 27;

/** What every flow log prefix of the policy table starts with (src/core/policy/flow-log.ts). */
export const FLOW_LOG_PREFIX = 'weft';

/** The nftables table (family ip) where the agent programs Services (src/core/services/service-table.ts). */
export const SERVICES_TABLE = 'weft-services';

/** The fixed chains, maps and sets of SERVICES_TABLE (see src/core/services/service-table.ts for their roles). */
export const SERVICES_OBJECTS = {
  natPrerouting: 'nat-prerouting',
  natOutput: 'nat-output',
  natPostrouting: 'nat-postrouting',
  filterInput: 'filter-input',
  filterForward: 'filter-forward',
  filterOutput: 'filter-output',
  /** The two lookups every new connection makes: VIP . proto . port, and proto . node port. */
  servicesChain: 'services',
  endpointsCheck: 'endpoints-check',
  markChain: 'mark-for-masquerade',
  masqueradingChain: 'masquerading',
  rejectChain: 'reject-chain',
  serviceIps: 'service-ips',
  serviceNodePorts: 'service-nodeports',
  noEndpointServices: 'no-endpoint-services',
  noEndpointNodePorts: 'no-endpoint-nodeports',
  clusterIps: 'cluster-ips',
  /** loadBalancerSourceRanges: filter chains before DNAT, and the LB address . proto . port map to each Service's firewall chain. */
  firewallPrerouting: 'filter-prerouting-pre-dnat',
  firewallOutput: 'filter-output-pre-dnat',
  firewallCheck: 'firewall-check',
  firewallIps: 'firewall-ips',
} as const;

/**
 * The shared balancing objects of the services table (src/core/services/service-table.ts): one
 * chain per endpoint count in use and one map per endpoint index, never one per Service, so an
 * endpoint change is element edits only (nft 1.0.6 lists every chain of the netns for a
 * transaction that adds a rule or an element: the cost grows with the number of chains).
 */
export const SERVICES_BALANCE = {
  /** ClusterIP traffic, Cluster policy: masquerade sources outside the pod network, pick one of n. */
  cluster: (n: number) => `cluster-${n}`,
  /** ClusterIP traffic, internalTrafficPolicy Local: pick one of this node's n endpoints. */
  local: (n: number) => `local-${n}`,
  /** Load-balancer and external-IP traffic (externalTrafficPolicy Cluster): masquerade, pick one of n. */
  external: (n: number) => `external-${n}`,
  /** Node-port traffic (externalTrafficPolicy Cluster): masquerade, pick one of n. */
  nodePort: (n: number) => `nodeport-${n}`,
  /** DNAT to endpoint i of the address . proto . port: a lookup in endpointsMap(i). */
  pick: (i: number) => `pick-${i}`,
  /** DNAT to endpoint i of the node port: a lookup in nodePortEndpointsMap(i). */
  nodePortPick: (i: number) => `nodeport-pick-${i}`,
  /** address . proto . port → endpoint i's address . port. */
  endpointsMap: (i: number) => `endpoints-${i}`,
  /** endpoint i's address . ClusterIP . proto . port: that endpoint reaching itself (hairpin), masqueraded. */
  hairpinMap: (i: number) => `hairpin-${i}`,
  /** proto . node port → endpoint i's address . port. */
  nodePortEndpointsMap: (i: number) => `nodeport-endpoints-${i}`,
} as const;

/** The packet mark bit that asks the services table's postrouting chain to masquerade (kube-proxy's 0x4000). */
export const MASQUERADE_MARK = 0x4000;

/** The nftables table (family inet) where the agent guards the node itself (src/core/nft/node-guard.ts). */
export const NODE_GUARD_TABLE = 'weft-node';

/** The chains and sets inside NODE_GUARD_TABLE. */
export const NODE_GUARD_OBJECTS = {
  inputChain: 'input',
  forwardChain: 'forward',
  /** The underlay addresses of the peer nodes (live leases). */
  peerSet: 'peers',
  /** address . port of every store endpoint the agent was given. */
  storeSet: 'store',
} as const;

/** The nftables table (family ip) `weft trace` puts in a namespace while it traces one packet (src/core/trace/trace-table.ts). */
export const TRACE_TABLE = 'weft-trace';

/** The chains inside TRACE_TABLE. */
export const TRACE_OBJECTS = {
  preroutingChain: 'prerouting',
  outputChain: 'output',
} as const;

/** The nftables table (family bridge) where the bridge plugin guards its pods' ports (src/core/nft/pod-guard.ts). */
export const GUARD_TABLE = 'weft-guard';

/** The chains and sets inside GUARD_TABLE. */
export const GUARD_OBJECTS = {
  preroutingChain: 'prerouting',
  forwardChain: 'forward',
  outputChain: 'output',
  /** The per-port checks, jumped to from prerouting for a guarded port. */
  fromPodChain: 'from-pod',
  /** Host veth names of the guarded pods. */
  portSet: 'ports',
  /** host veth . pod MAC . pod address: what a pod may send as. */
  addrSet: { 4: 'ports-v4', 6: 'ports-v6' },
  /** Pod addresses no traffic may reach or leave until the node's agent has programmed policy. */
  pendingSet: { 4: 'pending-v4', 6: 'pending-v6' },
} as const;

/** The lock file (under the plugin's lock dir) serialising read-modify-writes of GUARD_TABLE. */
export const GUARD_LOCK_FILE = 'weft-guard.lock';

/**
 * A generated policy set or chain name: a kind prefix ("peer", "block", "ports", "named-in",
 * "named-eg", "in", "eg") and 16 hex digits of two FNV hashes of what it stands for (a
 * selector, an ipBlock, a port list, a group of policies), so that equal meanings share one
 * object and names stay stable across restarts. nft allows 255 characters; these use at most 25.
 */
export function policyObjectName(prefix: string, key: string): string {
  return `${prefix}-${shortHash(key)}${shortHash(`\u0001${key}`)}`;
}

/** Default run dir of the agent: subnet.env lives here, as Flannel's /run/flannel/subnet.env. */
export const DEFAULT_AGENT_RUN_DIR = '/run/weft';

/** The flannel-like CNI plugin type that reads subnet.env and delegates to bridge + host-local. */
export const WEFT_CNI_TYPE = 'weft';

/** The chain and sets inside MASQ_TABLE (see src/core/nft/masq.ts for their roles). */
export const MASQ_OBJECTS = {
  postroutingChain: 'postrouting',
  /** Pod addresses whose traffic leaving the pod's subnet is masqueraded. */
  podSet: { 4: 'pods-v4', 6: 'pods-v6' },
  /** `pod address . pod subnet`: destinations that stay unmasqueraded for that pod. */
  localSet: { 4: 'local-v4', 6: 'local-v6' },
} as const;

/** Lock file (under the plugin's lock dir) serialising read-modify-write of MASQ_TABLE. */
export const MASQ_LOCK_FILE = 'masq.lock';

/**
 * Every VXLAN device weft's vxlan backend makes is named `weft.<VNI>` (Flannel's is
 * `flannel.<VNI>`); cleanup and backend switches find weft's devices by this prefix. At most
 * 5 + 8 digits (VNI < 2^24) = 13 characters.
 */
export const VXLAN_DEVICE_PREFIX = 'weft.';

export function vxlanDeviceName(vni: number): string {
  return `${VXLAN_DEVICE_PREFIX}${vni}`;
}

/**
 * The udp backend's TUN device (Flannel's is `flannel0`). Its name is not `weft.`-prefixed, so
 * the VXLAN listing never takes it for one of the vxlan backend's devices.
 */
export const UDP_TUN_DEVICE = 'weft0';

/**
 * The routing protocol number (`ip route ... proto 119`) that marks every route weft's backends
 * install, so the reconciler can list exactly its own routes (`ip route show proto 119`) and never
 * touch another's. 119 = 0x77 = ASCII "w"; it is not among the numbers iproute2's rt_protos
 * reserves (0-4 kernel/boot/static, 8-18, 42 babel, 99 openr, 186-192 routing daemons).
 */
export const WEFT_ROUTE_PROTOCOL = 119;

/**
 * The lab: every namespace of lab NAME starts with `weft-lab-NAME-`. Lab names are lowercase
 * letters and digits only (no "-"), so one lab's prefix is never a prefix of another's and
 * `weft lab down` can find everything of its own lab by prefix, even after a crash.
 */
export const LAB_NS_PREFIX = 'weft-lab-';
export const LAB_NAME_PATTERN = /^[a-z][a-z0-9]{0,15}$/;
export const DEFAULT_LAB_ROOT = '/run/weft/labs';

export function labNamespacePrefix(lab: string): string {
  return `${LAB_NS_PREFIX}${lab}-`;
}

/** The namespace of an outside client of the lab (`weft lab outside --address IP`), one per address. */
export function labOutsideNamespace(lab: string, ip: string): string {
  return `${labNamespacePrefix(lab)}out-${ip}`;
}

/** The namespace of lab node `node` (node names are n1, n2, ...). */
export function labNodeNamespace(lab: string, node: string): string {
  return `${labNamespacePrefix(lab)}${node}`;
}

/**
 * A pod's namespace: Kubernetes namespaces cannot contain ".", so `pod.NS.NAME` is unambiguous.
 * A file name (under /run/netns) has at most 255 bytes; very long pod names are cut and made
 * unique again with a hash of the full name.
 */
export function labPodNamespace(lab: string, namespace: string, name: string): string {
  const full = `${labNamespacePrefix(lab)}pod.${namespace}.${name}`;
  return full.length <= 200 ? full : `${full.slice(0, 190)}-${shortHash(full)}`;
}

/** The CNI container ID of a pod: unique per pod object (uid), as a runtime's sandbox ID is. */
export function labContainerId(lab: string, uid: string): string {
  return `weft-${lab}-${uid.replace(/-/g, '')}`;
}
