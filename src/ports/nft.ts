/**
 * Nft: the port to the kernel's nftables, for the network namespace the process runs in.
 */

import type { NftTransaction } from '../core/nft/transaction.js';
import type { NftTx } from '../core/nft/tx.js';

/**
 * What apply takes: a typed transaction (NftTx), or the older text-rule NftTransaction that the
 * policy table still builds (to be retired once it moves onto the typed model).
 */
export type NftBatch = NftTx | NftTransaction;

export interface Nft {
  /** Applies the transaction atomically (`nft -f -`); rejects with the nft error and leaves the ruleset unchanged. */
  apply(tx: NftBatch, context: string): Promise<void>;
  /**
   * Lists one table as nft's JSON objects (the "nftables" array of `nft -j list table`).
   * Returns undefined when the table does not exist.
   */
  listTable(family: string, name: string): Promise<unknown[] | undefined>;
}
