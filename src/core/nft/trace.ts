/**
 * The packet tracer: follows one packet through the model's tables (TableDef, as planned, as the
 * fake holds them, or as parsed from the kernel's listing) at one hook, and says what netfilter
 * would do and which rules it passed. Used to predict `weft trace` and to prove that the
 * NetworkPolicy tables agree with `weft reach`.
 *
 * Netfilter's rules, as followed here (nft(8), "VERDICT STATEMENT"; the netfilter hooks):
 * - every base chain of the hook runs, lowest priority first, across all tables of the packet's
 *   family (inet tables see both IPv4 and IPv6); `accept` ends only the current base chain, the
 *   packet goes on to the next one; `drop` and `reject` end the packet's journey;
 * - a chain that ends without a verdict gives its base chain's policy; `return` leaves the
 *   current chain (in a base chain: the policy);
 * - `jump` runs the target and comes back to the next rule; `goto` runs it and does not come back;
 * - a rule stops at its first match that fails; a selector that does not apply to the packet
 *   (`ip saddr` on IPv6, `th dport` on ICMP) fails whatever the operator, as nft's implicit
 *   protocol dependencies make it;
 * - a map lookup that misses ends the rule (vmap, dnat/snat ... map);
 * - snat, dnat and masquerade end their base chain like accept; dnat rewrites the destination
 *   that later chains see.
 */

import { tryParseIp } from '../net/ip.js';
import type {
  Atom,
  Element,
  Expr,
  Hook,
  Match,
  NftFamily,
  Operand,
  Part,
  Selector,
  SetDef,
  TableDef,
  Verdict,
} from './model.js';
import { partContains, PROTOCOLS, typeOfSelector, type CtState } from './values.js';

export interface TracePacket {
  family: 4 | 6;
  saddr: string;
  daddr: string;
  /** A protocol name nft knows ("tcp", "udp", "icmp", ...) or its number. */
  protocol: string | number;
  sport?: number;
  dport?: number;
  iifname?: string;
  oifname?: string;
  /** Conntrack state; default "new". */
  ctState?: CtState;
  /** Conntrack status flags that are set, e.g. ["dnat"]. */
  ctStatus?: readonly string[];
  mark?: number;
  /** The node's own addresses, for `fib daddr type local`. */
  localAddresses?: readonly string[];
  /** What `numgen random mod N` yields for this packet (taken mod N; default 0). */
  numgen?: number;
  /** The IPv4 header's identification field. */
  ipId?: number;
}

export interface TraceStep {
  table: string;
  family: NftFamily;
  chain: string;
  /** Index of the rule in its chain; -1 for the chain's policy. */
  rule: number;
  comment?: string;
  /** What the rule did: a verdict, a NAT, "jump X"/"goto X", or undefined (counter, mark, ...). */
  action?: string;
}

export interface TraceResult {
  verdict: 'accept' | 'drop' | 'reject';
  /** The step that decided the verdict (undefined: no base chain on this hook: accept). */
  decidedBy?: TraceStep;
  /** Every rule whose matches all held, in order, and the policies that applied. */
  steps: TraceStep[];
  /** The packet as it leaves the hook (after dnat, mark). */
  packet: TracePacket;
  /** NAT the packet got, in order ("dnat to 10.0.0.5:80", "masquerade"). */
  nat: string[];
}

export class TraceError extends Error {
  override readonly name = 'TraceError';
}

const PORT_PROTOCOLS = new Set([6, 17, 132, 136]);
const MAX_DEPTH = 64;

function protocolNumber(p: string | number): number | undefined {
  return typeof p === 'number' ? p : PROTOCOLS[p];
}

