/**
 * The agent's NetworkPolicy loop (Felix's job, for weft): reads the cluster's objects (policies,
 * namespaces, pods and where they run) from the object store, computes this node's set elements
 * (src/core/policy/nft-plan.ts) and applies them with one `nft -f` transaction when they change.
 *
 * - The first sync after start rebuilds the whole table in one transaction, so an isolated pod
 *   never passes through a moment without its rules, even across an agent restart (the old table
 *   stays in the kernel while the agent is down: isolation fails closed).
 * - Later syncs only flush and refill the sets, also in one transaction.
 * - A failed sync is logged and counted, and retried on the next tick; the kernel keeps the last
 *   applied state.
 */

import type { Namespace, NetworkPolicy, Pod } from '../core/k8s/objects.js';
import { planPolicyElements, renderPolicyElements, renderPolicyTable, type PolicyElements } from '../core/policy/nft-plan.js';
import type { PolicyPod } from '../core/policy/evaluate.js';
import { statusOf } from '../core/lab/views.js';
import type { Nft } from '../ports/nft.js';
import type { Logger } from '../ports/logger.js';
import type { Clock } from '../ports/clock.js';
import type { ObjectStore, Stored } from '../ports/object-store.js';

export interface PolicyReconcilerOptions {
  node: string;
  store: ObjectStore;
  nft: Nft;
  log: Logger;
  clock: Clock;
  pollMs?: number;
}

export class PolicyReconciler {
  private applied: string | undefined;
  private stopped = false;
  private timer: { cancel(): void } | undefined;
  syncs = 0;
  failures = 0;

  constructor(private readonly o: PolicyReconcilerOptions) {}

  /** This node's elements from the store as it is now. */
  async desired(): Promise<PolicyElements> {
    const [pods, statuses, namespaces, policies] = await Promise.all([
      this.o.store.list('Pod') as Promise<Stored<Pod>[]>,
      this.o.store.podStatuses(),
      this.o.store.list('Namespace') as Promise<Stored<Namespace>[]>,
      this.o.store.list('NetworkPolicy') as Promise<Stored<NetworkPolicy>[]>,
    ]);
    const all: PolicyPod[] = [];
    const local: PolicyPod[] = [];
    for (const p of pods) {
      const { namespace, name, labels } = p.object.metadata;
      const st = statusOf(p, statuses);
      if (st?.phase !== 'Running' || !st.podIP) continue;
      const pod: PolicyPod = { namespace, name, labels, ip: st.podIP, ports: p.object.spec.containers.flatMap((c) => c.ports), selectable: !p.object.spec.hostNetwork };
      all.push(pod);
      if (st.node === this.o.node && !p.object.spec.hostNetwork) local.push(pod);
    }
    const cluster = { namespaces: new Map(namespaces.map((n) => [n.object.metadata.name, n.object.metadata.labels])), policies: policies.map((p) => p.object) };
    return planPolicyElements(cluster, local, all);
  }

  /** One sync; true when the kernel was changed. */
  async sync(): Promise<boolean> {
    const el = await this.desired();
    const text = JSON.stringify(el);
    if (text === this.applied) return false;
    const tx = this.applied === undefined ? renderPolicyTable(el) : renderPolicyElements(el);
    await this.o.nft.apply(tx, `apply NetworkPolicy sets on ${this.o.node}`);
    this.applied = text;
    this.syncs++;
    this.o.log.info('policy applied', { isolatedIngress: el.ingressIsolated.length, isolatedEgress: el.egressIsolated.length, elements: el.ingressAny.length + el.ingressPorts.length + el.egressAny.length + el.egressPorts.length });
    return true;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      try {
        await this.sync();
      } catch (err) {
        this.failures++;
        this.o.log.error('policy sync failed; the kernel keeps the last applied rules', { error: (err as Error).message });
      }
      if (!this.stopped) this.timer = this.o.clock.setTimeout(() => void tick(), this.o.pollMs ?? 200);
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }
}
