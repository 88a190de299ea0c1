/**
 * Nft: the port to the kernel's nftables, for the network namespace the process runs in.
 * Transactions are the typed NftTx (src/core/nft/tx.ts), the one nftables layer.
 */

import type { NftTx } from '../core/nft/tx.js';

export interface Nft {
  /** Applies the transaction atomically (`nft -f -`); rejects with the nft error and leaves the ruleset unchanged. */
  apply(tx: NftTx, context: string): Promise<void>;
  /**
   * Lists one table as nft's JSON objects (the "nftables" array of `nft -j list table`).
   * Returns undefined when the table does not exist.
   */
  listTable(family: string, name: string): Promise<unknown[] | undefined>;
}
