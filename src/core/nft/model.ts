/**
 * The typed nftables model: tables, chains, sets and maps, elements and rules as plain data.
 *
 * Why: rule text built by string concatenation cannot be diffed, checked or traced. Everything
 * weft puts into nftables is described here once, rendered by ./render.ts (the only place that
 * writes nft syntax), read back by ./listing.ts (the only JSON listing parser), checked by the
 * fake (src/testkit/nft-fake.ts) and followed by the packet tracer (./trace.ts).
 *
 * Conventions, kept close to nft's own grammar (nft(8), libnftables-json(5)):
 * - A set's key is a concatenation of data types (`ipv4_addr . inet_proto . inet_service`); a
 *   map also has a value type, or `verdict` for a verdict map.
 * - An element is a tuple with one part per key type. A part is an atom (an address, a number, a
 *   symbol such as "tcp"), or, in interval sets, a prefix or a range given as data.
 * - A rule is an ordered list of expressions, as nft evaluates them: matches (the rule stops at
 *   the first that fails) and statements (counter, verdicts, NAT, mark, ...).
 * - Addresses are text in canonical form (src/core/net/ip.ts); ports, protocol numbers and marks
 *   are numbers; everything else (protocol names, ct states, interface names) is a string.
 */

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'bridge' | 'netdev' | 'arp';

/** The data types weft uses in set keys and map values. */
export type DataType =
  | 'ipv4_addr'
  | 'ipv6_addr'
  | 'inet_proto'
  | 'inet_service'
  | 'ifname'
  | 'ether_addr'
  | 'mark'
  | 'nf_proto'
  | 'ct_state';

export type SetFlag = 'interval' | 'timeout' | 'constant' | 'dynamic';

/** One value: an address or symbol as text, or a number (ports, protocol numbers, marks). */
export type Atom = string | number;

/** One part of an element key or of a match's right side. */
export type Part = Atom | { prefix: { addr: string; len: number } } | { range: readonly [Atom, Atom] };

export type VerdictCode = 'accept' | 'drop' | 'return' | 'continue';
export type Verdict = { verdict: VerdictCode } | { verdict: 'jump' | 'goto'; chain: string };

/** A set or map element. `value` is set for maps: a tuple for data maps, a verdict for vmaps. */
export interface Element {
  key: readonly Part[];
  value?: readonly Atom[] | Verdict;
  comment?: string;
  /** Seconds; only in sets with the timeout flag. */
  timeout?: number;
}

/** What a match or lookup reads from the packet (nft's own spelling). */
export type Selector =
  | 'ip saddr'
  | 'ip daddr'
  | 'ip protocol'
  /** The IPv4 header's identification field (`weft trace` marks its probe packet with it). */
  | 'ip id'
  | 'ip6 saddr'
  | 'ip6 daddr'
  | 'ip6 nexthdr'
  | 'meta l4proto'
  | 'meta nfproto'
  | 'meta mark'
  | 'meta iifname'
  | 'meta oifname'
  | 'iifname'
  | 'oifname'
  | 'th sport'
  | 'th dport'
  | 'tcp sport'
  | 'tcp dport'
  | 'udp sport'
  | 'udp dport'
  | 'ct state'
  | 'ct status'
  | 'ct mark'
  | 'ether saddr'
  | 'ether daddr'
  | 'ether type'
  | 'arp saddr ip'
  | 'arp saddr ether'
  | 'meta ibrname'
  | 'meta obrname'
  | 'fib daddr type'
  | 'fib saddr type';

/** The right side of a match. */
export type Operand =
  | Part
  /** An anonymous set: `{ tcp, udp }`. */
  | { anon: readonly (readonly Part[])[] }
  /** A named set: `@name`. */
  | { set: string }
  /** A bitmask of flags: `established,related`. */
  | { flags: readonly string[] };

/** `left op right`: with a concatenated left side (several selectors) the right is a set or anon set. */
export interface Match {
  kind: 'match';
  left: readonly Selector[];
  op: '==' | '!=';
  right: Operand;
  /** `left & mask op right` (one numeric selector, e.g. `meta mark & 0x4000 == 0`). */
  mask?: number;
}

export interface VerdictStmt {
  kind: 'verdict';
  verdict: Verdict;
}

/** `ip saddr . th dport vmap @name` or `... vmap { key : verdict, ... }`. */
export interface VmapStmt {
  kind: 'vmap';
  key: readonly Selector[];
  map: { set: string } | { anon: readonly Element[] };
}

export interface CounterStmt {
  kind: 'counter';
}

export interface RejectStmt {
  kind: 'reject';
  /** Default: nft's own (ICMP port unreachable, or TCP reset for tcp via `with tcp reset`). */
  with?: 'tcp reset' | 'icmpx admin-prohibited' | 'icmpx port-unreachable';
}

