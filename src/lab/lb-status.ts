/**
 * The lab's load-balancer controller with `--api kube`: gives LoadBalancer Services an address of
 * the lab's pool by writing status.loadBalancer.ingress through the status subresource, as a
 * bare-metal load balancer's controller does (the decision is src/core/lab/lb-addresses.ts). It
 * runs in the lab's supervisor over the cache of the API server's Services; with the embedded
 * store the lab's apply allocates instead, and this controller does not run.
 *
 * Each change is one merge patch of the status; a Service deleted meanwhile (404) is skipped, and
 * any other failure is thrown, so the CacheLoop logs it and tries again on the next change or resync.
 */

import type { Logger } from '../ports/logger.js';
import type { Service } from '../core/k8s/objects.js';
import type { ClusterCache } from '../agent/cluster-cache.js';
import { KubeApiError, resourceOf, type KubeClient } from '../adapters/kube-api.js';
import { planLoadBalancerAddresses } from '../core/lab/lb-addresses.js';

export interface LbStatusOptions {
  cache: ClusterCache;
  client: KubeClient;
  lbCidr: string;
  log: Logger;
}

/** One run: every Service's load-balancer address brought in step with the pool. */
export function reconcileLbStatus(o: LbStatusOptions): () => Promise<void> {
  return async () => {
    const services = o.cache
      .list('Service')
      .map((s) => ({ service: s.object as Service, creationTimestamp: s.meta.creationTimestamp }));
    for (const c of planLoadBalancerAddresses(services, o.lbCidr)) {
      // A merge patch replaces the ingress list whole; null removes it (pending, or no longer a LoadBalancer).
      const patch = { status: { loadBalancer: { ingress: c.ip === undefined ? null : [{ ip: c.ip }] } } };
      try {
        await o.client.patch(resourceOf('Service'), c.name, patch, {
          namespace: c.namespace,
          subresource: 'status',
        });
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 404) continue;
        throw new Error(
          `write the load-balancer address of service ${c.namespace}/${c.name} (${c.ip ?? 'none'}): ${(err as Error).message}`,
          { cause: err },
        );
      }
      o.log.info(c.ip ? 'load-balancer address given' : 'load-balancer address taken back', {
        service: `${c.namespace}/${c.name}`,
        ...(c.ip ? { ip: c.ip } : {}),
      });
    }
  };
}
