/**
 * kube-proxy's service health server, decided purely: for each LoadBalancer Service with
 * externalTrafficPolicy Local, what this node answers on its healthCheckNodePort. A cloud load
 * balancer probes that port on every node and sends traffic only to nodes that answer 200, so a
 * Local Service never loses packets to a node that would drop them (service-table.ts drops
 * external traffic on a node without a local endpoint).
 *
 * - 200 when this node has at least one ready endpoint of the Service, 503 otherwise (kube-proxy
 *   counts ready endpoints only; terminating ones make a node unhealthy so the LB drains it).
 * - The body is kube-proxy's JSON: {"service": {"namespace", "name"}, "localEndpoints": N,
 *   "serviceProxyHealthy": bool}.
 *   N counts this node's ready endpoint addresses once each (kube-proxy sums them per Service port;
 *   a count of pods is what a person reading it expects, and 0 / not 0 is the same either way).
 *
 * The HTTP server lives in src/adapters/health-check-servers.ts; the agent wires the two
 * (src/agent/controller-health-checks.ts).
 */

import type { EndpointSlice, Service } from '../k8s/objects.js';
import { endpointsOf, hasVip } from './service-table.js';

export interface HealthCheck {
  /** The Service's healthCheckNodePort (TCP, on every node address). */
  port: number;
  namespace: string;
  name: string;
  /** This node's ready endpoint addresses of the Service. */
  localEndpoints: number;
}

export interface HealthCheckReply {
  status: 200 | 503;
  body: string;
}

/** The health checks this node serves, by port order. */
export function healthChecksOf(input: {
  node: string;
  services: readonly Service[];
  slices: readonly EndpointSlice[];
}): HealthCheck[] {
  const out: HealthCheck[] = [];
  for (const s of input.services) {
    const port = s.spec.healthCheckNodePort;
    if (port === undefined || s.spec.type !== 'LoadBalancer' || s.spec.externalTrafficPolicy !== 'Local') continue;
    if (!hasVip(s)) continue;
    const local = new Set<string>();
    for (const p of s.spec.ports)
      for (const e of endpointsOf(s, p, input.slices)) if (e.ready && e.nodeName === input.node) local.add(e.ip);
    out.push({ port, namespace: s.metadata.namespace, name: s.metadata.name, localEndpoints: local.size });
  }
  return out.sort((a, b) => a.port - b.port);
}

/**
 * What the health check port answers. `proxyHealthy`: this node's Services table is in step (the
 * services controller's last sync succeeded); kube-proxy answers 503 when it is not, whatever the
 * endpoints, since the node may not forward as the endpoints say.
 */
export function healthCheckReply(h: HealthCheck, proxyHealthy = true): HealthCheckReply {
  return {
    status: h.localEndpoints > 0 && proxyHealthy ? 200 : 503,
    body:
      JSON.stringify(
        {
          service: { namespace: h.namespace, name: h.name },
          localEndpoints: h.localEndpoints,
          serviceProxyHealthy: proxyHealthy,
        },
        null,
        2,
      ) + '\n',
  };
}
