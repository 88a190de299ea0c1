/**
 * The health check node port controller (kube-proxy's service health server, for weft): for each
 * LoadBalancer Service with externalTrafficPolicy Local, this node answers HTTP on the Service's
 * healthCheckNodePort with 200 while it has a local ready endpoint and 503 otherwise
 * (src/core/services/health-check.ts decides, src/adapters/health-check-servers.ts listens).
 *
 * Woken by every change of a Service or EndpointSlice in the cluster cache: servers open and
 * close as Services come and go, and the answers follow the endpoints at once (each request reads
 * the latest plan; a port that stays needs no reopening). A port that cannot be opened (in use)
 * fails the sync, which retries with backoff while the other ports are served.
 */

import type { Clock } from '../ports/clock.js';
import type { HealthCheckServers } from '../ports/health-check-servers.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';
import { healthCheckReply, healthChecksOf, type HealthCheck } from '../core/services/health-check.js';
import type { ClusterCache } from './cluster-cache.js';
import { SyncController, type SyncTiming } from './controller.js';
import { SERVICE_KINDS } from './controller-services.js';

export interface HealthChecksControllerOptions {
  node: string;
  cache: ClusterCache;
  servers: HealthCheckServers;
  /** Whether this node's Services table is in step (the services controller is ready). */
  proxyHealthy: () => boolean;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  timing: SyncTiming;
}

export function healthChecksController(o: HealthChecksControllerOptions): {
  controller: SyncController;
  close: () => Promise<void>;
} {
  let current = new Map<number, HealthCheck>();
  const controller: SyncController = new SyncController({
    name: 'health-checks',
    clock: o.clock,
    log: o.log,
    metrics: o.metrics,
    timing: o.timing,
    sync: async () => {
      const checks = healthChecksOf({
        node: o.node,
        services: o.cache.list('Service').map((s) => s.object),
        slices: o.cache.list('EndpointSlice').map((s) => s.object),
      });
      current = new Map(checks.map((h) => [h.port, h]));
      await o.servers.serve([...current.keys()], (port) => {
        const h = current.get(port);
        return h ? healthCheckReply(h, o.proxyHealthy()) : undefined;
      });
      return checks.length === 0 ? undefined : checks.map((h) => `${h.port}:${h.localEndpoints}`).join(',');
    },
  });
  const unsubscribe = o.cache.subscribe(SERVICE_KINDS, () => controller.trigger());
  return {
    controller,
    close: async () => {
      unsubscribe();
      await o.servers.close();
    },
  };
}
