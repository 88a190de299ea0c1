/**
 * The one parser of nft's JSON listings (`nft -j list table ...`) into the typed model.
 *
 * Every reader of kernel state (CNI DEL/CHECK/GC, the agent's resync, the contract suite) goes
 * through here, so nft's JSON quirks are handled once (libnftables-json(5), checked against nft
 * 1.0.6):
 * - a set's "type" is a string or a list (concatenation); a map's "map" is a string with " . "
 *   between the parts, or "verdict";
 * - an element is a bare value, {"concat": [...]}, {"prefix": {...}}, {"range": [a, b]}, or
 *   {"elem": {"val": ..., "comment", "timeout", "expires"}}; a map element is [key, value];
 * - in interval sets a full-length prefix prints as the bare address;
 * - protocols print by name when nft knows them; `ct state a,b` is an "in" match on a list;
 * - the kernel folds `meta l4proto tcp th dport 80` into `tcp dport 80`;
 * - counters carry their packets and bytes (dropped here: they are state, not configuration);
 * - table comments are not in the JSON at all (nft 1.0.6).
 * A rule with an expression the model does not have is reported in `unreadable`, not guessed.
 */

import type {
  Atom,
  ChainDef,
  DataType,
  Element,
  Expr,
  NftFamily,
  Operand,
  Part,
  RuleBody,
  Selector,
  SetDef,
  SetFlag,
  TableDef,
  Verdict,
} from './model.js';

export interface ListedRule extends RuleBody {
  handle: number;
}

export interface ListedChain extends ChainDef {
  handle: number;
  rules: ListedRule[];
}

export interface ListedSet extends SetDef {
  handle: number;
}

export interface ListedTable extends TableDef {
  chains: ListedChain[];
  sets: ListedSet[];
  /** Rules the model cannot express: where they are and why (kept so callers can repair them). */
  unreadable: { chain: string; handle: number; reason: string }[];
}

export class NftListingError extends Error {
  override readonly name = 'NftListingError';
}

type Json = unknown;
type Obj = Record<string, Json>;

function isObj(v: Json): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const DATA_TYPES: ReadonlySet<string> = new Set<DataType>([
  'ipv4_addr',
  'ipv6_addr',
  'inet_proto',
  'inet_service',
  'ifname',
  'ether_addr',
  'mark',
  'nf_proto',
  'ct_state',
]);
const SET_FLAGS: ReadonlySet<string> = new Set<SetFlag>(['interval', 'timeout', 'constant', 'dynamic']);
const SELECTORS: ReadonlySet<string> = new Set<Selector>([
  'ip saddr',
  'ip daddr',
  'ip protocol',
  'ip id',
  'ip6 saddr',
  'ip6 daddr',
  'ip6 nexthdr',
  'meta l4proto',
  'meta nfproto',
  'meta mark',
  'meta iifname',
  'meta oifname',
  'iifname',
  'oifname',
  'th sport',
  'th dport',
  'tcp sport',
  'tcp dport',
  'udp sport',
  'udp dport',
  'ct state',
  'ct status',
  'ct mark',
  'ether saddr',
  'ether daddr',
  'ether type',
  'arp saddr ip',
  'arp saddr ether',
  'meta ibrname',
  'meta obrname',
  'fib daddr type',
  'fib saddr type',
]);

function dataTypes(v: Json, what: string): DataType[] {
  const parts = Array.isArray(v) ? v : typeof v === 'string' ? v.split(' . ') : undefined;
  if (!parts || parts.length === 0) throw new NftListingError(`${what}: unexpected type ${JSON.stringify(v)}`);
  return parts.map((p) => {
    if (typeof p !== 'string' || !DATA_TYPES.has(p))
      throw new NftListingError(`${what}: unknown data type ${JSON.stringify(p)}`);
    return p as DataType;
  });
}

function atom(v: Json, what: string): Atom {
  if (typeof v === 'string' || typeof v === 'number') return v;
  throw new NftListingError(`${what}: expected a value, got ${JSON.stringify(v)}`);
}

function part(v: Json, what: string): Part {
  if (isObj(v) && isObj(v.prefix)) {
    const { addr, len } = v.prefix;
    if (typeof addr !== 'string' || typeof len !== 'number')
      throw new NftListingError(`${what}: bad prefix ${JSON.stringify(v)}`);
    return { prefix: { addr, len } };
  }
  if (isObj(v) && Array.isArray(v.range) && v.range.length === 2)
    return { range: [atom(v.range[0], what), atom(v.range[1], what)] };
  return atom(v, what);
}

