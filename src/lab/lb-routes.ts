/**
 * The lab's load-balancer announcements: keeps the routes of LoadBalancer addresses in the
 * underlay segment's gateway namespace in step with the Services and EndpointSlices (which nodes
 * announce which address is src/core/lab/lb-routes.ts's decision). It stands in for the BGP
 * sessions between a real cluster's nodes and its router, and runs in the lab's supervisor
 * (`weft lab supervise`) beside the EndpointSlice controller.
 *
 * Each sync reads the gateway's /32 routes inside the pool and changes only what differs, in one
 * `ip -batch`; it runs on a CacheLoop (./cache-loop.ts), so also every 10 s (a route removed by
 * hand comes back), and a failed sync is logged and retried on the next change or resync.
 * In a lab of several segments the router's namespace gets the routes to the nodes behind it
 * (splitBySegment), kept the same way.
 */

import type { Exec } from '../ports/exec.js';
import type { Logger } from '../ports/logger.js';
import type { K8sKind } from '../core/k8s/objects.js';
import type { ClusterCache } from '../agent/cluster-cache.js';
import {
  announcedRoutes,
  loadBalancerRouteCommands,
  loadBalancerRoutes,
  splitBySegment,
  type LabNodeAddress,
  type LabRouter,
  type RouteJson,
} from '../core/lab/lb-routes.js';

export interface LbRoutesOptions {
  cache: ClusterCache;
  exec: Exec;
  /** The segment's gateway namespace. */
  segmentNs: string;
  /** The router between the lab's segments and its namespace (labs of several segments). */
  router?: LabRouter & { ns: string };
  nodes: readonly LabNodeAddress[];
  lbCidr: string;
  log: Logger;
}

/** The kinds the load-balancer routes follow. */
export const LB_ROUTE_KINDS: readonly K8sKind[] = ['Service', 'EndpointSlice'];

/** A namespace's /32 routes inside the pool: address → nexthops. */
async function announced(o: LbRoutesOptions, ns: string): Promise<Map<string, string[]>> {
  const r = await o.exec.run({
    argv: ['ip', '-j', '-n', ns, 'route', 'show'],
    context: `list the routes of ${ns}`,
  });
  return announcedRoutes(JSON.parse(r.stdout || '[]') as RouteJson[], o.lbCidr);
}

/** Brings one namespace's load-balancer routes in step with `wanted`. */
async function syncNamespace(o: LbRoutesOptions, ns: string, wanted: ReadonlyMap<string, string[]>): Promise<void> {
  const commands = loadBalancerRouteCommands(await announced(o, ns), wanted);
  if (commands.length === 0) return;
  await o.exec.run({
    argv: ['ip', '-n', ns, '-batch', '-'],
    input: commands.join('\n') + '\n',
    context: `announce load-balancer addresses in ${ns}`,
  });
  o.log.info('load-balancer routes changed', { namespace: ns, commands });
}

/** One run: the gateway's (and the router's) routes of LoadBalancer addresses brought in step with the cache. */
export function reconcileLbRoutes(o: LbRoutesOptions): () => Promise<void> {
  return async () => {
    const wanted = loadBalancerRoutes({
      services: o.cache.list('Service').map((s) => s.object),
      slices: o.cache.list('EndpointSlice').map((s) => s.object),
      nodes: o.nodes,
    });
    if (!o.router) return syncNamespace(o, o.segmentNs, wanted);
    const split = splitBySegment(wanted, o.router);
    // The router first: the gateway sends nothing its way before it knows where to forward.
    await syncNamespace(o, o.router.ns, split.router);
    await syncNamespace(o, o.segmentNs, split.gateway);
  };
}