export interface MasqueradeStmt {
  kind: 'masquerade';
  fullyRandom?: boolean;
}

/**
 * snat/dnat. Either a fixed target (`dnat ip to 10.0.0.1:80`) or a map lookup whose value is
 * `address` or `address . port` (`dnat ip to ip daddr . th dport map @m`). In an inet table
 * `family` is required by nft.
 */
export interface NatStmt {
  kind: 'snat' | 'dnat';
  family?: 'ip' | 'ip6';
  to: { addr: string; port?: number } | { key: readonly Selector[]; map: string };
}

export interface MarkStmt {
  kind: 'mark';
  /** `meta mark set value` (`or`/`xor`: `meta mark set meta mark or|xor value`). */
  value: number;
  or?: boolean;
  xor?: boolean;
}

/**
 * `numgen random mod N vmap { 0 : goto a, 1 : goto b, ... }`: one of N verdicts at random with
 * equal weight (kube-proxy's nftables mode picks an endpoint this way). `map[i].key` is `[i]`.
 */
export interface NumgenStmt {
  kind: 'numgen';
  mod: number;
  map: readonly Element[];
}

/** `update @set { key }`: adds the packet's key to a dynamic set (or refreshes its timeout). */
export interface UpdateSetStmt {
  kind: 'update';
  set: string;
  key: readonly Selector[];
}

export interface NftraceStmt {
  kind: 'nftrace';
}

/**
 * `log group G prefix "P"`: a copy of the packet's headers goes to NFLOG group G (nfnetlink_log,
 * one set of groups per network namespace), where a reader (the agent's, src/adapters/nflog.ts)
 * gets it with the prefix.
 * nft refuses prefixes of more than 127 characters (the kernel's NF_LOG_PREFIXLEN is 128).
 */
export interface LogStmt {
  kind: 'log';
  group: number;
  prefix: string;
}

/**
 * `limit rate N/UNIT burst B packets`: holds for at most N packets per UNIT, with B more at once
 * (a token bucket, per rule); a packet over the limit fails it like a failed match.
 */
export interface LimitStmt {
  kind: 'limit';
  rate: number;
  per: 'second' | 'minute';
  burst: number;
}

export type Statement =
  | VerdictStmt
  | VmapStmt
  | CounterStmt
  | RejectStmt
  | MasqueradeStmt
  | NatStmt
  | MarkStmt
  | NumgenStmt
  | UpdateSetStmt
  | NftraceStmt
  | LogStmt
  | LimitStmt;
export type Expr = Match | Statement;

/** A rule's content: what it matches and does, and its comment. */
export interface RuleBody {
  exprs: readonly Expr[];
  comment?: string;
}

export type ChainType = 'filter' | 'nat' | 'route';
export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress';

/** What makes a chain a base chain. Take these from the layout registry (./layout.ts). */
export interface BaseChain {
  type: ChainType;
  hook: Hook;
  priority: number;
  policy?: 'accept' | 'drop';
}

// ---- transaction objects -------------------------------------------------------------------

export interface TableObj {
  kind: 'table';
  family: NftFamily;
  name: string;
  comment?: string;
}

export interface ChainObj {
  kind: 'chain';
  family: NftFamily;
  table: string;
  name: string;
  base?: BaseChain;
  comment?: string;
}

/** A set (no `value`) or a map (`value` given: a data tuple type or 'verdict'). */
export interface SetObj {
  kind: 'set';
  family: NftFamily;
  table: string;
  name: string;
  key: readonly DataType[];
  value?: readonly DataType[] | 'verdict';
  flags?: readonly SetFlag[];
  /** Default element timeout in seconds (timeout flag). */
  timeout?: number;
  comment?: string;
}

export interface RuleObj extends RuleBody {
  kind: 'rule';
  family: NftFamily;
  table: string;
  chain: string;
  /** The kernel's handle: needed by replace and delete, optional for insert (position). */
  handle?: number;
}

export interface ElementObj {
  kind: 'element';
  family: NftFamily;
  table: string;
  set: string;
  elements: readonly Element[];
}

export type NftObj = TableObj | ChainObj | SetObj | RuleObj | ElementObj;

/**
 * The nft verbs, with nft's meaning: `add` creates or leaves an existing object alone (elements:
 * an existing key is fine), `create` fails if it exists, `insert` puts a rule first (or before
 * `handle`), `replace` swaps the rule at `handle`, `delete` fails if it is missing, `flush`
 * empties a table, chain or set.
 */
