/**
 * The agent's NetworkPolicy loop (Felix's job, for weft): reads the cluster's objects (policies,
 * namespaces, pods and where they run) from the object store, plans this node's table with sets
 * shared per selector (src/core/policy/policy-sets.ts: only the pods and policies that changed are
 * replanned) and applies it through ./policy-sync.ts.
 *
 * - The first sync after start rebuilds the whole table in one transaction, so an isolated pod
 *   never passes through a moment without its rules, even across an agent restart (the old table
 *   stays in the kernel while the agent is down: isolation fails closed).
 * - Later syncs send only the differences (set elements, changed group chains), also in one
 *   transaction; a periodic and an after-failure sync rebuild the table again.
 * - A failed sync is logged and counted, and retried on the next tick; the kernel keeps the last
 *   applied state.
 * - It syncs when the store says something changed (`wake`, e.g. a file watch on the store, and
 *   again 20 ms later, as the write may not be visible yet when the wake comes), and on a slower
 *   timer as a fallback. Changes that arrive during a sync are coalesced into one more
 *   sync, and a sync whose store token is unchanged reads nothing else.
 * - After each sync that saw a new objects revision it reports `{ revision, appliedAt }` through
 *   `onApplied` (the agent writes it to a file): from then on the kernel enforces every policy
 *   of that revision. This is how `weft lab` and the benchmark tell a policy has landed.
 */

import type { Namespace, NetworkPolicy, Pod } from '../core/k8s/objects.js';
import type { PolicyCluster, PolicyPod } from '../core/policy/evaluate.js';
import { PolicySetPlanner } from '../core/policy/policy-sets.js';
import { PolicyTableRenderer } from '../core/policy/policy-table.js';
import { PolicyTableSync } from './policy-sync.js';
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
  /** The fallback timer (default 1000 ms with a wake source, 200 ms without). */
  pollMs?: number;
  /** Subscribes to "the store may have changed"; returns the unsubscribe. */
  wake?: (onChange: () => void) => () => void;
  /** Called after a sync that saw a newer objects revision (see the file comment). */
  onApplied?: (applied: PolicyApplied) => void;
}

export interface PolicyApplied {
  /** The objects revision that the kernel now enforces (at least). */
  revision: number;
  /** When the transaction was in the kernel (ms since the epoch). */
  appliedAt: number;
  /** Whether this sync changed the kernel (false: the new revision needed no change here). */
  changed: boolean;
}

/** What the node's policy table is planned from. */
export interface PolicyInputs {
  cluster: PolicyCluster;
  /** Every pod of the cluster with an address (hostNetwork ones with selectable: false). */
  all: PolicyPod[];
  /** The pods of this node (not hostNetwork): elements of `all`. */
  local: PolicyPod[];
  /** The objects revision the inputs are of (at least). */
  revision: number;
}

export class PolicyReconciler {
  private readonly planner = new PolicySetPlanner();
  private readonly renderer = new PolicyTableRenderer();
  private readonly table: PolicyTableSync;
  private token: string | undefined;
  private reportedRevision = -1;
  private stopped = false;
  /** The running drain loop, if any (syncs one after another while kicks keep coming). */
  private draining: Promise<void> | undefined;
  private pending = false;
  /** When the oldest unserved kick came (for the log's waitMs). */
  private kickedAt: number | undefined;
  private timer: { cancel(): void } | undefined;
  private unwatch: (() => void) | undefined;
  syncs = 0;
  failures = 0;

  constructor(private readonly o: PolicyReconcilerOptions) {
    this.table = new PolicyTableSync({ nft: o.nft, context: `apply NetworkPolicy on ${o.node}`, clock: o.clock });
  }

  /** What this node's table is planned from, read from the store as it is now. */
  async desired(): Promise<PolicyInputs> {
    // The revision is read first: the lists are then at least that new.
    const revision = await this.o.store.revision();
    const policies = (await this.o.store.list('NetworkPolicy')) as Stored<NetworkPolicy>[];
    // No policy at all: nothing is isolated, and pods need not be read (pod churn costs nothing).
    if (policies.length === 0) return { cluster: { namespaces: new Map(), policies: [] }, all: [], local: [], revision };
    const [pods, statuses, namespaces] = await Promise.all([
      this.o.store.list('Pod') as Promise<Stored<Pod>[]>,
      this.o.store.podStatuses(),
      this.o.store.list('Namespace') as Promise<Stored<Namespace>[]>,
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
    return { cluster, all, local, revision };
  }

  /** One sync; true when the kernel was changed. `kickedAt`: when it was asked for (for the log). */
  async sync(kickedAt?: number): Promise<boolean> {
    const token = await this.o.store.changeToken();
    // Unchanged store: nothing to do, unless the periodic rebuild of the table is due.
    if (token === this.token && !this.table.rebuildDue()) return false;
    const t0 = this.o.clock.now();
    const { revision, cluster, all, local } = await this.desired();
    // Only what changed is replanned: the planner compares pods and policies with what it holds.
    const mine = new Set(local);
    this.planner.setCluster(cluster);
    this.planner.setPods(all.map((p) => ({ ...p, local: mine.has(p) })));
    const state = this.planner.state();
    const def = this.renderer.def(state);
    const t1 = this.o.clock.now();
    const r = await this.table.apply(def);
    const changed = r.changed;
    if (changed) {
      this.syncs++;
      this.o.log.info('policy applied', { revision, waitMs: kickedAt === undefined ? undefined : t0 - kickedAt, planMs: t1 - t0, nftMs: this.o.clock.now() - t1, rebuilt: r.rebuilt ?? false, ops: r.ops, isolatedIngress: state.ingressPods.length, isolatedEgress: state.egressPods.length, elements: def.sets.reduce((n, s) => n + s.elements.length, 0) });
    }
    this.token = token;
    if (revision > this.reportedRevision) {
      this.reportedRevision = revision;
      this.o.onApplied?.({ revision, appliedAt: this.o.clock.now(), changed });
    }
    return changed;
  }

  /** Asks for a sync; syncs never overlap, and requests made during one cause one more. */
  kick(): void {
    if (!this.pending) this.kickedAt = this.o.clock.now();
    this.pending = true;
    if (!this.draining && !this.stopped) this.draining = this.drain().finally(() => (this.draining = undefined));
  }

  /** Resolves when no sync is running or asked for. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.pending && !this.stopped) {
      this.pending = false;
      const kickedAt = this.kickedAt;
      try {
        await this.sync(kickedAt);
      } catch (err) {
        this.failures++;
        this.o.log.error('policy sync failed; the kernel keeps the last applied rules', { error: (err as Error).message });
      }
    }
  }

  start(): void {
    // A wake can come a moment before the write it announces is visible to readers (SQLite
    // appends to its WAL, then publishes the commit), so each wake also asks again shortly after.
    let recheck: { cancel(): void } | undefined;
    this.unwatch = this.o.wake?.(() => {
      this.kick();
      recheck ??= this.o.clock.setTimeout(() => {
        recheck = undefined;
        this.kick();
      }, 20);
    });
    const every = this.o.pollMs ?? (this.o.wake ? 1000 : 200);
    const tick = () => {
      if (this.stopped) return;
      this.kick();
      this.timer = this.o.clock.setTimeout(tick, every);
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.unwatch?.();
  }
}
