/**
 * The output side of the agent's NetworkPolicy loop: keeps the kernel's `inet weft-policy` equal
 * to the desired table (src/core/policy/policy-table.ts) with as little as possible sent.
 *
 * - The first apply, and one every `resyncMs` (and after any failure), rebuilds the whole table in
 *   one transaction (add, delete, add): whatever the kernel holds, including a table left by an
 *   earlier agent or changed by hand, is replaced atomically, so no packet sees a half table.
 * - Every other apply sends only the differences from the last applied table (set elements
 *   added and deleted, changed group chains refilled): O(changes), one atomic transaction.
 * - A failed transaction changes nothing in the kernel (nft applies all or nothing), so the last
 *   good table stays in force; the error is thrown to the caller (the loop logs, counts and
 *   retries), and the next apply rebuilds, since the kernel may not hold what we think.
 */

import type { TableDef } from '../core/nft/model.js';
import { policyTableDiff, policyTableRebuild } from '../core/policy/policy-table.js';
import type { Clock } from '../ports/clock.js';
import type { Nft } from '../ports/nft.js';

export interface PolicyTableSyncOptions {
  nft: Nft;
  /** What the transactions are for, in errors ("apply NetworkPolicy on n1"). */
  context: string;
  /** For the periodic rebuild; without it the table is rebuilt only at start and after failures. */
  clock?: Clock;
  /** Default 5 minutes. */
  resyncMs?: number;
}

export interface PolicyApplyResult {
  /** Whether a transaction was sent. */
  changed: boolean;
  /** Whether it rebuilt the whole table. */
  rebuilt: boolean;
  /** Operations in the transaction (0 when unchanged). */
  ops: number;
}

export class PolicyTableSync {
  private applied: TableDef | undefined;
  private rebuiltAt = 0;
  private mustRebuild = true;

  constructor(private readonly o: PolicyTableSyncOptions) {}

  /** The table last committed to the kernel, if any. */
  get lastApplied(): TableDef | undefined {
    return this.applied;
  }

  /** Whether the next apply rebuilds the table (start, after a failure, or the periodic resync is due). */
  rebuildDue(): boolean {
    if (this.mustRebuild || !this.applied) return true;
    return this.o.clock !== undefined && this.o.clock.now() - this.rebuiltAt >= (this.o.resyncMs ?? 300_000);
  }

  /** Makes the kernel's table `desired` (see the file comment); rejects with nft's error, changing nothing. */
  async apply(desired: TableDef): Promise<PolicyApplyResult> {
    const now = this.o.clock?.now() ?? 0;
    const diff = this.rebuildDue() || !this.applied ? 'rebuild' : policyTableDiff(this.applied, desired);
    if (diff !== 'rebuild' && diff.empty) return { changed: false, rebuilt: false, ops: 0 };
    const tx = diff === 'rebuild' ? policyTableRebuild(desired) : diff;
    try {
      await this.o.nft.apply(tx, this.o.context);
    } catch (err) {
      this.mustRebuild = true;
      throw err;
    }
    this.applied = desired;
    if (diff === 'rebuild') {
      this.mustRebuild = false;
      this.rebuiltAt = now;
    }
    return { changed: true, rebuilt: diff === 'rebuild', ops: tx.ops.length };
  }
}
