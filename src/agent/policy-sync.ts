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
 * What this adds to NftTableSync: `rebuildDue()`, so the loop can tell that an unchanged store
 * still needs a sync (the periodic rebuild), and the result in the loop's terms.
 */

import { NftTableSync } from '../adapters/nft-sync.js';
import type { TableDef } from '../core/nft/model.js';
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

export class PolicyTableSync {
  private readonly sync: NftTableSync;
  private readonly resyncMs: number;
  private applied: TableDef | undefined;
  private rebuiltAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: PolicyTableSyncOptions) {
    this.resyncMs = o.resyncMs ?? 300_000;
    this.sync = new NftTableSync(o.nft, { resyncEveryMs: this.resyncMs, now: () => o.clock.now() });
  }

  /** The table last committed to the kernel; undefined before the first and after a failed apply. */
  get lastApplied(): TableDef | undefined {
    return this.applied;
  }

  /** Whether the next apply rebuilds the table (start, after a failure, or the periodic resync is due). */
  rebuildDue(): boolean {
    return this.applied === undefined || this.o.clock.now() - this.rebuiltAt >= this.resyncMs;
  }

  /** Makes the kernel's table `desired` (see the file comment); rejects with nft's error, changing nothing. */
  async apply(desired: TableDef): Promise<PolicyApplyResult> {
    const now = this.o.clock.now();
    try {
      const r = await this.sync.sync(desired, this.o.context);
      this.applied = desired;
      if (r.full !== undefined) this.rebuiltAt = now;
      return { changed: r.ops > 0, rebuilt: r.full, ops: r.ops };
    } catch (err) {
      this.applied = undefined;
      throw err;
    }
  }
}
