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
 */

import type { Exec } from '../ports/exec.js';
import type { Logger } from '../ports/logger.js';
import type { K8sKind } from '../core/k8s/objects.js';
import type { ClusterCache } from '../agent/cluster-cache.js';
import {
  announcedRoutes,
  loadBalancerRouteCommands,
  loadBalancerRoutes,
  type LabNodeAddress,
  type RouteJson,
} from '../core/lab/lb-routes.js';

export interface LbRoutesOptions {
  cache: ClusterCache;
  exec: Exec;
  /** The segment's gateway namespace. */
  segmentNs: string;
  nodes: readonly LabNodeAddress[];
  lbCidr: string;
  log: Logger;
}

/** The kinds the load-balancer routes follow. */
export const LB_ROUTE_KINDS: readonly K8sKind[] = ['Service', 'EndpointSlice'];

/** The gateway's /32 routes inside the pool: address → nexthops. */
async function announced(o: LbRoutesOptions): Promise<Map<string, string[]>> {
  const r = await o.exec.run({
    argv: ['ip', '-j', '-n', o.segmentNs, 'route', 'show'],
    context: `list the routes of ${o.segmentNs}`,
  });
  return announcedRoutes(JSON.parse(r.stdout || '[]') as RouteJson[], o.lbCidr);
}

/** One run: the gateway's routes of LoadBalancer addresses brought in step with the cache. */
export function reconcileLbRoutes(o: LbRoutesOptions): () => Promise<void> {
  return async () => {
    const wanted = loadBalancerRoutes({
      services: o.cache.list('Service').map((s) => s.object),
      slices: o.cache.list('EndpointSlice').map((s) => s.object),
      nodes: o.nodes,
    });
    const commands = loadBalancerRouteCommands(await announced(o), wanted);
    if (commands.length === 0) return;
    await o.exec.run({
      argv: ['ip', '-n', o.segmentNs, '-batch', '-'],
      input: commands.join('\n') + '\n',
      context: `announce load-balancer addresses in ${o.segmentNs}`,
    });
    o.log.info('load-balancer routes changed', { commands });
  };
}
