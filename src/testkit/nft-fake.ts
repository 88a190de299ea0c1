/**
 * NftFake: the Nft port in memory, with the kernel's semantics, so rule generation and sync can
 * be tested without root (the shape of knftables' Fake). The contract suite (./nft-contract.ts)
 * holds it to the same outcomes as real nft.
 *
 * Semantics, as nft 1.0.6 on Linux 6.x shows them (each checked by the contract suite):
 * - a transaction is atomic: the fake applies it to a copy and swaps only when every operation
 *   succeeded, so a failed transaction changes nothing;
 * - unknown table, chain, set, rule handle or element: "No such file or directory";
 * - `create` of an existing object, `add` of an existing set with another spec, `add` of an
 *   existing map key with another value, `add` of a regular chain as a base chain: "File exists";
 *   `add` of an existing base chain with another hook, type or priority: "Operation not
 *   supported"; `add` of an existing base chain may change its policy;
 * - references: a jump/goto (in a rule or a verdict map) must name an existing regular chain of
 *   the table; a set lookup, verdict map or NAT map must name an existing set of the right kind
 *   whose key types equal the selectors' types; a referenced chain or set cannot be deleted
 *   ("Device or resource busy"); deleting a chain deletes its rules; a loop of jumps that a base
 *   chain reaches is refused ("Too many links"), and so is a NAT statement a base chain of the
 *   wrong type or hook reaches ("Operation not supported");
 * - elements: every part must fit its key type; prefixes and ranges only in interval sets;
 *   timeouts only in timeout sets; an element overlapping another one of an interval set is
 *   refused; adding an identical element again is fine.
 * It does not fold rule spellings as the kernel does (`meta l4proto tcp th dport` → `tcp dport`).
 */

import type {
  BaseChain,
  DataType,
  Element,
  Expr,
  NftFamily,
  Op,
  Part,
  RuleBody,
  Selector,
  SetDef,
  SetObj,
  TableDef,
  Verdict,
} from '../core/nft/model.js';
import { keyId } from '../core/nft/model.js';
import { renderOp } from '../core/nft/render.js';
import { NftTx } from '../core/nft/tx.js';
import { atomFits, canonicalPart, isOrdered, partInterval, typeOfSelector } from '../core/nft/values.js';
import type { Nft } from '../ports/nft.js';
import { elementJson, exprJson, type Json } from './nft-json.js';

interface FakeRule {
  handle: number;
  exprs: readonly Expr[];
  comment?: string;
}

interface FakeChain {
  name: string;
  handle: number;
  base?: BaseChain;
  comment?: string;
  rules: FakeRule[];
}

interface FakeSet {
  name: string;
  handle: number;
  key: readonly DataType[];
  value?: readonly DataType[] | 'verdict';
  flags: readonly string[];
  timeout?: number;
  comment?: string;
  /** By keyId of the canonical key, in insertion order. */
  elements: Map<string, Element>;
}

interface FakeTable {
  family: NftFamily;
  name: string;
  comment?: string;
  nextHandle: number;
  chains: Map<string, FakeChain>;
  sets: Map<string, FakeSet>;
}

const ENOENT = 'No such file or directory';
const EEXIST = 'File exists';
const EBUSY = 'Device or resource busy';
const EOPNOTSUPP = 'Operation not supported';
const EINVAL = 'Invalid argument';

class OpError extends Error {
  override readonly name = 'OpError';
}

function tableKey(family: string, name: string): string {
  return `${family} ${name}`;
}

function cloneTables(tables: Map<string, FakeTable>): Map<string, FakeTable> {
  const out = new Map<string, FakeTable>();
  for (const [k, t] of tables) {
    out.set(k, {
      ...t,
      chains: new Map([...t.chains].map(([n, c]) => [n, { ...c, rules: [...c.rules] }])),
      sets: new Map([...t.sets].map(([n, s]) => [n, { ...s, elements: new Map(s.elements) }])),
    });
  }
  return out;
}

function sameBase(a: BaseChain, b: BaseChain): boolean {
  return a.type === b.type && a.hook === b.hook && a.priority === b.priority;
}

function sameSpec(s: FakeSet, o: SetObj): boolean {
  const flags = [...(o.flags ?? [])].sort().join(',');
  const value = (v: FakeSet['value']) => (v === undefined ? '' : v === 'verdict' ? 'verdict' : v.join('.'));
  return (
    s.key.join('.') === o.key.join('.') &&
    value(s.value) === value(o.value) &&
    [...s.flags].sort().join(',') === flags &&
    s.timeout === o.timeout
  );
}

