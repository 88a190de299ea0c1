/**
 * The bgp backend's BIRD 2 configuration, rendered from the cluster state as plain text (Calico's
 * model: every node runs BIRD, announces its own pod subnet over BGP and installs the others'
 * subnets into the kernel, so packets between pods are routed with no encapsulation and no weft
 * or BIRD process in the forwarding path).
 *
 * What a node's config holds, and why:
 * - `router id` = the node's public IP (unique in the cluster, as BGP needs).
 * - `protocol device`: BIRD learns the interfaces, to resolve directly connected next hops.
 * - `protocol static` announcing the node's own subnet as a blackhole: a route BGP can carry, but
 *   the kernel export filter never lets it into the kernel (the bridge's connected route serves the
 *   node's own pods; a blackhole in the kernel would shadow nothing but must not appear either).
 * - `protocol kernel`: exports only BGP-learnt routes to other nodes' subnets; `learn off` (BIRD
 *   never imports another daemon's routes), `persist` (BIRD's exit leaves the routes in place, so
 *   forwarding survives BIRD's death) and `graceful restart` (a BIRD restarted with -R keeps the
 *   kernel routes until BGP has converged again instead of pruning them at its first scan).
 *   BIRD 2.0.12 marks every route it installs with protocol 12 ("bird", RTPROT_BIRD, hard-coded
 *   in sysdep/linux/netlink.c): it has no option to choose another number. weft tells BIRD's
 *   routes apart by that protocol *and* by a metric of its own (BGP_ROUTE_METRIC), which the
 *   kernel protocol's `metric` option does set.
 * - One `protocol bgp` per peer (mesh: every other node on this node's segment; router: the
 *   router's address on this node's segment). Graceful restart on, so a peer keeps this node's
 *   routes while BIRD restarts; short timers so a joining node's routes appear within a second or two.
 * - The import filter accepts only prefixes strictly inside the cluster network and not inside the
 *   node's own subnet: a peer can neither steal traffic outside the pod network (a default route,
 *   the service range, the underlay) nor part of this node's pods.
 *
 * The text is a function of the peer *set*: sessions are sorted by address, and protocol names are
 * derived from addresses, so lease order never changes a byte (and never makes BIRD reconfigure).
 */

import { cidrContains, compareIp, formatCidr, formatIp, networkOf, tryParseCidr, tryParseIp } from '../net/ip.js';
import type { IpAddress, IpNet } from '../net/ip.js';

export class BgpConfigError extends Error {
  override readonly name = 'BgpConfigError';
}

/** Net-conf's Backend fields of the bgp backend (see src/core/flannel/net-conf.ts). */
export interface BgpConf {
  /** This cluster's (every node's) AS number. */
  asNumber: number;
  /** mesh: every node peers with every other node; router: every node peers with the router. */
  peering: 'mesh' | 'router';
  /** The router's AS number (router peering; default: asNumber, iBGP with the router as route reflector). */
  routerAsNumber: number;
  /** The router's addresses (router peering): a node peers with the one on its own segment. */
  routerAddresses: string[];
}

/** The kernel route metric BIRD's routes carry on a weft node (BIRD's own default is 32). */
export const BGP_ROUTE_METRIC = 119;

/** The route protocol number BIRD 2 gives every route it installs (RTPROT_BIRD; not configurable). */
export const BIRD_ROUTE_PROTOCOL = 12;

/** The BGP TCP port, which the node guard keeps pods from. */
export const BGP_PORT = 179;

/** AS numbers that can never be a cluster's: 0 (reserved, RFC 7607), 65535 and 4294967295 (RFC 7300), 23456 (AS_TRANS, RFC 6793). */
export function asNumberProblem(n: number): string | undefined {
  if (!Number.isInteger(n) || n < 1 || n > 4294967294) return `${n} is outside 1..4294967294`;
  if (n === 65535 || n === 23456) return `${n} is a reserved AS number`;
  return undefined;
}

export interface BgpNode {
  /** The node's pod subnet, e.g. "10.244.1.0/24". */
  subnet: string;
  /** The node's underlay address, e.g. "10.99.0.1": router id and session source. */
  publicIp: string;
  /** The node's underlay address with its connected prefix, e.g. "10.99.0.1/24": its segment. */
  underlayCidr: string;
}

export interface BgpPeerInput {
  subnet: string;
  publicIp: string;
  nodeName?: string;
}

export interface BgpSession {
  /** The BIRD protocol name, derived from the address (e.g. "peer_10_99_0_2"). */
  name: string;
  address: string;
  kind: 'node' | 'router';
  localAs: number;
  neighborAs: number;
  /** The peer's subnet (node sessions), for `weft get bgp`. */
  subnet?: string;
}