/** The packet's value for a selector, or undefined when the selector does not apply to it. */
function fieldOf(p: TracePacket, s: Selector): Atom | undefined {
  const proto = protocolNumber(p.protocol);
  const v4 = p.family === 4;
  switch (s) {
    case 'ip saddr':
      return v4 ? p.saddr : undefined;
    case 'ip daddr':
      return v4 ? p.daddr : undefined;
    case 'ip6 saddr':
      return v4 ? undefined : p.saddr;
    case 'ip6 daddr':
      return v4 ? undefined : p.daddr;
    case 'ip protocol':
      return v4 ? proto : undefined;
    case 'ip id':
      return v4 ? p.ipId : undefined;
    case 'ip6 nexthdr':
      return v4 ? undefined : proto;
    case 'meta l4proto':
      return proto;
    case 'meta nfproto':
      return v4 ? 'ipv4' : 'ipv6';
    case 'th sport':
      return proto !== undefined && PORT_PROTOCOLS.has(proto) ? p.sport : undefined;
    case 'th dport':
      return proto !== undefined && PORT_PROTOCOLS.has(proto) ? p.dport : undefined;
    case 'tcp sport':
      return proto === 6 ? p.sport : undefined;
    case 'tcp dport':
      return proto === 6 ? p.dport : undefined;
    case 'udp sport':
      return proto === 17 ? p.sport : undefined;
    case 'udp dport':
      return proto === 17 ? p.dport : undefined;
    case 'iifname':
    case 'meta iifname':
      return p.iifname ?? '';
    case 'oifname':
    case 'meta oifname':
      return p.oifname ?? '';
    case 'meta mark':
    case 'ct mark':
      return p.mark ?? 0;
    case 'ct state':
      return p.ctState ?? 'new';
    case 'fib daddr type':
    case 'fib saddr type': {
      const addr = s === 'fib daddr type' ? p.daddr : p.saddr;
      const ip = tryParseIp(addr);
      if (
        (p.localAddresses ?? []).some((a) => tryParseIp(a)?.value === ip?.value && tryParseIp(a)?.family === ip?.family)
      )
        return 'local';
      if (ip && ((ip.family === 4 && ip.value >> 28n === 0xen) || (ip.family === 6 && ip.value >> 120n === 0xffn)))
        return 'multicast';
      return 'unicast';
    }
    case 'ct status':
    case 'ether saddr':
    case 'ether daddr':
    case 'ether type':
    case 'arp saddr ip':
    case 'arp saddr ether':
    case 'meta ibrname':
    case 'meta obrname':
      return undefined;
  }
}

function partHolds(part: Part, s: Selector, value: Atom): boolean {
  const t = typeOfSelector(s);
  // Selectors of no set type (fib results, the IP id) compare plainly: a name, or a number.
  if (t === undefined) return (typeof part === 'string' || typeof part === 'number') && part === value;
  return partContains(part, t, value);
}

function tupleHolds(key: readonly Part[], left: readonly Selector[], values: readonly Atom[]): boolean {
  return key.length === left.length && key.every((part, i) => partHolds(part, left[i]!, values[i]!));
}

class Tracer {
  readonly steps: TraceStep[] = [];
  readonly nat: string[] = [];

  constructor(
    readonly packet: TracePacket,
    private readonly table: TableDef,
  ) {}

  private set(name: string): SetDef {
    const s = this.table.sets.find((x) => x.name === name);
    if (!s) throw new TraceError(`trace: table ${this.table.family} ${this.table.name} has no set ${name}`);
    return s;
  }

  private lookup(left: readonly Selector[], setName: string): Element | undefined {
    const values = left.map((s) => fieldOf(this.packet, s));
    if (values.some((v) => v === undefined)) return undefined;
    return this.set(setName).elements.find((e) => tupleHolds(e.key, left, values as Atom[]));
  }

