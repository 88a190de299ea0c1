/**
 * The Services controller (kube-proxy's job, for weft): keeps this node's `ip weft-services`
 * table (src/core/services/service-table.ts) in step with the Services and EndpointSlices of the
 * agent's cluster cache, through the nftables layer's element-diff sync. A change of a Service or
 * a slice wakes it; changes that arrive during a sync are coalesced into the next one (the
 * SyncController's bounded-frequency runner), so a burst of endpoint changes is one transaction.
 *
 * - The first sync after start rebuilds the table in one transaction (an agent restart replaces
 *   the old table atomically: connections in conntrack keep their NAT, new ones see the new
 *   table at once). Later syncs send only changed elements and chains, and plan only the
 *   Services the cache says changed (ServicesPlanner.planChanged): one endpoint change among
 *   10,000 Services costs the work of that Service, not a pass over all of them. A fresh list
 *   of the cache (a resumed watch) plans every Service again and sends the difference.
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
import { SERVICE_NAME_LABEL, type EndpointSlice, type Service } from '../core/k8s/objects.js';
import type { ObjectKey } from '../core/k8s/object-key.js';
import { planFullRebuild, planSync } from '../core/nft/sync.js';
import type { NftTx } from '../core/nft/tx.js';
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
  const planner = new ServicesPlanner();
  /** The kernel holds the planner's last plan (false until the first sync, and after a failed one). */
  let applied = false;
  /** The network the last plan was for. */
  let plannedFor: string | undefined;
  /** What changed since the last plan: Service and EndpointSlice keys, or 'all' (a fresh list, a failure). */
  let pending: ObjectKey[] | 'all' = 'all';
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
      const keys = pending;
      pending = [];
      try {
        const ctx = { node: o.node, clusterCidr: network };
        let tx: NftTx;
        if (!applied || keys === 'all' || plannedFor !== network) {
          const services = o.cache.list('Service').map((s) => s.object);
          const slices = o.cache.list('EndpointSlice').map((s) => s.object);
          const plan = planner.planAll({ ...ctx, services, slices });
          tx =
            applied && plannedFor === network ? planSync(plan.desired, plan.before).tx : planFullRebuild(plan.desired);
        } else {
          const plan = planner.planChanged(ctx, changedServices(o.cache, planner, keys));
          tx = planSync(plan.desired, plan.before).tx;
        }
        plannedFor = network;
        applied = false;
        if (!tx.empty) await o.nft.apply(tx, 'services');
        applied = true;
      } catch (err) {
        // The kernel kept its last good table; the next sync rebuilds it whole from a fresh plan.
        dirty = true;
        pending = 'all';
        throw err;
      }
      for (const gone of planner.udpEndpointsGone()) await flushUdp(o, gone);
      return String(revision);
    },
  });
  const unsubscribe = o.cache.subscribe(SERVICE_KINDS, (_kinds, objects) => {
    dirty = true;
    if (objects === undefined) pending = 'all';
    else if (pending !== 'all')
      for (const k of objects) if (k.kind === 'Service' || k.kind === 'EndpointSlice') pending.push(k);
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

/**
 * The Services (id `namespace/name`) that changed keys touch, as they are now: a changed Service
 * itself; a changed slice, the Service it was planned with and the one its label names now.
 */
function changedServices(
  cache: ClusterCache,
  planner: ServicesPlanner,
  keys: readonly ObjectKey[],
): Map<string, { service: Service | undefined; slices: EndpointSlice[] }> {
  const ids = new Map<string, { namespace: string; name: string }>();
  const add = (namespace: string, name: string) => ids.set(`${namespace}/${name}`, { namespace, name });
  for (const k of keys) {
    if (k.kind === 'Service') add(k.namespace, k.name);
    else {
      const owner = planner.ownerOfSlice(k.namespace, k.name);
      if (owner !== undefined) add(k.namespace, owner.slice(k.namespace.length + 1));
      const label = cache.get('EndpointSlice', k.namespace, k.name)?.object.metadata.labels[SERVICE_NAME_LABEL];
      if (label !== undefined) add(k.namespace, label);
    }
  }
  const out = new Map<string, { service: Service | undefined; slices: EndpointSlice[] }>();
  for (const [id, { namespace, name }] of ids) {
    // In name order, as the cache's list gives them to planAll (the planner keeps a part by identity).
    const slices = cache
      .slicesOfService(namespace, name)
      .map((s) => s.object)
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
    out.set(id, { service: cache.service(namespace, name)?.object, slices });
  }
  return out;
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