/** A peer the backend cannot serve (the other peers are unaffected). */
export interface BgpPeerError {
  subnet: string;
  publicIp: string;
  message: string;
}

export interface NodeBirdConfig {
  text: string;
  sessions: BgpSession[];
  errors: BgpPeerError[];
}

interface Parsed {
  network: IpNet;
  subnet: IpNet;
  publicIp: IpAddress;
  segment: IpNet;
}

function parseInputs(node: BgpNode, network: string, conf: BgpConf): Parsed {
  const fail = (field: string, why: string): never => {
    throw new BgpConfigError(`bgp config: ${field}: ${why}`);
  };
  const net = tryParseCidr(network);
  if (!net || net.address.family !== 4) return fail('Network', `"${network}" is not an IPv4 CIDR`);
  const subnet = tryParseCidr(node.subnet);
  if (!subnet || subnet.address.family !== 4) return fail('node subnet', `"${node.subnet}" is not an IPv4 CIDR`);
  if (!cidrContains(net, subnet.address) || subnet.prefix <= net.prefix)
    fail('node subnet', `${node.subnet} is not inside the network ${network}`);
  const publicIp = tryParseIp(node.publicIp);
  if (!publicIp || publicIp.family !== 4) return fail('node publicIp', `"${node.publicIp}" is not an IPv4 address`);
  const segment = tryParseCidr(node.underlayCidr);
  if (!segment || segment.address.family !== 4)
    return fail('underlay cidr', `"${node.underlayCidr}" is not an IPv4 address/prefix`);
  const asProblem = asNumberProblem(conf.asNumber);
  if (asProblem) fail('Backend.ASNumber', asProblem);
  const routerAsProblem = asNumberProblem(conf.routerAsNumber);
  if (routerAsProblem) fail('Backend.RouterASNumber', routerAsProblem);
  return { network: networkOf(net), subnet: networkOf(subnet), publicIp, segment: networkOf(segment) };
}

/** The BIRD protocol name for a session to `ip`: letters, digits and "_" only (a BIRD symbol). */
export function sessionName(kind: 'node' | 'router', ip: string): string {
  return `${kind === 'node' ? 'peer' : 'router'}_${ip.replaceAll('.', '_')}`;
}

/**
 * The router address this node peers with: the one of `routerAddresses` inside the node's segment.
 * Throws BgpConfigError naming Backend.RouterAddress when none (or a bad one) is.
 */
export function routerAddressFor(node: BgpNode, routerAddresses: readonly string[]): string {
  const segment = tryParseCidr(node.underlayCidr);
  if (!segment) throw new BgpConfigError(`bgp config: underlay cidr: "${node.underlayCidr}" is not an address/prefix`);
  const seg = networkOf(segment);
  if (routerAddresses.length === 0)
    throw new BgpConfigError('bgp config: Backend.RouterAddress: is required with Peering "router"');
  for (const text of routerAddresses) {
    const ip = tryParseIp(text);
    if (!ip || ip.family !== 4)
      throw new BgpConfigError(`bgp config: Backend.RouterAddress: "${text}" is not an IPv4 address`);
    if (cidrContains(seg, ip)) return formatIp(ip);
  }
  throw new BgpConfigError(
    `bgp config: Backend.RouterAddress: none of ${routerAddresses.join(', ')} is on this node's segment ${formatCidr(seg)} (node ${node.publicIp})`,
  );
}

/** Prefixes strictly inside the network and not inside `own`: the import filter of every session. */
function importFilter(name: string, network: IpNet, own: IpNet | undefined): string[] {
  const lines = [`filter ${name} {`];
  if (own) lines.push(`  if net ~ [ ${formatCidr(own)}+ ] then reject;`);
  lines.push(`  if net ~ [ ${formatCidr(network)}{${network.prefix + 1},32} ] then accept;`, '  reject;', '}');
  return lines;
}

/** Timers shared by node and router sessions: fast establishment and failure detection. */
const SESSION_TIMERS = [
  '  graceful restart on;',
  // Connect at once (no delay after a session starts), retry every second: a joining node's routes
  // should appear within a second or two.
  '  connect delay time 0;',
  '  connect retry time 1;',
  '  error wait time 1, 10;',
  // A peer whose TCP session dies without a FIN (its namespace gone) is noticed within 9 s.
  '  hold time 9;',
  '  keepalive time 3;',
];

