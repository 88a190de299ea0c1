/**
 * The output side of the agent's NetworkPolicy loop: keeps the kernel's `inet weft-policy` equal
 * to the desired table (src/core/policy/policy-table.ts) through nftlayer's element-diff sync
 * (src/core/nft/sync.ts, src/adapters/nft-sync.ts), with as little as possible sent.
 *
 * - The first apply, one every `resyncMs`, and the first after any failure rebuild the whole
 *   table in one transaction (add, delete, add): whatever the kernel holds, including a table left
 *   by an earlier agent or changed by hand, is replaced atomically, so no packet sees a half table.
 * - Every other apply sends only the differences from the last applied table (set elements
 *   added and deleted, changed group chains refilled): O(changes), one atomic transaction.
 * - A failed transaction changes nothing in the kernel (nft applies all or nothing), so the last
 *   good table stays in force; the error goes to the caller (the loop logs, counts and retries).
 *
 * What this adds to NftTableSync's behaviour (whose rules it follows, on the same planner):
 * `rebuildDue()`, so the loop can tell that an unchanged store still needs a sync (the periodic
 * rebuild); and it hands planSync only the sets and chains that are not the very objects applied
 * last time (PolicyTableRenderer returns an unchanged set as the same object), so one label
 * change at 10,000 pods compares one set, not all 7,000 elements and 200 chains.
 */

import type { TableDef } from '../core/nft/model.js';
import type { NftTx } from '../core/nft/tx.js';
import { planFullRebuild, planSync } from '../core/nft/sync.js';
import type { Clock } from '../ports/clock.js';
import type { Nft } from '../ports/nft.js';

export interface PolicyTableSyncOptions {
  nft: Nft;
  /** What the transactions are for, in errors ("apply NetworkPolicy on n1"). */
  context: string;
  clock: Pick<Clock, 'now'>;
  /** Default 5 minutes. */
  resyncMs?: number;
}

export interface PolicyApplyResult {
  /** Whether a transaction was sent. */
  changed: boolean;
  /** Why it rebuilt the whole table, or undefined when it sent only differences. */
  rebuilt: string | undefined;
  /** Operations in the transaction (0 when unchanged). */
  ops: number;
}

/**
 * `desired` and `last` without the sets and chains they share as the same objects: what planSync
 * needs to see (it then neither adds nor deletes anything of the shared ones).
 */
export function changedParts(desired: TableDef, last: TableDef): { desired: TableDef; last: TableDef } {
  const lastSets = new Map(last.sets.map((s) => [s.name, s]));
  const lastChains = new Map(last.chains.map((c) => [c.name, c]));
  const sameSets = new Set(desired.sets.filter((s) => lastSets.get(s.name) === s).map((s) => s.name));
  const sameChains = new Set(desired.chains.filter((c) => lastChains.get(c.name) === c).map((c) => c.name));
  return {
    desired: {
      ...desired,
      sets: desired.sets.filter((s) => !sameSets.has(s.name)),
      chains: desired.chains.filter((c) => !sameChains.has(c.name)),
    },
    last: {
      ...last,
      sets: last.sets.filter((s) => !sameSets.has(s.name)),
      chains: last.chains.filter((c) => !sameChains.has(c.name)),
    },
  };
}

export class PolicyTableSync {
  private readonly resyncMs: number;
  private applied: TableDef | undefined;
  private rebuiltAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: PolicyTableSyncOptions) {
    this.resyncMs = o.resyncMs ?? 300_000;
  }

  /** The table last committed to the kernel; undefined before the first and after a failed apply. */
  get lastApplied(): TableDef | undefined {
    return this.applied;
  }

  /** Whether the next apply rebuilds the table (start, after a failure, or the periodic resync is due). */
  rebuildDue(): boolean {
    return this.applied === undefined || this.o.clock.now() - this.rebuiltAt >= this.resyncMs;
  }

  /**
   * Makes the kernel's table `desired` (see the file comment); rejects with nft's error, changing
   * nothing. `also` (other tables' operations, e.g. the pod guard's lift) goes into the same
   * transaction, or alone when the table needs no change.
   */
  async apply(desired: TableDef, also?: NftTx): Promise<PolicyApplyResult> {
    const now = this.o.clock.now();
    let rebuilt: string | undefined;
    let tx;
    if (this.applied === undefined) rebuilt = 'no state applied yet';
    else if (this.rebuildDue()) rebuilt = 'periodic resync';
    else {
      const parts = changedParts(desired, this.applied);
      const plan = planSync(parts.desired, parts.last);
      rebuilt = plan.full;
      tx = plan.tx;
    }
    if (rebuilt !== undefined || tx === undefined) tx = planFullRebuild(desired);
    if (tx.empty && (also === undefined || also.empty)) {
      this.applied = desired;
      return { changed: false, rebuilt: undefined, ops: 0 };
    }
    const tableOps = tx.ops.length;
    if (also) tx.append(also);
    try {
      await this.o.nft.apply(tx, this.o.context);
    } catch (err) {
      this.applied = undefined;
      throw err;
    }
    this.applied = desired;
    if (rebuilt !== undefined) this.rebuiltAt = now;
    return { changed: tableOps > 0, rebuilt, ops: tableOps };
  }
}