function verdictTargets(exprs: readonly Expr[]): string[] {
  const out: string[] = [];
  for (const e of exprs) {
    if (e.kind === 'verdict' && (e.verdict.verdict === 'jump' || e.verdict.verdict === 'goto'))
      out.push(e.verdict.chain);
    if (e.kind === 'vmap' && 'anon' in e.map) for (const el of e.map.anon) out.push(...elementTargets(el));
    if (e.kind === 'numgen') for (const el of e.map) out.push(...elementTargets(el));
  }
  return out;
}

function elementTargets(e: Element): string[] {
  const v = e.value;
  if (v === undefined || Array.isArray(v)) return [];
  const verdict = v as Verdict;
  return verdict.verdict === 'jump' || verdict.verdict === 'goto' ? [verdict.chain] : [];
}

function setRefs(exprs: readonly Expr[]): string[] {
  const out: string[] = [];
  for (const e of exprs) {
    if (e.kind === 'match' && typeof e.right === 'object' && 'set' in e.right) out.push(e.right.set);
    if (e.kind === 'vmap' && 'set' in e.map) out.push(e.map.set);
    if ((e.kind === 'snat' || e.kind === 'dnat') && 'map' in e.to) out.push(e.to.map);
    if (e.kind === 'update') out.push(e.set);
  }
  return out;
}

/** One nft operation applied to the (copied) state; throws OpError with the kernel's reason. */
class Applier {
  constructor(private readonly tables: Map<string, FakeTable>) {}

  apply(op: Op): void {
    const o = op.object;
    if (o.kind === 'table') return this.table(op.verb, o.family, o.name, o.comment);
    const t = this.tables.get(tableKey(o.family, o.table));
    if (!t) throw new OpError(`table ${o.family} ${o.table}: ${ENOENT}`);
    switch (o.kind) {
      case 'chain':
        return this.chain(t, op.verb, o.name, o.base, o.comment);
      case 'set':
        return this.set(t, op.verb, o);
      case 'rule':
        return this.rule(t, op.verb, o.chain, o, o.handle);
      case 'element':
        return this.elements(t, op.verb, o.set, o.elements);
    }
  }

  private table(verb: Op['verb'], family: NftFamily, name: string, comment?: string): void {
    const k = tableKey(family, name);
    const t = this.tables.get(k);
    if (verb === 'add' || verb === 'create') {
      if (t && verb === 'create') throw new OpError(EEXIST);
      if (!t)
        this.tables.set(k, {
          family,
          name,
          ...(comment !== undefined ? { comment } : {}),
          nextHandle: 1,
          chains: new Map(),
          sets: new Map(),
        });
      return;
    }
    if (!t) throw new OpError(ENOENT);
    if (verb === 'delete') this.tables.delete(k);
    // `flush table` empties every chain; sets keep their elements (as the kernel does).
    else if (verb === 'flush') for (const c of t.chains.values()) c.rules = [];
    else throw new OpError(`cannot ${verb} a table`);
  }

  private chain(t: FakeTable, verb: Op['verb'], name: string, base?: BaseChain, comment?: string): void {
    const c = t.chains.get(name);
    if (verb === 'add' || verb === 'create') {
      if (c) {
        if (verb === 'create') throw new OpError(EEXIST);
        if (base && !c.base) throw new OpError(EEXIST);
        if (base && c.base && !sameBase(base, c.base)) throw new OpError(EOPNOTSUPP);
        if (base && c.base && base.policy) c.base = { ...c.base, policy: base.policy };
        return;
      }
      t.chains.set(name, {
        name,
        handle: t.nextHandle++,
        ...(base ? { base: { policy: 'accept', ...base } } : {}),
        ...(comment ? { comment } : {}),
        rules: [],
      });
      return;
    }
    if (!c) throw new OpError(`chain ${name}: ${ENOENT}`);
    if (verb === 'flush') {
      c.rules = [];
      return;
    }
    if (verb !== 'delete') throw new OpError(`cannot ${verb} a chain`);
    for (const other of t.chains.values()) {
      if (other !== c && other.rules.some((r) => verdictTargets(r.exprs).includes(name)))
        throw new OpError(`chain ${name}: ${EBUSY}`);
    }
    for (const s of t.sets.values())
      for (const e of s.elements.values())
        if (elementTargets(e).includes(name)) throw new OpError(`chain ${name}: ${EBUSY}`);
    t.chains.delete(name);
  }

