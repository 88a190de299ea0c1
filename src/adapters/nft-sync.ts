/**
 * NftTableSync: keeps one nftables table in the desired state through the Nft port, with the
 * element-diff planner (src/core/nft/sync.ts). It remembers what it last applied, so a sync
 * sends only the changes; it rebuilds the whole table on the first sync, after a failure (the
 * kernel kept its last good state, but this side no longer knows what that is exactly) and on a
 * periodic resync (repairing anything edited behind weft's back).
 */

import { planRemoval, planSync } from '../core/nft/sync.js';
import type { TableDef } from '../core/nft/model.js';
import type { Nft } from '../ports/nft.js';

export interface SyncResult {
  /** Why the sync was a full rebuild, or undefined when it sent only changes. */
  full: string | undefined;
  /** Operations sent (0: nothing to do). */
  ops: number;
}

export class NftTableSync {
  private last: TableDef | undefined;
  private lastFullAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly nft: Nft,
    private readonly opts: { resyncEveryMs: number; now: () => number },
  ) {}

  async sync(desired: TableDef, context: string): Promise<SyncResult> {
    const now = this.opts.now();
    const due = now - this.lastFullAt >= this.opts.resyncEveryMs;
    const plan = planSync(desired, this.last, { full: due && this.last !== undefined });
    if (plan.tx.empty) {
      this.last = desired;
      return { full: undefined, ops: 0 };
    }
    try {
      await this.nft.apply(plan.tx, context);
    } catch (err) {
      this.last = undefined;
      throw err;
    }
    this.last = desired;
    if (plan.full !== undefined) this.lastFullAt = now;
    return { full: plan.full, ops: plan.tx.ops.length };
  }

  /** Removes the table (safe when missing); the next sync rebuilds it. */
  async remove(t: Pick<TableDef, 'family' | 'name'>, context: string): Promise<void> {
    this.last = undefined;
    await this.nft.apply(planRemoval(t), context);
  }

  /** Forgets the applied state, so the next sync is a full rebuild. */
  invalidate(): void {
    this.last = undefined;
  }
}