function tuple(v: Json, what: string): Part[] {
  if (isObj(v) && Array.isArray(v.concat)) return v.concat.map((p) => part(p, what));
  return [part(v, what)];
}

export function parseVerdict(v: Json, what: string): Verdict | undefined {
  if (!isObj(v)) return undefined;
  for (const code of ['accept', 'drop', 'return', 'continue'] as const) if (code in v) return { verdict: code };
  for (const code of ['jump', 'goto'] as const) {
    const t = v[code];
    if (isObj(t) && typeof t.target === 'string') return { verdict: code, chain: t.target };
    if (code in v) throw new NftListingError(`${what}: ${code} without a target`);
  }
  return undefined;
}

function elementOf(raw: Json, isMap: boolean, isVmap: boolean, what: string): Element {
  let keyJson: Json = raw;
  let valueJson: Json;
  if (isMap) {
    if (!Array.isArray(raw) || raw.length !== 2)
      throw new NftListingError(`${what}: expected a [key, value] element, got ${JSON.stringify(raw)}`);
    [keyJson, valueJson] = raw;
  }
  const e: { key: Part[]; value?: Atom[] | Verdict; comment?: string; timeout?: number } = { key: [] };
  if (isObj(keyJson) && isObj(keyJson.elem)) {
    const inner = keyJson.elem;
    if (typeof inner.comment === 'string') e.comment = inner.comment;
    if (typeof inner.timeout === 'number') e.timeout = inner.timeout;
    keyJson = inner.val;
  }
  e.key = tuple(keyJson, what);
  if (isMap) {
    if (isVmap) {
      const v = parseVerdict(valueJson, what);
      if (!v) throw new NftListingError(`${what}: expected a verdict, got ${JSON.stringify(valueJson)}`);
      e.value = v;
    } else {
      e.value = tuple(valueJson, what).map((p) => atom(p, what));
    }
  }
  return e;
}

function parseSet(body: Obj, isMap: boolean): ListedSet {
  const name = String(body.name);
  const what = 'element';
  const value = isMap ? (body.map === 'verdict' ? ('verdict' as const) : dataTypes(body.map, what)) : undefined;
  const flags = (Array.isArray(body.flags) ? body.flags : typeof body.flags === 'string' ? [body.flags] : []).filter(
    (f): f is SetFlag => typeof f === 'string' && SET_FLAGS.has(f),
  );
  const elements = Array.isArray(body.elem)
    ? body.elem.map((raw) => elementOf(raw, isMap, value === 'verdict', what))
    : [];
  return {
    name,
    handle: typeof body.handle === 'number' ? body.handle : 0,
    key: dataTypes(body.type, what),
    ...(value !== undefined ? { value } : {}),
    ...(flags.length > 0 ? { flags } : {}),
    ...(typeof body.timeout === 'number' ? { timeout: body.timeout } : {}),
    ...(typeof body.comment === 'string' ? { comment: body.comment } : {}),
    elements,
  };
}

/** A left side of a match (or a lookup key): one selector or a concatenation. */
function selectors(v: Json, what: string): Selector[] {
  if (isObj(v) && Array.isArray(v.concat)) return v.concat.flatMap((p) => selectors(p, what));
  let name: string | undefined;
  if (isObj(v) && isObj(v.payload)) name = `${String(v.payload.protocol)} ${String(v.payload.field)}`;
  else if (isObj(v) && isObj(v.meta)) {
    const key = String(v.meta.key);
    name = key === 'iifname' || key === 'oifname' ? key : `meta ${key}`;
  } else if (isObj(v) && isObj(v.ct)) name = `ct ${String(v.ct.key)}`;
  else if (
    isObj(v) &&
    isObj(v.fib) &&
    v.fib.result === 'type' &&
    Array.isArray(v.fib.flags) &&
    v.fib.flags.length === 1
  )
    name = `fib ${String(v.fib.flags[0])} type`;
  if (name === undefined || !SELECTORS.has(name))
    throw new NftListingError(`${what}: unknown selector ${JSON.stringify(v)}`);
  return [name as Selector];
}