  /** Does the match hold? undefined values (selector not applicable) never hold. */
  private holds(m: Match): boolean {
    if (m.left.length === 1 && m.left[0] === 'ct status') {
      const flags = typeof m.right === 'object' && 'flags' in m.right ? m.right.flags : [];
      const any = flags.some((f) => (this.packet.ctStatus ?? []).includes(f));
      return m.op === '==' ? any : !any;
    }
    const values = m.left.map((s) => fieldOf(this.packet, s));
    if (values.some((v) => v === undefined)) return false;
    if (m.mask !== undefined) {
      // `left & mask op value`: one numeric selector (marks).
      const masked = Number(values[0]) & m.mask;
      const hit = typeof m.right === 'number' && masked === m.right;
      return m.op === '==' ? hit : !hit;
    }
    const vals = values as Atom[];
    const r: Operand = m.right;
    let hit: boolean;
    if (typeof r === 'object' && 'set' in r) hit = this.lookup(m.left, r.set) !== undefined;
    else if (typeof r === 'object' && 'anon' in r) hit = r.anon.some((key) => tupleHolds(key, m.left, vals));
    else if (typeof r === 'object' && 'flags' in r) hit = r.flags.includes(String(vals[0]));
    else hit = tupleHolds([r], m.left, vals);
    return m.op === '==' ? hit : !hit;
  }