  private set(t: FakeTable, verb: Op['verb'], o: SetObj): void {
    const s = t.sets.get(o.name);
    if (verb === 'add' || verb === 'create') {
      if (s) {
        if (verb === 'create' || !sameSpec(s, o)) throw new OpError(`set ${o.name}: ${EEXIST}`);
        return;
      }
      if (o.key.length === 0) throw new OpError(`set ${o.name}: ${EINVAL}`);
      t.sets.set(o.name, {
        name: o.name,
        handle: t.nextHandle++,
        key: o.key,
        ...(o.value !== undefined ? { value: o.value } : {}),
        flags: o.flags ?? [],
        ...(o.timeout !== undefined ? { timeout: o.timeout } : {}),
        ...(o.comment !== undefined ? { comment: o.comment } : {}),
        elements: new Map(),
      });
      return;
    }
    if (!s) throw new OpError(`set ${o.name}: ${ENOENT}`);
    if (verb === 'flush') {
      s.elements = new Map();
      return;
    }
    if (verb !== 'delete') throw new OpError(`cannot ${verb} a set`);
    for (const c of t.chains.values())
      if (c.rules.some((r) => setRefs(r.exprs).includes(o.name))) throw new OpError(`set ${o.name}: ${EBUSY}`);
    t.sets.delete(o.name);
  }

  private checkTarget(t: FakeTable, chain: string): void {
    const target = t.chains.get(chain);
    if (!target) throw new OpError(`jump target ${chain}: ${ENOENT}`);
    if (target.base) throw new OpError(`jump to base chain ${chain}: ${EOPNOTSUPP}`);
  }

  private checkLookup(t: FakeTable, left: readonly Selector[], name: string, want: 'set' | 'vmap' | 'map'): void {
    const s = t.sets.get(name);
    if (!s) throw new OpError(`set ${name}: ${ENOENT}`);
    if (want === 'vmap' && s.value !== 'verdict') throw new OpError(`${name} is not a verdict map: ${EINVAL}`);
    if (want === 'map' && (s.value === undefined || s.value === 'verdict'))
      throw new OpError(`${name} is not a data map: ${EINVAL}`);
    const types = left.map(typeOfSelector);
    if (types.length !== s.key.length || types.some((ty, i) => ty !== s.key[i])) {
      throw new OpError(`datatype mismatch: ${left.join(' . ')} looked up in ${name} (${s.key.join(' . ')})`);
    }
  }

  private checkRule(t: FakeTable, body: RuleBody): void {
    if (body.exprs.length === 0) throw new OpError(`empty rule: ${EINVAL}`);
    for (const e of body.exprs) {
      if (e.kind === 'match') {
        const r = e.right;
        if (typeof r === 'object' && 'set' in r) this.checkLookup(t, e.left, r.set, 'set');
        else if (e.left.length === 1) {
          const ty = typeOfSelector(e.left[0]!);
          const parts: readonly Part[] =
            typeof r === 'object' && 'anon' in r
              ? r.anon.map((x) => x[0]!)
              : typeof r === 'object' && 'flags' in r
                ? []
                : [r];
          if (ty && ty !== 'ct_state')
            for (const p of parts)
              if (partInterval(p, ty) === undefined && !(ty === 'ifname' && typeof p === 'string'))
                throw new OpError(`datatype mismatch: ${e.left[0]} against ${JSON.stringify(p)}`);
        }
      } else if (e.kind === 'vmap') {
        if ('set' in e.map) this.checkLookup(t, e.key, e.map.set, 'vmap');
      } else if ((e.kind === 'snat' || e.kind === 'dnat') && 'map' in e.to) {
        this.checkLookup(t, e.to.key, e.to.map, 'map');
      } else if (e.kind === 'update') {
        this.checkLookup(t, e.key, e.set, 'set');
        const s = t.sets.get(e.set);
        if (s && !(s.flags ?? []).includes('dynamic'))
          throw new OpError(`update @${e.set}: the set needs the dynamic flag: ${EOPNOTSUPP}`);
      } else if (e.kind === 'numgen') {
        if (e.map.some((el) => el.key.length !== 1 || typeof el.key[0] !== 'number' || el.key[0] >= e.mod))
          throw new OpError(`numgen random mod ${e.mod}: every key must be a number below ${e.mod}: ${EINVAL}`);
      }
    }
    for (const target of verdictTargets(body.exprs)) this.checkTarget(t, target);
  }