function operand(v: Json, left: readonly Selector[], what: string): Operand {
  if (typeof v === 'string' && v.startsWith('@')) return { set: v.slice(1) };
  const isFlags = left.length === 1 && (left[0] === 'ct state' || left[0] === 'ct status');
  if (isFlags && (typeof v === 'string' || Array.isArray(v)))
    return { flags: (Array.isArray(v) ? v : [v]).map((f) => String(f)) };
  if (isObj(v) && Array.isArray(v.set)) return { anon: v.set.map((item) => tuple(item, what)) };
  return part(v, what);
}

function expr(e: Json, what: string): Expr {
  if (!isObj(e)) throw new NftListingError(`${what}: unexpected expression ${JSON.stringify(e)}`);
  const verdict = parseVerdict(e, what);
  if (verdict) return { kind: 'verdict', verdict };
  if (isObj(e.match)) {
    const m = e.match;
    const and = isObj(m.left) && Array.isArray(m.left['&']) ? (m.left['&'] as Json[]) : undefined;
    const masked = and !== undefined && typeof and[1] === 'number';
    const left = selectors(masked ? and[0] : m.left, what);
    const op = m.op === '!=' ? '!=' : m.op === '==' || m.op === 'in' ? '==' : undefined;
    if (!op) throw new NftListingError(`${what}: unknown operator ${JSON.stringify(m.op)}`);
    const mask = masked ? { mask: and[1] as number } : {};
    return { kind: 'match', left, op, right: operand(m.right, left, what), ...mask };
  }
  if ('counter' in e) return { kind: 'counter' };
  if ('masquerade' in e) {
    const m = e.masquerade;
    const flags = isObj(m) ? (Array.isArray(m.flags) ? m.flags : [m.flags]) : [];
    return flags.includes('fully-random') ? { kind: 'masquerade', fullyRandom: true } : { kind: 'masquerade' };
  }
  if ('reject' in e) {
    const r = e.reject;
    if (!isObj(r)) return { kind: 'reject' };
    if (r.type === 'tcp reset') return { kind: 'reject', with: 'tcp reset' };
    // A bare `reject` in an ip table lists as its default, ICMP port unreachable.
    if (r.type === 'icmp' && r.expr === 'port-unreachable') return { kind: 'reject' };
    if (r.type === 'icmpx' && (r.expr === 'admin-prohibited' || r.expr === 'port-unreachable'))
      return { kind: 'reject', with: `icmpx ${r.expr}` };
    throw new NftListingError(`${what}: unknown reject ${JSON.stringify(r)}`);
  }
  for (const kind of ['snat', 'dnat'] as const) {
    const n = e[kind];
    if (!isObj(n)) continue;
    const family: 'ip' | 'ip6' | undefined = n.family === 'ip' || n.family === 'ip6' ? n.family : undefined;
    const fam = family ? { family } : {};
    if (typeof n.addr === 'string')
      return { kind, ...fam, to: { addr: n.addr, ...(typeof n.port === 'number' ? { port: n.port } : {}) } };
    if (isObj(n.addr) && isObj(n.addr.map) && typeof n.addr.map.data === 'string' && n.addr.map.data.startsWith('@')) {
      return { kind, ...fam, to: { key: selectors(n.addr.map.key, what), map: n.addr.map.data.slice(1) } };
    }
    throw new NftListingError(`${what}: unknown ${kind} ${JSON.stringify(n)}`);
  }
  if (isObj(e.vmap) && isObj(e.vmap.key) && isObj(e.vmap.key.numgen)) {
    const n = e.vmap.key.numgen;
    const data = e.vmap.data;
    if (
      n.mode !== 'random' ||
      typeof n.mod !== 'number' ||
      (n.offset ?? 0) !== 0 ||
      !isObj(data) ||
      !Array.isArray(data.set)
    )
      throw new NftListingError(`${what}: unknown numgen ${JSON.stringify(e.vmap)}`);
    return { kind: 'numgen', mod: n.mod, map: data.set.map((raw) => elementOf(raw, true, true, what)) };
  }
  if (isObj(e.set) && e.set.op === 'update' && typeof e.set.set === 'string' && e.set.set.startsWith('@'))
    return { kind: 'update', set: e.set.set.slice(1), key: selectors(e.set.elem, what) };
  if (isObj(e.vmap)) {
    const key = selectors(e.vmap.key, what);
    const data = e.vmap.data;
    if (typeof data === 'string' && data.startsWith('@')) return { kind: 'vmap', key, map: { set: data.slice(1) } };
    if (isObj(data) && Array.isArray(data.set))
      return { kind: 'vmap', key, map: { anon: data.set.map((raw) => elementOf(raw, true, true, what)) } };
    throw new NftListingError(`${what}: unknown vmap ${JSON.stringify(e.vmap)}`);
  }
  if (isObj(e.mangle) && isObj(e.mangle.key) && isObj(e.mangle.key.meta)) {
    const key = e.mangle.key.meta.key;
    const value = e.mangle.value;
    if (key === 'nftrace' && value === 1) return { kind: 'nftrace' };
    if (key === 'mark' && typeof value === 'number') return { kind: 'mark', value };
    if (key === 'mark' && isObj(value) && Array.isArray(value['|']) && typeof value['|'][1] === 'number')
      return { kind: 'mark', value: value['|'][1], or: true };
    if (key === 'mark' && isObj(value) && Array.isArray(value['^']) && typeof value['^'][1] === 'number')
      return { kind: 'mark', value: value['^'][1], xor: true };
  }
  throw new NftListingError(`${what}: unknown expression ${JSON.stringify(e)}`);
}