  private natTo(kind: 'snat' | 'dnat', addr: string, port: number | undefined): string {
    if (kind === 'dnat') {
      this.packet.daddr = addr;
      if (port !== undefined) this.packet.dport = port;
    } else {
      this.packet.saddr = addr;
      if (port !== undefined) this.packet.sport = port;
    }
    const text = `${kind} to ${port === undefined ? addr : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`}`;
    this.nat.push(text);
    return text;
  }

  /**
   * Runs one chain. Returns a terminal verdict (accept/drop/reject, with the deciding step), or
   * 'return' when the chain ended without one.
   */
  run(chainName: string, depth: number): { verdict: 'accept' | 'drop' | 'reject'; by: TraceStep } | 'return' {
    if (depth > MAX_DEPTH) throw new TraceError(`trace: more than ${MAX_DEPTH} nested jumps at chain ${chainName}`);
    const chain = this.table.chains.find((c) => c.name === chainName);
    if (!chain) throw new TraceError(`trace: table ${this.table.family} ${this.table.name} has no chain ${chainName}`);
    for (let index = 0; index < chain.rules.length; index++) {
      const r = chain.rules[index]!;
      const step: TraceStep = {
        table: this.table.name,
        family: this.table.family,
        chain: chainName,
        rule: index,
        ...(r.comment !== undefined ? { comment: r.comment } : {}),
      };
      const outcome = this.runRule(r.exprs, step, depth);
      if (outcome === 'next') continue;
      return outcome;
    }
    return 'return';
  }

  /** 'next': go on with the next rule; 'return': leave this chain; else a terminal verdict. */
  private runRule(
    exprs: readonly Expr[],
    step: TraceStep,
    depth: number,
  ): 'next' | 'return' | { verdict: 'accept' | 'drop' | 'reject'; by: TraceStep } {
    let recorded = false;
    const record = (action?: string) => {
      if (action !== undefined) step.action = action;
      if (!recorded) this.steps.push(step);
      recorded = true;
    };
    for (const e of exprs) {
      switch (e.kind) {
        case 'match':
          if (!this.holds(e)) return 'next';
          continue;
        case 'counter':
        case 'nftrace':
          record();
          continue;
        case 'mark':
          this.packet.mark = e.or
            ? (this.packet.mark ?? 0) | e.value
            : e.xor
              ? (this.packet.mark ?? 0) ^ e.value
              : e.value;
          record();
          continue;
        case 'update':
          // The dynamic set is kernel state; the trace records the update without keeping it.
          record(`update @${e.set}`);
          continue;
        case 'numgen': {
          const n = (((this.packet.numgen ?? 0) % e.mod) + e.mod) % e.mod;
          const hit = e.map.find((el) => el.key.length === 1 && Number(el.key[0]) === n);
          const verdict = hit && !Array.isArray(hit.value) ? (hit.value as Verdict | undefined) : undefined;
          if (!verdict) return 'next';
          const out = this.verdict(verdict, step, record, depth);
          if (out === 'continue') continue;
          return out;
        }
        case 'reject':
          record('reject');
          return { verdict: 'reject', by: step };
        case 'masquerade':
          this.nat.push('masquerade');
          record('masquerade');
          return { verdict: 'accept', by: step };
        case 'snat':
        case 'dnat': {
          if ('map' in e.to) {
            const hit = this.lookup(e.to.key, e.to.map);
            if (!hit || !Array.isArray(hit.value)) return 'next';
            const [addr, port] = hit.value as readonly Atom[];
            record(this.natTo(e.kind, String(addr), port === undefined ? undefined : Number(port)));
          } else record(this.natTo(e.kind, e.to.addr, e.to.port));
          return { verdict: 'accept', by: step };
        }
        case 'vmap': {
          let verdict: Verdict | undefined;
          if ('set' in e.map) {
            const hit = this.lookup(e.key, e.map.set);
            verdict = hit && !Array.isArray(hit.value) ? (hit.value as Verdict | undefined) : undefined;
          } else {
            const values = e.key.map((s) => fieldOf(this.packet, s));
            const hit = values.some((v) => v === undefined)
              ? undefined
              : e.map.anon.find((el) => tupleHolds(el.key, e.key, values as Atom[]));
            verdict = hit && !Array.isArray(hit.value) ? (hit.value as Verdict | undefined) : undefined;
          }
          if (!verdict) return 'next';
          const out = this.verdict(verdict, step, record, depth);
          if (out === 'continue') continue;
          return out;
        }
        case 'verdict': {
          const out = this.verdict(e.verdict, step, record, depth);
          if (out === 'continue') continue;
          return out;
        }
      }
    }
    record();
    return 'next';
  }

  private verdict(
    v: Verdict,
    step: TraceStep,
    record: (action?: string) => void,
    depth: number,
  ): 'continue' | 'next' | 'return' | { verdict: 'accept' | 'drop' | 'reject'; by: TraceStep } {
    switch (v.verdict) {
      case 'accept':
      case 'drop':
        record(v.verdict);
        return { verdict: v.verdict, by: step };
      case 'continue':
        record('continue');
        return 'continue';
      case 'return':
        record('return');
        return 'return';
      case 'jump':
      case 'goto': {
        record(`${v.verdict} ${v.chain}`);
        const out = this.run(v.chain, depth + 1);
        if (out !== 'return') return out;
        return v.verdict === 'jump' ? 'next' : 'return';
      }
    }
  }
}

function familyApplies(tableFamily: NftFamily, packet: TracePacket): boolean {
  return (
    tableFamily === 'inet' ||
    (tableFamily === 'ip' && packet.family === 4) ||
    (tableFamily === 'ip6' && packet.family === 6)
  );
}

/** Traces `packet` through every base chain of `hook` in `tables`. */
export function tracePacket(tables: readonly TableDef[], hook: Hook, packet: TracePacket): TraceResult {
  const current: TracePacket = { ...packet };
  const bases = tables
    .filter((t) => familyApplies(t.family, current))
    .flatMap((t, order) => t.chains.filter((c) => c.base?.hook === hook).map((c) => ({ t, c, order })))
    .sort((a, b) => a.c.base!.priority - b.c.base!.priority || a.order - b.order);
  const steps: TraceStep[] = [];
  const nat: string[] = [];
  let decidedBy: TraceStep | undefined;
  for (const { t, c } of bases) {
    const tracer = new Tracer(current, t);
    const out = tracer.run(c.name, 0);
    steps.push(...tracer.steps);
    nat.push(...tracer.nat);
    let verdict: 'accept' | 'drop' | 'reject';
    if (out === 'return') {
      const policy = c.base!.policy ?? 'accept';
      decidedBy = { table: t.name, family: t.family, chain: c.name, rule: -1, action: `policy ${policy}` };
      steps.push(decidedBy);
      verdict = policy;
    } else {
      verdict = out.verdict;
      decidedBy = out.by;
    }
    if (verdict !== 'accept') return { verdict, decidedBy, steps, packet: current, nat };
  }
  return { verdict: 'accept', ...(decidedBy ? { decidedBy } : {}), steps, packet: current, nat };
}
