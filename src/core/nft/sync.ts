/**
 * The element-diff sync planner: from the desired table and the one last applied, ONE atomic
 * transaction that makes the kernel's table the desired one, in O(changes).
 *
 * - Full rebuild (no last state, or `full`, or a change the diff cannot express in place: a set's
 *   type or flags, a base chain's hook or priority): `add table; delete table; add table; ...`.
 *   The add-then-delete makes the delete safe when the table is missing, and since the batch is
 *   atomic no packet ever sees the table half-built or missing.
 * - Otherwise: elements are added and deleted one by one (a changed map value or comment is a
 *   delete and an add of that key); only chains whose rules changed are flushed and refilled;
 *   new sets and chains are added, vanished ones deleted (after the rules that used them went).
 *
 * The order inside the transaction follows the kernel's reference checks: sets and chains exist
 * before anything refers to them (element jumps, rule lookups), and are deleted only after their
 * last reference is gone. The planner is pure; ../../adapters/nft-sync.ts keeps the last state.
 */

import {
  chainObj,
  keyId,
  setObj,
  tableObj,
  type ChainDef,
  type Element,
  type RuleBody,
  type SetDef,
  type TableDef,
} from './model.js';
import { NftTx } from './tx.js';

export interface SyncPlan {
  tx: NftTx;
  /** Why this plan is a full rebuild, or undefined for an incremental one. */
  full: string | undefined;
}

/** The transaction that (re)builds `t` from nothing, replacing whatever table has its name. */
export function planFullRebuild(t: TableDef): NftTx {
  const table = tableObj(t);
  const tx = new NftTx().add(table).delete(table).add(table);
  for (const s of t.sets) tx.add(setObj(t, s));
  for (const c of t.chains) tx.add(chainObj(t, c));
  for (const s of t.sets)
    if (s.elements.length > 0)
      tx.add({ kind: 'element', family: t.family, table: t.name, set: s.name, elements: s.elements });
  for (const c of t.chains)
    for (const r of c.rules) tx.add({ kind: 'rule', family: t.family, table: t.name, chain: c.name, ...r });
  return tx;
}

/** The transaction that removes the table; safe when it does not exist. */
export function planRemoval(t: Pick<TableDef, 'family' | 'name'>): NftTx {
  const table = tableObj(t);
  return new NftTx().add(table).delete(table);
}

function setSpecId(s: SetDef): string {
  return JSON.stringify([s.key, s.value ?? null, [...(s.flags ?? [])].sort(), s.timeout ?? null]);
}

function baseId(c: ChainDef): string {
  return c.base ? `${c.base.type} ${c.base.hook} ${c.base.priority} ${c.base.policy ?? 'accept'}` : '';
}

function rulesId(rules: readonly RuleBody[]): string {
  return JSON.stringify(rules.map((r) => [r.exprs, r.comment ?? null]));
}

/** The same rules: the same array (a planner that kept the chain), or the same text. */
function sameRules(a: readonly RuleBody[], b: readonly RuleBody[]): boolean {
  return a === b || rulesId(a) === rulesId(b);
}

function elementId(e: Element): string {
  return JSON.stringify([e.value ?? null, e.comment ?? null, e.timeout ?? null]);
}

/**
 * The chains of `a` that are not the very objects of `b`: changed, new or gone ones. A chain
 * that is the same object in both is the same chain (name, hook and rules), so a planner that
 * keeps its unchanged chains makes the chain diff below O(changes) rather than O(chains).
 */
function chainsNotIn(a: readonly ChainDef[], b: readonly ChainDef[]): ChainDef[] {
  const same = new Set(b);
  return a.filter((c) => !same.has(c));
}

/** Why `desired` cannot be reached from `last` in place, or undefined (chains: the changed ones). */
function needsRebuild(
  desired: TableDef,
  last: TableDef,
  desiredChains: readonly ChainDef[],
  lastChainList: readonly ChainDef[],
): string | undefined {
  if (desired.family !== last.family || desired.name !== last.name) return 'another table';
  const lastSets = new Map(last.sets.map((s) => [s.name, s]));
  for (const s of desired.sets) {
    const l = lastSets.get(s.name);
    if (l && setSpecId(l) !== setSpecId(s)) return `set ${s.name} changed its type or flags`;
  }
  const lastChains = new Map(lastChainList.map((c) => [c.name, c]));
  for (const c of desiredChains) {
    const l = lastChains.get(c.name);
    if (l && baseId(l) !== baseId(c)) return `chain ${c.name} changed its hook, priority or policy`;
  }
  return undefined;
}