  private rule(t: FakeTable, verb: Op['verb'], chainName: string, body: RuleBody, handle?: number): void {
    const c = t.chains.get(chainName);
    if (!c) throw new OpError(`chain ${chainName}: ${ENOENT}`);
    const at = handle === undefined ? -1 : c.rules.findIndex((r) => r.handle === handle);
    if (handle !== undefined && at < 0) throw new OpError(`rule handle ${handle}: ${ENOENT}`);
    if (verb === 'delete') {
      c.rules.splice(at, 1);
      return;
    }
    this.checkRule(t, body);
    const rule: FakeRule = {
      handle: t.nextHandle++,
      exprs: body.exprs,
      ...(body.comment ? { comment: body.comment } : {}),
    };
    if (verb === 'add' || verb === 'create') c.rules.push(rule);
    else if (verb === 'insert') c.rules.splice(at < 0 ? 0 : at, 0, rule);
    else if (verb === 'replace') c.rules[at] = { ...rule, handle: handle! };
    else throw new OpError(`cannot ${verb} a rule`);
  }

  private canonical(t: FakeTable, s: FakeSet, e: Element, withValue: boolean): Element {
    const interval = s.flags.includes('interval');
    if (e.key.length !== s.key.length)
      throw new OpError(
        `element ${keyId(e.key)}: key has ${e.key.length} parts, ${s.name} has ${s.key.length}: ${EINVAL}`,
      );
    const key = e.key.map((p, i) => {
      const ty = s.key[i]!;
      if (typeof p === 'object') {
        if (!interval)
          throw new OpError(
            `element ${keyId(e.key)}: you must add 'flags interval' to set ${s.name} for prefixes and ranges`,
          );
        if (!isOrdered(ty) || partInterval(p, ty) === undefined)
          throw new OpError(`element ${keyId(e.key)}: ${JSON.stringify(p)} is not a valid ${ty}`);
      } else if (!atomFits(p, ty))
        throw new OpError(`element ${keyId(e.key)}: ${JSON.stringify(p)} is not a valid ${ty}`);
      return canonicalPart(p, ty, interval);
    });
    const out: { key: Part[]; value?: Element['value']; comment?: string; timeout?: number } = { key };
    if (!withValue) return out;
    if (e.timeout !== undefined) {
      if (!s.flags.includes('timeout'))
        throw new OpError(`element ${keyId(e.key)}: timeout in a set without the timeout flag: ${EINVAL}`);
      out.timeout = e.timeout;
    } else if (s.timeout !== undefined) out.timeout = s.timeout;
    if (e.comment !== undefined) out.comment = e.comment;
    if (s.value === undefined) {
      if (e.value !== undefined) throw new OpError(`element ${keyId(e.key)}: ${s.name} is a set, not a map: ${EINVAL}`);
      return out;
    }
    if (e.value === undefined)
      throw new OpError(`element ${keyId(e.key)}: ${s.name} is a map and needs a value: ${EINVAL}`);
    if (s.value === 'verdict') {
      if (Array.isArray(e.value)) throw new OpError(`element ${keyId(e.key)}: ${s.name} maps to verdicts: ${EINVAL}`);
      for (const target of elementTargets(e)) {
        if (!t.chains.has(target)) throw new OpError(`element ${keyId(e.key)}: chain ${target}: ${ENOENT}`);
      }
      out.value = e.value;
      return out;
    }
    const types = s.value;
    const value = e.value;
    if (!Array.isArray(value) || value.length !== types.length)
      throw new OpError(`element ${keyId(e.key)}: value does not fit ${types.join(' . ')}: ${EINVAL}`);
    out.value = (value as readonly (string | number)[]).map((a, i) => {
      if (!atomFits(a, types[i]!))
        throw new OpError(`element ${keyId(e.key)}: ${JSON.stringify(a)} is not a valid ${types[i]}`);
      return canonicalPart(a, types[i]!, false) as string | number;
    });
    return out;
  }

