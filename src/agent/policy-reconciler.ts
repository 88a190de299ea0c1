/**
 * The agent's NetworkPolicy loop (Felix's job, for weft): reads the cluster's objects (policies,
 * namespaces, pods and where they run) from the agent's cluster cache, plans this node's table
 * with sets shared per selector (src/core/policy/policy-sets.ts: only the pods and policies that
 * changed are replanned) and applies it through ./policy-sync.ts.
 *
 * - The first sync after start rebuilds the whole table in one transaction, so an isolated pod
 *   never passes through a moment without its rules, even across an agent restart (the old table
 *   stays in the kernel while the agent is down: isolation fails closed).
 * - Later syncs send only the differences (set elements, changed group chains), also in one
 *   transaction; a periodic and an after-failure sync rebuild the table again.
 * - A failed sync is logged and counted, and retried on the next tick; the kernel keeps the last
 *   applied state.
 * - It syncs when the cache says one of its kinds (NetworkPolicy, Pod, Namespace) changed, and on
 *   a slow resync timer. Changes that arrive during a sync are coalesced into one more sync, and
 *   a sync that saw no change of its kinds since the last one reads nothing else.
 * - After each sync that saw a new revision it reports `{ revision, appliedAt }` through
 *   `onApplied` (the agent writes it to a file): from then on the kernel enforces every policy
 *   of that revision. A revision reached through changes of other kinds only (a Service) is
 *   reported without a sync when the last sync landed and no input changed since. This is how `weft lab` and the benchmark tell a policy has landed.
 * - Each sync lets the local pods that the table it applies covers out of the pod guard's pending
 *   sets (src/core/nft/pod-guard.ts), in the same transaction as their rules: the bridge plugin
 *   starts every pod of a node whose agent enforces policy cut off, so no pod is reachable, nor
 *   reaches out, before its policy is in the kernel, even while the agent is away. A pod is let
 *   out once per agent run (and again if its address comes back on another pod); after a restart
 *   the first sync lets out every local pod, which is a no-op for those already out.
 */

import type { K8sKind } from '../core/k8s/objects.js';
import { runningPodIP } from '../core/k8s/pod-status.js';
import type { PolicyCluster, PolicyPod } from '../core/policy/evaluate.js';
import { PolicySetPlanner, type PlannedChain } from '../core/policy/policy-sets.js';
import type { FlowLogOptions } from '../core/policy/flow-log.js';
import { PolicyTableRenderer } from '../core/policy/policy-table.js';
import { PolicyTableSync } from './policy-sync.js';
import type { Nft } from '../ports/nft.js';
import type { Logger } from '../ports/logger.js';
import type { Clock } from '../ports/clock.js';
import type { ClusterCache } from './cluster-cache.js';
import type { Pod } from '../core/k8s/objects.js';
import type { Stored } from '../ports/object-store.js';
import { liftTx } from '../core/nft/pod-guard.js';

export interface PolicyReconcilerOptions {
  node: string;
  /** The agent's cluster cache, following at least POLICY_KINDS (started by the caller). */
  cache: ClusterCache;
  nft: Nft;
  log: Logger;
  clock: Clock;
  /** The resync timer (ms, default 10,000): a sync even without a cache event. */
  pollMs?: number;
  /** Called after a sync that saw a newer objects revision (see the file comment). */
  onApplied?: (applied: PolicyApplied) => void;
  /** Log drops and allowed new connections to NFLOG (src/core/policy/flow-log.ts); off when undefined. */
  flowLog?: FlowLogOptions;
  /** Called with the group chains of each planned table (before it is applied): the flow log's index. */
  onPlanned?: (chains: readonly PlannedChain[]) => void;
}

