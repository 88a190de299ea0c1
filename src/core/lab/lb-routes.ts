/**
 * The lab's load-balancer routes: which nodes the segment's gateway sends each LoadBalancer
 * address to, as the router of a real cluster learns them from the nodes by BGP (MetalLB's BGP
 * mode, Calico's service advertisement):
 *
 * - externalTrafficPolicy Cluster: every node announces the address (any node forwards to any
 *   endpoint), so the gateway spreads flows over all of them (ECMP).
 * - externalTrafficPolicy Local: only nodes with a ready local endpoint announce it (the others
 *   would drop the traffic, see service-table.ts); with none the address is not routed at all.
 *
 * Pure: the lab's supervisor (src/lab/lb-routes.ts) turns the result into routes in the segment
 * namespace and keeps them in step with the Services and EndpointSlices.
 *
 * In a lab of several segments the gateway is on segment 0 and a next hop must be on-link: it
 * reaches the nodes of segment 0 directly and every other node through the router (one next hop
 * for all of them), and the router, on-link on every segment, has the address routed to those
 * nodes (splitBySegment).
 */

import type { EndpointSlice, Service } from '../k8s/objects.js';
import { endpointsOf, hasVip } from '../services/service-table.js';
import { cidrContains, parseCidr, tryParseIp } from '../net/ip.js';

export interface LabNodeAddress {
  name: string;
  ip: string;
}

/**
 * LB address → the underlay addresses of the nodes that announce it (node order); addresses nobody
 * announces are absent. Here and below a next hop may be listed more than once: it is then
 * weighted (a router with several nodes behind it).
 */
export function loadBalancerRoutes(input: {
  services: readonly Service[];
  slices: readonly EndpointSlice[];
  nodes: readonly LabNodeAddress[];
}): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of input.services) {
    if (s.spec.type !== 'LoadBalancer' || !hasVip(s)) continue;
    let via = input.nodes;
    if (s.spec.externalTrafficPolicy === 'Local') {
      const withEndpoints = new Set<string>();
      for (const p of s.spec.ports)
        for (const e of endpointsOf(s, p, input.slices)) if (e.ready && e.nodeName) withEndpoints.add(e.nodeName);
      via = input.nodes.filter((n) => withEndpoints.has(n.name));
    }
    if (via.length === 0) continue;
    for (const i of s.status?.loadBalancer.ingress ?? [])
      out.set(
        i.ip,
        via.map((n) => n.ip),
      );
  }
  return out;
}

/** Where the lab's router is, for labs of several segments. */
export interface LabRouter {
  /** The router's address on the gateway's segment. */
  ip: string;
  /** The gateway's segment: nodes inside it are on-link for the gateway. */
  gatewayCidr: string;
}

/**
 * The routes of `wanted` (address → node addresses) split into the gateway's and the router's:
 * the gateway keeps the next hops on its segment and sends the rest to the router; the router
 * gets the off-segment next hops (only addresses that have some). Every next hop is then on-link
 * where its route is. At the gateway the router stands once for each node behind it (a weight,
 * see loadBalancerRouteCommands), so flows still spread evenly over the nodes; alone, it is one
 * plain next hop.
 */
export function splitBySegment(
  wanted: ReadonlyMap<string, readonly string[]>,
  router: LabRouter,
): { gateway: Map<string, string[]>; router: Map<string, string[]> } {
  const segment = parseCidr(router.gatewayCidr);
  const onSegment = (ip: string) => {
    const addr = tryParseIp(ip);
    return addr !== undefined && cidrContains(segment, addr);
  };
  const gateway = new Map<string, string[]>();
  const behind = new Map<string, string[]>();
  for (const [ip, via] of wanted) {
    const near = via.filter(onSegment);
    const far = via.filter((v) => !onSegment(v));
    gateway.set(ip, near.length === 0 ? [router.ip] : [...near, ...far.map(() => router.ip)]);
    if (far.length > 0) behind.set(ip, far);
  }
  return { gateway, router: behind };
}

/** `nexthop via A nexthop via B weight 2 …`: a next hop listed n times gets weight n. */
function nexthops(via: readonly string[]): string {
  const weights = new Map<string, number>();
  for (const v of via) weights.set(v, (weights.get(v) ?? 0) + 1);
  return [...weights].map(([v, w]) => `nexthop via ${v}${w > 1 ? ` weight ${w}` : ''}`).join(' ');
}

/** The route commands (`ip -batch` lines) that turn the routes there are into the routes wanted. */
export function loadBalancerRouteCommands(
  actual: ReadonlyMap<string, readonly string[]>,
  wanted: ReadonlyMap<string, readonly string[]>,
): string[] {
  const out: string[] = [];
  for (const [ip, via] of [...wanted].sort(([a], [b]) => a.localeCompare(b))) {
    const now = actual.get(ip);
    if (now && now.length === via.length && [...now].sort().join() === [...via].sort().join()) continue;
    out.push(`route replace ${ip}/32 ${nexthops(via)}`);
  }
  for (const ip of [...actual.keys()].sort()) if (!wanted.has(ip)) out.push(`route del ${ip}/32`);
  return out;
}

/** One route of `ip -j route show`: a single gateway, or ECMP nexthops. */
export interface RouteJson {
  dst?: string;
  gateway?: string;
  nexthops?: Array<{ gateway?: string; weight?: number }>;
}

/**
 * The announcements among a gateway's routes (`ip -j route show`): host routes to addresses of
 * the pool, address → nexthops. A /32 is listed without its length; a route with one (the segment,
 * a pool-wide route of an older lab) is not an announcement and is left alone.
 */
export function announcedRoutes(routes: readonly RouteJson[], lbCidr: string): Map<string, string[]> {
  const pool = parseCidr(lbCidr);
  const out = new Map<string, string[]>();
  for (const route of routes) {
    if (route.dst === undefined) continue;
    const ip = tryParseIp(route.dst);
    if (!ip || !cidrContains(pool, ip)) continue;
    const via = route.nexthops
      ? route.nexthops.flatMap((n) => (n.gateway ? new Array<string>(n.weight ?? 1).fill(n.gateway) : []))
      : route.gateway
        ? [route.gateway]
        : [];
    out.set(route.dst, via);
  }
  return out;
}