/**
 * The elements of `now` that are not the very objects of `before` (fresh) and those of `before`
 * that are not in `now` (stale). Elements that are the very objects applied last time are
 * unchanged: only the others are keyed and compared by the caller. A planner that keeps the
 * elements of unchanged parts, in the same order, changes only a window of the array: the common
 * head and tail are skipped by identity (no hashing), and only the window is put in sets, so one
 * endpoint change among 100,000 elements costs a pass of pointer comparisons, not 100,000 hashes.
 */
export function changedElements(
  before: readonly Element[],
  now: readonly Element[],
): { fresh: Element[]; stale: Element[] } {
  let head = 0;
  const most = Math.min(before.length, now.length);
  while (head < most && before[head] === now[head]) head++;
  let tail = 0;
  while (tail < most - head && before[before.length - 1 - tail] === now[now.length - 1 - tail]) tail++;
  const was = before.slice(head, before.length - tail);
  const is = now.slice(head, now.length - tail);
  if (was.length === 0) return { fresh: is, stale: [] };
  if (is.length === 0) return { fresh: [], stale: was };
  const kept = new Set<Element>(was);
  const fresh = is.filter((e) => !kept.has(e));
  const used = new Set<Element>(is);
  return { fresh, stale: was.filter((e) => !used.has(e)) };
}

/** Plans the move from `last` (undefined: unknown) to `desired`. */
export function planSync(desired: TableDef, last: TableDef | undefined, opts: { full?: boolean } = {}): SyncPlan {
  const desiredChains = last === undefined ? desired.chains : chainsNotIn(desired.chains, last.chains);
  const lastChainList = last === undefined ? [] : chainsNotIn(last.chains, desired.chains);
  const why = opts.full
    ? 'full resync asked'
    : last === undefined
      ? 'no state applied yet'
      : needsRebuild(desired, last, desiredChains, lastChainList);
  if (why !== undefined || last === undefined)
    return { tx: planFullRebuild(desired), full: why ?? 'no state applied yet' };
  const t = desired;
  const tx = new NftTx();
  const lastSets = new Map(last.sets.map((s) => [s.name, s]));
  // Chains below are only those that are not the same object on both sides (see chainsNotIn).
  const lastChains = new Map(lastChainList.map((c) => [c.name, c]));
  const wantSets = new Set(desired.sets.map((s) => s.name));
  const wantChains = new Set(desiredChains.map((c) => c.name));

  // 1-2: new sets and chains, empty, so that elements and rules below can refer to them.
  for (const s of desired.sets) if (!lastSets.has(s.name)) tx.add(setObj(t, s));
  for (const c of desiredChains) if (!lastChains.has(c.name)) tx.add(chainObj(t, c));

  // 3-4: element deletes first (so a changed interval never overlaps its old self), then adds.
  const adds: { set: string; elements: Element[] }[] = [];
  for (const s of desired.sets) {
    const last = lastSets.get(s.name)?.elements ?? [];
    if (last === s.elements) continue;
    const { fresh, stale } = changedElements(last, s.elements);
    const before = new Map(stale.map((e) => [keyId(e.key), e]));
    const gone: Element[] = [];
    const added: Element[] = [];
    const now = new Set<string>();
    for (const e of fresh) {
      const id = keyId(e.key);
      now.add(id);
      const prior = before.get(id);
      if (!prior) added.push(e);
      else if (elementId(prior) !== elementId(e)) {
        gone.push(prior);
        added.push(e);
      }
    }
    for (const [id, e] of before) if (!now.has(id)) gone.push(e);
    if (gone.length > 0) tx.delete({ kind: 'element', family: t.family, table: t.name, set: s.name, elements: gone });
    if (added.length > 0) adds.push({ set: s.name, elements: added });
  }
  for (const a of adds) tx.add({ kind: 'element', family: t.family, table: t.name, set: a.set, elements: a.elements });

  // 5-6: chains whose rules changed (or that are going away) are flushed, then refilled.
  const wantByName = new Map(desiredChains.map((c) => [c.name, c]));
  for (const c of lastChainList) {
    const want = wantByName.get(c.name);
    if (!want || !sameRules(want.rules, c.rules)) if (c.rules.length > 0) tx.flush(chainObj(t, c));
  }
  for (const c of desiredChains) {
    const before = lastChains.get(c.name);
    if (before && sameRules(before.rules, c.rules)) continue;
    for (const r of c.rules) tx.add({ kind: 'rule', family: t.family, table: t.name, chain: c.name, ...r });
  }

  // 7-8: what is no longer wanted, now that no rule refers to it: sets first, since a verdict
  // map's elements may still jump to a chain that is going away.
  for (const s of last.sets) if (!wantSets.has(s.name)) tx.delete(setObj(t, s));
  for (const c of lastChainList) if (!wantChains.has(c.name)) tx.delete(chainObj(t, c));
  return { tx, full: undefined };
}