/** The kinds the policy loop reads (and is woken by). */
export const POLICY_KINDS: readonly K8sKind[] = ['NetworkPolicy', 'Pod', 'Namespace'];

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
  private readonly renderer: PolicyTableRenderer;
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
  /** Counts the cache batches that changed one of POLICY_KINDS: the inputs' change token. */
  private inputChanges = 0;
  syncs = 0;
  failures = 0;
  /** The local pod addresses this run has let out of the pod guard's pending sets. */
  private readonly released = new Set<string>();
  /**
   * Pods that a CNI ADD on this node has just wired (namespace/name → uid and address), before
   * their status says so: admit() counts them as running so that their rules are in the kernel
   * when the ADD returns. An entry goes once the cache shows the pod running, or is gone.
   */
  private readonly admitted = new Map<string, { uid: string; ip: string; at: number }>();
  private readonly waiters = new Set<{ ip: string; done: (ok: boolean) => void }>();

  private started = false;

  private unprogress: (() => void) | undefined;

  constructor(private readonly o: PolicyReconcilerOptions) {
    this.renderer = new PolicyTableRenderer(o.flowLog);
    this.table = new PolicyTableSync({ nft: o.nft, context: `apply NetworkPolicy on ${o.node}`, clock: o.clock });
    this.unwatch = o.cache.subscribe(POLICY_KINDS, () => {
      this.inputChanges++;
      if (this.started) this.kick();
    });
    // The revision moved on through changes of other kinds only: if the last sync landed and
    // none of this loop's inputs changed since, the kernel enforces the new revision as it is.
    this.unprogress = o.cache.onRevision((revision) => {
      // (token is set only by a sync that landed, so before the first one this returns too.)
      if (this.pending || this.draining || this.token !== String(this.inputChanges)) return;
      if (revision <= this.reportedRevision) return;
      this.reportedRevision = revision;
      this.o.onApplied?.({ revision, appliedAt: this.o.clock.now(), changed: false });
    });
  }

  /** What this node's table is planned from, read from the cache as it is now. */
  async desired(): Promise<PolicyInputs> {
    const { cache } = this.o;
    const revision = cache.revision();
    const policies = cache.list('NetworkPolicy');
    // No policy at all: nothing is isolated, and pods need not be read (pod churn costs nothing).
    if (policies.length === 0)
      return { cluster: { namespaces: new Map(), policies: [] }, all: [], local: [], revision };
    const all: PolicyPod[] = [];
    const local: PolicyPod[] = [];
    for (const p of cache.list('Pod')) {
      const { namespace, name, labels } = p.object.metadata;
      const ip = this.addressOf(p);
      if (!ip) continue;
      const pod: PolicyPod = {
        namespace,
        name,
        labels,
        ip,
        ports: p.object.spec.containers.flatMap((c) => c.ports),
        selectable: !p.object.spec.hostNetwork,
      };
      all.push(pod);
      if (p.object.spec.nodeName === this.o.node && !p.object.spec.hostNetwork) local.push(pod);
    }
    const cluster = {
      namespaces: new Map(cache.list('Namespace').map((n) => [n.object.metadata.name, n.object.metadata.labels])),
      policies: policies.map((p) => p.object),
    };
    return { cluster, all, local, revision };
  }

  /** One sync; true when the kernel was changed. `kickedAt`: when it was asked for (for the log). */
  async sync(kickedAt?: number): Promise<boolean> {
    const token = String(this.inputChanges);
    // No input changed: nothing to do, unless the periodic rebuild of the table is due.
    if (token === this.token && !this.table.rebuildDue()) return false;
    const t0 = this.o.clock.now();
    const { revision, cluster, all, local } = await this.desired();
    // Only what changed is replanned: the planner compares pods and policies with what it holds.
    const mine = new Set(local);
    this.planner.setCluster(cluster);
    this.planner.setPods(all.map((p) => ({ ...p, local: mine.has(p) })));
    const state = this.planner.state();
    const def = this.renderer.def(state);
    // Before the apply: a packet logged by the new chains must find them in the index.
    this.o.onPlanned?.(state.chains);
    const t1 = this.o.clock.now();
    // Local pods seen for the first time are let out of the pending sets with their rules.
    const localIps = new Set(this.localAddresses(local, cluster.policies.length === 0));
    const release = [...localIps].filter((ip) => !this.released.has(ip));
    const r = await this.table.apply(def, liftTx(release));
    for (const ip of release) this.released.add(ip);
    for (const ip of this.released) if (!localIps.has(ip)) this.released.delete(ip);
    this.settleAdmissions();
    const changed = r.changed;
    if (changed) this.syncs++;
    if (changed || release.length > 0) {
      this.o.log.info('policy applied', {
        revision,
        waitMs: kickedAt === undefined ? undefined : t0 - kickedAt,
        planMs: t1 - t0,
        nftMs: this.o.clock.now() - t1,
        rebuilt: r.rebuilt ?? false,
        ops: r.ops,
        isolatedIngress: state.ingressPods.length,
        isolatedEgress: state.egressPods.length,
        elements: def.sets.reduce((n, s) => n + s.elements.length, 0),
        released: release.length,
      });
    }
    this.token = token;
    if (revision > this.reportedRevision) {
      this.reportedRevision = revision;
      this.o.onApplied?.({ revision, appliedAt: this.o.clock.now(), changed });
    }
    return changed;
  }

  /**
   * The addresses of this node's running pods: those of `local` (the inputs), or, when no policy
   * exists and the inputs skipped pods, read from the cache's by-node index.
   */
  private localAddresses(local: readonly PolicyPod[], noPolicy: boolean): string[] {
    if (!noPolicy) return local.flatMap((p) => (p.ip ? [p.ip] : []));
    return this.o.cache.podsOnNode(this.o.node).flatMap((p) => {
      const ip = p.object.spec.hostNetwork ? undefined : this.addressOf(p);
      return ip ? [ip] : [];
    });
  }

  /** A pod's address: from its status when running, else from a CNI ADD on this node (admit). */
  private addressOf(p: Stored<Pod>): string | undefined {
    const running = runningPodIP(p.object);
    if (running !== undefined || p.object.spec.nodeName !== this.o.node) return running;
    const a = this.admitted.get(`${p.object.metadata.namespace}/${p.object.metadata.name}`);
    return a && a.uid === p.meta.uid ? a.ip : undefined;
  }

  /**
   * Called by the agent's CNI socket when an ADD on this node has wired a pod: syncs with the pod
   * counted as running and resolves true once its rules are in the kernel and it is out of the
   * pending set, or false after `timeoutMs` (the pod then stays cut off until its status
   * arrives and a later sync lets it out: fail closed either way).
   */
  admit(pod: { namespace: string; name: string; uid: string; ip: string }, timeoutMs: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    this.admitted.set(`${pod.namespace}/${pod.name}`, { uid: pod.uid, ip: pod.ip, at: this.o.clock.now() });
    // A new pending element for this address (a reused one, too): let it out again.
    this.released.delete(pod.ip);
    return new Promise((resolve) => {
      const waiter = {
        ip: pod.ip,
        done: (ok: boolean) => {
          timer.cancel();
          this.waiters.delete(waiter);
          resolve(ok);
        },
      };
      const timer = this.o.clock.setTimeout(() => waiter.done(false), timeoutMs);
      this.waiters.add(waiter);
      // Not a cache change, but a change of this loop's inputs.
      this.inputChanges++;
      if (this.started) this.kick();
    });
  }

  /** After a sync: wakes the admits it served, forgets admissions the cache has caught up with. */
  private settleAdmissions(): void {
    for (const w of [...this.waiters]) if (this.released.has(w.ip)) w.done(true);
    const now = this.o.clock.now();
    for (const [key, a] of this.admitted) {
      const [namespace, name] = key.split('/') as [string, string];
      const p = this.o.cache.get('Pod', namespace, name);
      const caughtUp = p !== undefined && p.meta.uid === a.uid && runningPodIP(p.object) !== undefined;
      // A pod the cache does not show yet may still come: its admission is kept for a minute.
      if (caughtUp || (p?.meta.uid !== a.uid && now - a.at > 60_000)) this.admitted.delete(key);
    }
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
        this.o.log.error('policy sync failed; the kernel keeps the last applied rules', {
          error: (err as Error).message,
        });
      }
    }
  }

  start(): void {
    this.started = true;
    const every = this.o.pollMs ?? 10_000;
    const tick = () => {
      if (this.stopped) return;
      this.kick();
      this.timer = this.o.clock.setTimeout(tick, every);
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    for (const w of [...this.waiters]) w.done(false);
    this.timer?.cancel();
    this.unwatch?.();
    this.unprogress?.();
  }
}
