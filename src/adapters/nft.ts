/**
 * Nft over the `nft` command: one `nft -f -` per transaction (atomic in the kernel), and JSON
 * listings (`nft -j`). Runs in the process's own network namespace, or in `netns` when given.
 */

import type { Exec } from '../ports/exec.js';
import type { Nft } from '../ports/nft.js';
import type { NftTx } from '../core/nft/tx.js';

export class NftCommand implements Nft {
  constructor(
    private readonly exec: Exec,
    private readonly netns?: string,
  ) {}

  async apply(tx: NftTx, context: string): Promise<void> {
    if (tx.empty) return;
    await this.exec.run({
      argv: ['nft', '-f', '-'],
      input: tx.render(),
      context,
      ...(this.netns ? { netns: this.netns } : {}),
    });
  }

  async listTable(family: string, name: string): Promise<unknown[] | undefined> {
    const r = await this.exec.tryRun({
      argv: ['nft', '-j', 'list', 'table', family, name],
      ...(this.netns ? { netns: this.netns } : {}),
    });
    if (r.exitCode !== 0) {
      // nft says "No such file or directory" for a missing table; anything else is a real failure.
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw new Error(`list table ${family} ${name}: ${r.stderr.trim()}`);
    }
    const parsed = JSON.parse(r.stdout) as { nftables?: unknown[] };
    return parsed.nftables ?? [];
  }
}