export type Op =
  | { verb: 'add' | 'create'; object: NftObj }
  | { verb: 'insert' | 'replace'; object: RuleObj }
  | { verb: 'delete'; object: NftObj }
  | { verb: 'flush'; object: TableObj | ChainObj | SetObj };

export type Verb = Op['verb'];

// ---- a whole table as desired state -----------------------------------------------------------

export interface ChainDef {
  name: string;
  base?: BaseChain;
  comment?: string;
  rules: readonly RuleBody[];
}

export interface SetDef {
  name: string;
  key: readonly DataType[];
  value?: readonly DataType[] | 'verdict';
  flags?: readonly SetFlag[];
  timeout?: number;
  comment?: string;
  elements: readonly Element[];
}

/** A table as one value: what the sync engine (./sync.ts), the fake's listing and the tracer use. */
export interface TableDef {
  family: NftFamily;
  name: string;
  comment?: string;
  chains: readonly ChainDef[];
  sets: readonly SetDef[];
}

// ---- small constructors, so rule data reads almost like nft ---------------------------------

/** `left == right` (or `!=`); `left` may be one selector or a concatenation. */
export function match(left: Selector | readonly Selector[], right: Operand, op: '==' | '!=' = '=='): Match {
  return { kind: 'match', left: typeof left === 'string' ? [left] : left, op, right };
}

/** `left @set` (or `!= @set`). */
export function inSet(left: Selector | readonly Selector[], set: string, op: '==' | '!=' = '=='): Match {
  return match(left, { set }, op);
}

export function prefix(addr: string, len: number): Part {
  return { prefix: { addr, len } };
}

export function range(from: Atom, to: Atom): Part {
  return { range: [from, to] };
}

export const accept: VerdictStmt = { kind: 'verdict', verdict: { verdict: 'accept' } };
export const drop: VerdictStmt = { kind: 'verdict', verdict: { verdict: 'drop' } };
export const ret: VerdictStmt = { kind: 'verdict', verdict: { verdict: 'return' } };
export const counter: CounterStmt = { kind: 'counter' };

export function jump(chain: string): VerdictStmt {
  return { kind: 'verdict', verdict: { verdict: 'jump', chain } };
}

export function goto(chain: string): VerdictStmt {
  return { kind: 'verdict', verdict: { verdict: 'goto', chain } };
}

export function vmap(key: Selector | readonly Selector[], set: string): VmapStmt {
  return { kind: 'vmap', key: typeof key === 'string' ? [key] : key, map: { set } };
}

/** The longest log prefix nft accepts. */
export const LOG_PREFIX_MAX = 127;

export function log(group: number, prefix: string): LogStmt {
  return { kind: 'log', group, prefix };
}

export function limit(rate: number, per: LimitStmt['per'], burst: number): LimitStmt {
  return { kind: 'limit', rate, per, burst };
}

export function rule(exprs: readonly Expr[], comment?: string): RuleBody {
  return comment === undefined ? { exprs } : { exprs, comment };
}

/** The set or map of a TableDef as a transaction object. */
export function setObj(t: Pick<TableDef, 'family' | 'name'>, s: SetDef): SetObj {
  return {
    kind: 'set',
    family: t.family,
    table: t.name,
    name: s.name,
    key: s.key,
    ...(s.value !== undefined ? { value: s.value } : {}),
    ...(s.flags && s.flags.length > 0 ? { flags: s.flags } : {}),
    ...(s.timeout !== undefined ? { timeout: s.timeout } : {}),
    ...(s.comment !== undefined ? { comment: s.comment } : {}),
  };
}

export function chainObj(
  t: Pick<TableDef, 'family' | 'name'>,
  c: Pick<ChainDef, 'name' | 'base' | 'comment'>,
): ChainObj {
  return {
    kind: 'chain',
    family: t.family,
    table: t.name,
    name: c.name,
    ...(c.base ? { base: c.base } : {}),
    ...(c.comment !== undefined ? { comment: c.comment } : {}),
  };
}

export function tableObj(t: Pick<TableDef, 'family' | 'name' | 'comment'>): TableObj {
  return { kind: 'table', family: t.family, name: t.name, ...(t.comment !== undefined ? { comment: t.comment } : {}) };
}

/** A canonical string of an element's key: equal keys, equal strings (for diffs and indexes). */
export function keyId(key: readonly Part[]): string {
  return key.map(partText).join(' . ');
}

/** nft's text of one part, without quoting (see ./render.ts for the quoted form). */
export function partText(p: Part): string {
  if (typeof p === 'number' || typeof p === 'string') return String(p);
  if ('prefix' in p) return `${p.prefix.addr}/${p.prefix.len}`;
  return `${String(p.range[0])}-${String(p.range[1])}`;
}