  private overlaps(s: FakeSet, a: readonly Part[], b: readonly Part[]): boolean {
    return a.every((p, i) => {
      const ty = s.key[i]!;
      const q = b[i]!;
      if (ty === 'ifname') return p === q;
      const x = partInterval(p, ty);
      const y = partInterval(q, ty);
      return x !== undefined && y !== undefined && x[0] <= y[1] && y[0] <= x[1];
    });
  }

  private elements(t: FakeTable, verb: Op['verb'], setName: string, elements: readonly Element[]): void {
    const s = t.sets.get(setName);
    if (!s) throw new OpError(`set ${setName}: ${ENOENT}`);
    for (const raw of elements) {
      const e = this.canonical(t, s, raw, verb !== 'delete');
      const id = keyId(e.key);
      const prior = s.elements.get(id);
      if (verb === 'delete') {
        if (!prior) throw new OpError(`element ${id}: ${ENOENT}`);
        s.elements.delete(id);
        continue;
      }
      if (verb !== 'add' && verb !== 'create') throw new OpError(`cannot ${verb} an element`);
      if (prior) {
        if (verb === 'create') throw new OpError(`element ${id}: ${EEXIST}`);
        if (JSON.stringify(prior.value) !== JSON.stringify(e.value)) throw new OpError(`element ${id}: ${EEXIST}`);
        continue;
      }
      if (s.flags.includes('interval')) {
        for (const other of s.elements.values()) {
          if (this.overlaps(s, e.key, other.key))
            throw new OpError(`element ${id}: interval overlaps with an existing one (${keyId(other.key)})`);
        }
      }
      s.elements.set(id, e);
    }
  }
}

/** The chains a chain can continue in: jumps and gotos of its rules and of the verdict maps it looks up. */
function edgesOf(t: FakeTable, c: FakeChain): string[] {
  const out: string[] = [];
  for (const r of c.rules) {
    out.push(...verdictTargets(r.exprs));
    for (const e of r.exprs) {
      if (e.kind !== 'vmap' || !('set' in e.map)) continue;
      for (const el of t.sets.get(e.map.set)?.elements.values() ?? []) out.push(...elementTargets(el));
    }
  }
  return out;
}

/**
 * What the kernel validates when a transaction commits: no loop of jumps reachable from a base
 * chain ("Too many links"),
 * and NAT statements only where a nat base chain of the right hook reaches them ("Operation not
 * supported": dnat in prerouting/output, snat and masquerade in postrouting/input).
 */
function validateTable(t: FakeTable): string | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const visit = (name: string): boolean => {
    const s = state.get(name);
    if (s === 'open') return false;
    if (s === 'done') return true;
    state.set(name, 'open');
    const c = t.chains.get(name);
    for (const next of c ? edgesOf(t, c) : []) if (!visit(next)) return false;
    state.set(name, 'done');
    return true;
  };
  // The kernel looks for loops only along paths from base chains: an unreachable loop is fine
  // until something links it to one.
  for (const c of t.chains.values())
    if (c.base && !visit(c.name)) return `a loop of jumps from base chain ${c.name}: Too many links`;
  for (const base of t.chains.values()) {
    if (!base.base) continue;
    const { type, hook } = base.base;
    const seen = new Set<string>();
    const walk = (name: string): string | undefined => {
      if (seen.has(name)) return undefined;
      seen.add(name);
      const c = t.chains.get(name);
      for (const r of c?.rules ?? []) {
        for (const e of r.exprs) {
          const dnatOk = type === 'nat' && (hook === 'prerouting' || hook === 'output');
          const snatOk = type === 'nat' && (hook === 'postrouting' || hook === 'input');
          if ((e.kind === 'dnat' && !dnatOk) || ((e.kind === 'snat' || e.kind === 'masquerade') && !snatOk)) {
            return `${e.kind} in chain ${name}, reached from ${type} ${hook} chain ${base.name}: ${EOPNOTSUPP}`;
          }
        }
      }
      for (const next of c ? edgesOf(t, c) : []) {
        const why = walk(next);
        if (why) return why;
      }
      return undefined;
    };
    const why = walk(base.name);
    if (why) return why;
  }
  return undefined;
}

function setDefOf(s: FakeSet): SetDef {
  return {
    name: s.name,
    key: s.key,
    ...(s.value !== undefined ? { value: s.value } : {}),
    ...(s.flags.length > 0 ? { flags: s.flags as SetDef['flags'] } : {}),
    ...(s.timeout !== undefined ? { timeout: s.timeout } : {}),
    ...(s.comment !== undefined ? { comment: s.comment } : {}),
    elements: [...s.elements.values()],
  };
}