function kernelProtocol(network: IpNet, own: IpNet | undefined, persist: boolean): string[] {
  const notOwn = own ? ` && !(net ~ [ ${formatCidr(own)}+ ])` : '';
  return [
    'protocol kernel weft_kernel {',
    '  ipv4 {',
    '    import none;',
    // Only what BGP learnt (never the static blackhole of the own subnet), and only inside the network.
    `    export filter { if source = RTS_BGP && net ~ [ ${formatCidr(network)}{${network.prefix + 1},32} ]${notOwn} then accept; reject; };`,
    '  };',
    '  learn off;',
    ...(persist ? ['  persist;', '  graceful restart on;'] : []),
    `  metric ${BGP_ROUTE_METRIC};`,
    '  scan time 10;',
    '}',
  ];
}

/**
 * A node's BIRD config. Peers that cannot have a session become errors (bad addresses; in mesh
 * peering, peers off this node's segment: their next hop is not on a connected prefix, and the
 * router between the segments knows no pod routes, so use Peering "router"). Throws
 * BgpConfigError for a bad node or config (nothing sensible can be rendered).
 */
export function renderNodeBirdConfig(input: {
  node: BgpNode;
  network: string;
  conf: BgpConf;
  peers: readonly BgpPeerInput[];
}): NodeBirdConfig {
  const { node, conf } = input;
  const p = parseInputs(node, input.network, conf);
  const errors: BgpPeerError[] = [];
  const sessions: BgpSession[] = [];
  const self = formatIp(p.publicIp);
  if (conf.peering === 'router') {
    const address = routerAddressFor(node, conf.routerAddresses);
    sessions.push({
      name: sessionName('router', address),
      address,
      kind: 'router',
      localAs: conf.asNumber,
      neighborAs: conf.routerAsNumber,
    });
  } else {
    const seen = new Map<string, BgpPeerInput>();
    for (const peer of input.peers) {
      const err = (message: string) => errors.push({ subnet: peer.subnet, publicIp: peer.publicIp, message });
      const what = `peer ${peer.publicIp} (subnet ${peer.subnet}${peer.nodeName ? `, node ${peer.nodeName}` : ''})`;
      const ip = tryParseIp(peer.publicIp);
      const subnet = tryParseCidr(peer.subnet);
      if (!ip || ip.family !== 4) {
        err(`bgp: ${what}: public IP is not an IPv4 address`);
        continue;
      }
      if (subnet && networkOf(subnet).address.value === p.subnet.address.value && subnet.prefix === p.subnet.prefix)
        continue; // the node's own lease
      const address = formatIp(ip);
      if (address === self) {
        err(`bgp: ${what}: has this node's own public IP`);
        continue;
      }
      if (!cidrContains(p.segment, ip)) {
        err(
          `bgp: ${what} is not on this node's segment ${formatCidr(p.segment)}; not peered: use Backend.Peering "router" to route across segments`,
        );
        continue;
      }
      const before = seen.get(address);
      // Two leases with one address (a stale lease beside a fresh one): one session; the subnets
      // it may announce are whatever it announces, inside the network.
      if (!before || peer.subnet < before.subnet) seen.set(address, peer);
    }
    for (const [address, peer] of seen) {
      sessions.push({
        name: sessionName('node', address),
        address,
        kind: 'node',
        localAs: conf.asNumber,
        neighborAs: conf.asNumber,
        subnet: peer.subnet,
      });
    }
  }
  sessions.sort((a, b) => compareIp(tryParseIp(a.address) as IpAddress, tryParseIp(b.address) as IpAddress));
  errors.sort((x, y) => cmp(x.publicIp, y.publicIp) || cmp(x.subnet, y.subnet) || cmp(x.message, y.message));
  const ebgp = conf.peering === 'router' && conf.routerAsNumber !== conf.asNumber;
  const lines = [
    `# BIRD 2 config of weft's bgp backend for node ${self} (subnet ${formatCidr(p.subnet)}).`,
    '# Rendered by the weft agent from the cluster state; it is rewritten on every change.',
    `router id ${self};`,
    'log stderr { warning, error, fatal };',
    // A BIRD restarted with -R keeps the kernel routes until its sessions are back; a peer that
    // is gone for good must not hold that up for BIRD's default 240 s.
    'graceful restart wait 5;',
    '',
    'protocol device weft_device {',
    '  scan time 10;',
    '}',
    '',
    ...kernelProtocol(p.network, p.subnet, true),
    '',
    'protocol static weft_own {',
    '  ipv4 { import all; export none; };',
    `  route ${formatCidr(p.subnet)} blackhole;`,
    '}',
    '',
    ...importFilter('weft_import', p.network, p.subnet),
    '',
    'filter weft_export {',
    '  if proto = "weft_own" then accept;',
    '  reject;',
    '}',
    '',
    'template bgp weft_session {',
    `  local ${self} as ${conf.asNumber};`,
    '  direct;',
    ...SESSION_TIMERS,
    // eBGP to a router in another AS: the routes of the other nodes come back with this cluster's
    // own AS in their path, which BGP's loop detection would drop.
    ...(ebgp ? ['  allow local as;'] : []),
    '  ipv4 {',
    '    import filter weft_import;',
    '    export filter weft_export;',
    '    gateway direct;',
    '    next hop self;',
    '  };',
    '}',
  ];
  for (const s of sessions) {
    lines.push('', `protocol bgp ${s.name} from weft_session {`, `  neighbor ${s.address} as ${s.neighborAs};`, '}');
  }
  return { text: lines.join('\n') + '\n', sessions, errors };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface RouterLeg {
  /** The router's address on the segment, e.g. "10.99.1.253". */
  address: string;
  /** The segment, e.g. "10.99.1.0/24": every node in it may peer (BIRD's dynamic BGP). */
  segment: string;
}

/**
 * The BIRD config of a router that the nodes of its segments peer with (the lab's `--bgp-peer
 * router`): one session per node, from the router's leg on the node's segment, as route reflector
 * when the router shares the nodes' AS (iBGP), else as their eBGP upstream. It rewrites the next
 * hop to its own leg (`next hop self`), so a node on one segment routes another segment's pods via
 * the router, and installs every node's subnet into its own kernel (via the node, on its leg).
 *
 * The sessions come from the nodes' leases, like a node's own: a node that leaves is a protocol
 * removed by `birdc configure`, and its routes are withdrawn at once (a session that merely went
 * down would keep them for the graceful restart time). Passive: the nodes connect (their guard
 * takes 179/tcp only from peer nodes). Nodes on no leg's segment are skipped (they cannot peer).
 */
export function renderRouterBirdConfig(input: {
  routerId: string;
  legs: readonly RouterLeg[];
  network: string;
  conf: BgpConf;
  /** The nodes' underlay addresses (their leases' public IPs). */
  nodes: readonly string[];
}): string {
  const net = tryParseCidr(input.network);
  if (!net || net.address.family !== 4)
    throw new BgpConfigError(`bgp router: Network: "${input.network}" is not an IPv4 CIDR`);
  for (const [field, n] of [
    ['Backend.ASNumber', input.conf.asNumber],
    ['Backend.RouterASNumber', input.conf.routerAsNumber],
  ] as const) {
    const problem = asNumberProblem(n);
    if (problem) throw new BgpConfigError(`bgp router: ${field}: ${problem}`);
  }
  const network = networkOf(net);
  const ibgp = input.conf.asNumber === input.conf.routerAsNumber;
  const legs = input.legs.map((leg) => {
    const ip = tryParseIp(leg.address);
    const seg = tryParseCidr(leg.segment);
    if (!ip || ip.family !== 4 || !seg || !cidrContains(networkOf(seg), ip))
      throw new BgpConfigError(`bgp router: leg ${leg.address} is not an address inside ${leg.segment}`);
    return { address: formatIp(ip), segment: networkOf(seg) };
  });
  const lines = [
    '# BIRD 2 config of the lab router: route reflector / upstream of the nodes of every segment.',
    "# Rendered by the lab from the nodes' leases; it is rewritten when a node joins or leaves.",
    `router id ${input.routerId};`,
    'log stderr { warning, error, fatal };',
    '',
    'protocol device weft_device {',
    '  scan time 10;',
    '}',
    '',
    ...kernelProtocol(network, undefined, false),
    '',
    ...importFilter('weft_import', network, undefined),
    '',
    'template bgp weft_nodes {',
    '  direct;',
    '  passive on;',
    ...SESSION_TIMERS,
    ...(ibgp ? ['  rr client;'] : []),
    '  ipv4 {',
    '    import filter weft_import;',
    '    export filter { if source = RTS_BGP then accept; reject; };',
    '    gateway direct;',
    '    next hop self;',
    '  };',
    '}',
  ];
  const nodes = [...new Set(input.nodes)]
    .map((text) => tryParseIp(text))
    .filter((ip): ip is IpAddress => ip !== undefined && ip.family === 4)
    .sort(compareIp);
  for (const ip of nodes) {
    const leg = legs.find((l) => cidrContains(l.segment, ip));
    if (!leg || formatIp(ip) === leg.address) continue;
    lines.push(
      '',
      `protocol bgp ${sessionName('node', formatIp(ip))} from weft_nodes {`,
      `  local ${leg.address} as ${input.conf.routerAsNumber};`,
      `  neighbor ${formatIp(ip)} as ${input.conf.asNumber};`,
      '}',
    );
  }
  return lines.join('\n') + '\n';
}
