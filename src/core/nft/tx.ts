/**
 * NftTx: an nftables transaction as a list of typed operations (./model.ts), rendered by
 * ./render.ts.
 *
 * As in knftables: the caller builds the list, nothing touches the kernel until an Nft adapter
 * runs it, and the whole list is one `nft -f` batch, which the kernel applies atomically (all or
 * nothing), so a failed change never leaves a half-applied ruleset. The fake
 * (src/testkit/nft-fake.ts) applies the same operations with the kernel's semantics.
 */

import type { ChainObj, NftObj, Op, RuleObj, SetObj, TableObj } from './model.js';
import { renderOps } from './render.js';

export class NftTx {
  readonly ops: Op[] = [];

  /** Creates the object, or leaves an existing one alone (elements: existing keys are fine). */
  add(object: NftObj): this {
    this.ops.push({ verb: 'add', object });
    return this;
  }

  /** Creates the object; the transaction fails if it exists. */
  create(object: NftObj): this {
    this.ops.push({ verb: 'create', object });
    return this;
  }

  /** Puts the rule first in its chain (or before the rule with `handle`). */
  insert(object: RuleObj): this {
    this.ops.push({ verb: 'insert', object });
    return this;
  }

  /** Replaces the rule with `object.handle`. */
  replace(object: RuleObj): this {
    this.ops.push({ verb: 'replace', object });
    return this;
  }

  /** Deletes the object; the transaction fails if it is missing. */
  delete(object: NftObj): this {
    this.ops.push({ verb: 'delete', object });
    return this;
  }

  /** Empties a table (its chains' rules and its sets' elements), a chain or a set. */
  flush(object: TableObj | ChainObj | SetObj): this {
    this.ops.push({ verb: 'flush', object });
    return this;
  }

  /** Appends every operation of `other`. */
  append(other: NftTx): this {
    this.ops.push(...other.ops);
    return this;
  }

  get empty(): boolean {
    return this.ops.length === 0;
  }

  render(): string {
    return renderOps(this.ops);
  }
}