export class NftFake implements Nft {
  private tables = new Map<string, FakeTable>();
  /** Every transaction that succeeded, as rendered text (for tests that look at what was sent). */
  readonly applied: string[] = [];
  /** Set to make the next apply fail as the kernel would refuse it (once). */
  failNext: string | undefined;

  apply(tx: NftTx, context: string): Promise<void> {
    if (tx.empty) return Promise.resolve();
    if (this.failNext !== undefined) {
      const why = this.failNext;
      this.failNext = undefined;
      return Promise.reject(new Error(`${context}: nft: ${why}`));
    }
    const copy = cloneTables(this.tables);
    const applier = new Applier(copy);
    for (const op of tx.ops) {
      try {
        applier.apply(op);
      } catch (err) {
        if (!(err instanceof OpError)) throw err;
        return Promise.reject(new Error(`${context}: nft: ${renderOp(op)}: ${err.message}`, { cause: err }));
      }
    }
    for (const t of copy.values()) {
      const why = validateTable(t);
      if (why) return Promise.reject(new Error(`${context}: nft: table ${t.family} ${t.name}: ${why}`));
    }
    this.tables = copy;
    this.applied.push(tx.render());
    return Promise.resolve();
  }

  listTable(family: string, name: string): Promise<unknown[] | undefined> {
    const t = this.tables.get(tableKey(family, name));
    if (!t) return Promise.resolve(undefined);
    const out: Json[] = [{ metainfo: { version: '1.0.6', release_name: 'fake', json_schema_version: 1 } }];
    out.push({ table: { family: t.family, name: t.name, handle: 0 } });
    for (const s of [...t.sets.values()].sort((a, b) => a.handle - b.handle)) {
      const isMap = s.value !== undefined;
      const body: { [k: string]: Json } = {
        family: t.family,
        name: s.name,
        table: t.name,
        type: s.key.length === 1 ? s.key[0]! : [...s.key],
        handle: s.handle,
      };
      if (isMap) body.map = s.value === 'verdict' ? 'verdict' : s.value!.join(' . ');
      if (s.comment !== undefined) body.comment = s.comment;
      if (s.flags.length > 0) body.flags = [...s.flags];
      if (s.timeout !== undefined) body.timeout = s.timeout;
      if (s.elements.size > 0) body.elem = [...s.elements.values()].map((e) => elementJson(e, isMap));
      out.push({ [isMap ? 'map' : 'set']: body });
    }
    const chains = [...t.chains.values()].sort((a, b) => a.handle - b.handle);
    for (const c of chains) {
      const body: { [k: string]: Json } = { family: t.family, table: t.name, name: c.name, handle: c.handle };
      if (c.base)
        Object.assign(body, {
          type: c.base.type,
          hook: c.base.hook,
          prio: c.base.priority,
          policy: c.base.policy ?? 'accept',
        });
      if (c.comment !== undefined) body.comment = c.comment;
      out.push({ chain: body });
    }
    for (const c of chains) {
      for (const r of c.rules) {
        out.push({
          rule: {
            family: t.family,
            table: t.name,
            chain: c.name,
            handle: r.handle,
            ...(r.comment ? { comment: r.comment } : {}),
            expr: r.exprs.map(exprJson),
          },
        });
      }
    }
    return Promise.resolve(out);
  }

  /** The table as a model value (for the packet tracer and for tests), or undefined. */
  table(family: NftFamily, name: string): TableDef | undefined {
    const t = this.tables.get(tableKey(family, name));
    if (!t) return undefined;
    return {
      family: t.family,
      name: t.name,
      ...(t.comment !== undefined ? { comment: t.comment } : {}),
      chains: [...t.chains.values()].map((c) => ({
        name: c.name,
        ...(c.base ? { base: c.base } : {}),
        ...(c.comment !== undefined ? { comment: c.comment } : {}),
        rules: c.rules.map((r) => ({ exprs: r.exprs, ...(r.comment !== undefined ? { comment: r.comment } : {}) })),
      })),
      sets: [...t.sets.values()].map(setDefOf),
    };
  }

  /** Every table, as model values. */
  ruleset(): TableDef[] {
    return [...this.tables.values()].map((t) => this.table(t.family, t.name)!);
  }
}