/**
 * The table `family name` from the "nftables" array of a listing (objects of other tables are
 * ignored). Returns undefined when the listing has no such table.
 */
export function parseTable(objects: readonly Json[], family: NftFamily, name: string): ListedTable | undefined {
  let found = false;
  let tableComment: string | undefined;
  const chains: ListedChain[] = [];
  const sets: ListedSet[] = [];
  const unreadable: ListedTable['unreadable'] = [];
  const ruleObjs: Obj[] = [];
  const mine = (b: Obj, key: 'name' | 'table') => b.family === family && b[key] === name;
  for (const o of objects) {
    if (!isObj(o)) continue;
    if (isObj(o.table) && mine(o.table, 'name')) {
      found = true;
      if (typeof o.table.comment === 'string') tableComment = o.table.comment;
    }
    for (const kind of ['set', 'map'] as const) {
      const body = o[kind];
      if (!isObj(body) || !mine(body, 'table')) continue;
      try {
        sets.push(parseSet(body, kind === 'map'));
      } catch (err) {
        throw new NftListingError(
          `read nft ${kind} ${family} ${name} ${String(body.name)}: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    if (isObj(o.chain) && mine(o.chain, 'table')) {
      const c = o.chain;
      const base =
        typeof c.type === 'string' && typeof c.hook === 'string' && typeof c.prio === 'number'
          ? {
              type: c.type,
              hook: c.hook,
              priority: c.prio,
              ...(c.policy === 'accept' || c.policy === 'drop' ? { policy: c.policy } : {}),
            }
          : undefined;
      chains.push({
        name: String(c.name),
        handle: typeof c.handle === 'number' ? c.handle : 0,
        ...(base ? { base: base as ListedChain['base'] } : {}),
        ...(typeof c.comment === 'string' ? { comment: c.comment } : {}),
        rules: [],
      });
    } else if (isObj(o.rule) && mine(o.rule, 'table')) ruleObjs.push(o.rule);
  }
  if (!found) return undefined;
  for (const r of ruleObjs) {
    const chain = chains.find((c) => c.name === r.chain);
    const handle = typeof r.handle === 'number' ? r.handle : 0;
    if (!chain)
      throw new NftListingError(`read nft table ${family} ${name}: rule ${handle} of unknown chain ${String(r.chain)}`);
    try {
      const exprs = (Array.isArray(r.expr) ? r.expr : []).map((e) => expr(e, `chain ${chain.name} rule ${handle}`));
      chain.rules.push({ handle, exprs, ...(typeof r.comment === 'string' ? { comment: r.comment } : {}) });
    } catch (err) {
      if (!(err instanceof NftListingError)) throw err;
      unreadable.push({ chain: chain.name, handle, reason: err.message });
    }
  }
  return { family, name, ...(tableComment !== undefined ? { comment: tableComment } : {}), chains, sets, unreadable };
}

/** The elements of one set of a parsed table ([] when the set is missing). */
export function elementsOf(table: ListedTable | undefined, set: string): readonly Element[] {
  return table?.sets.find((s) => s.name === set)?.elements ?? [];
}
