/**
 * The Services controller (kube-proxy's job, for weft): keeps this node's `ip weft-services`
 * table (src/core/services/service-table.ts) in step with the Services and EndpointSlices of the
 * agent's cluster cache, through the nftables layer's element-diff sync. A change of a Service or
 * a slice wakes it; changes that arrive during a sync are coalesced into the next one (the
 * SyncController's bounded-frequency runner), so a burst of endpoint changes is one transaction.
 *
 * - The first sync after start rebuilds the table in one transaction (an agent restart replaces
 *   the old table atomically: connections in conntrack keep their NAT, new ones see the new
 *   table at once). Later syncs send only changed elements and chains.
 * - No periodic rebuild: a rebuild would empty the session-affinity sets the kernel fills. A
 *   failed sync rebuilds next time.
 * - UDP has no connection end, so when a UDP endpoint goes away its conntrack entries are deleted
 *   (`conntrack -D`), so clients move on to another endpoint instead of sending into the void, as
 *   kube-proxy does.
 * - Its revision is the objects revision the table reflects (the lab waits for it): every batch
 *   of the cache wakes it, and one that changed no Service or slice costs no planning.
 */

import type { Clock } from '../ports/clock.js';
import type { Exec } from '../ports/exec.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';
import type { Nft } from '../ports/nft.js';
import type { K8sKind } from '../core/k8s/objects.js';
import { NftTableSync } from '../adapters/nft-sync.js';
import { ServicesPlanner } from '../core/services/service-table.js';
import type { ClusterCache } from './cluster-cache.js';
import { SyncController, type SyncTiming } from './controller.js';

/** The kinds the Services controller reads (and is woken by). */
export const SERVICE_KINDS: readonly K8sKind[] = ['Service', 'EndpointSlice'];

export interface ServicesControllerOptions {
  node: string;
  cache: ClusterCache;
  nft: Nft;
  exec: Exec;
  /** The cluster's pod network, once known (undefined: not yet; the sync waits for it). */
  network: () => string | undefined;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  timing: SyncTiming;
}

export function servicesController(o: ServicesControllerOptions): { controller: SyncController; close: () => void } {
  // Re-plans only the Services whose object or slices changed since the last sync.
  const planner = new ServicesPlanner();
  const table = new NftTableSync(o.nft, { resyncEveryMs: Number.POSITIVE_INFINITY, now: () => o.clock.now() });
  let udpBefore: Set<string> | undefined;
  /** A Service or slice changed since the last sync planned the table (true until the first). */
  let dirty = true;
  const controller: SyncController = new SyncController({
    name: 'services',
    clock: o.clock,
    log: o.log,
    metrics: o.metrics,
    timing: o.timing,
    sync: async () => {
      const network = o.network();
      if (network === undefined) throw new Error('services: the pod network is not known yet (no backend sync)');
      const revision = o.cache.revision();
      // Woken only by the revision moving on (a pod's status, a policy): the table is the same,
      // and it now reflects this revision too.
      if (!dirty) return String(revision);
      dirty = false;
      const services = o.cache.list('Service').map((s) => s.object);
      const slices = o.cache.list('EndpointSlice').map((s) => s.object);
      try {
        await table.sync(planner.plan({ node: o.node, clusterCidr: network, services, slices }), 'services');
      } catch (err) {
        dirty = true;
        throw err;
      }
      // From the plan's parts (each Service's kept with it): no pass over every Service and slice.
      const udpNow = planner.udpEndpoints();
      if (udpBefore) for (const gone of udpBefore) if (!udpNow.has(gone)) await flushUdp(o, gone);
      udpBefore = udpNow;
      return String(revision);
    },
  });
  const unsubscribe = o.cache.subscribe(SERVICE_KINDS, () => {
    dirty = true;
    controller.trigger();
  });
  // The cache calls subscribers before revision listeners, so a change of our kinds up to this
  // revision has set `dirty` by now.
  const unwatch = o.cache.onRevision(() => controller.trigger());
  return {
    controller,
    close: () => {
      unsubscribe();
      unwatch();
    },
  };
}

/** Deletes the conntrack entries of UDP flows to `vip:port` that were DNATed to `ep`. */
async function flushUdp(o: ServicesControllerOptions, entry: string): Promise<void> {
  const [vip, port, ep] = entry.split(' ') as [string, string, string];
  const r = await o.exec.tryRun({
    argv: ['conntrack', '-D', '-p', 'udp', '--orig-dst', vip, '--orig-port-dst', port, '--reply-src', ep],
    context: `flush UDP conntrack entries of ${vip}:${port} → ${ep}`,
  });
  // conntrack exits 1 with "0 flow entries have been deleted" when there were none.
  if (r.exitCode !== 0 && !/0 flow entries/.test(r.stderr))
    o.log.warn('cannot flush UDP conntrack entries', { vip, port, endpoint: ep, error: r.stderr.trim() });
}
