/**
 * The one renderer from the typed model (./model.ts) to the text `nft -f -` reads.
 *
 * Every piece of nft syntax weft writes is produced here. Quoting: addresses and numbers are
 * written bare; every other string (protocol and service names, ct states, interface names) is
 * double-quoted, which nft accepts for any symbolic constant and requires for interface names.
 * Priorities are written as numbers: nft 1.0.x accepts the names (dstnat, srcnat) only on some
 * hooks, the numbers everywhere (./layout.ts keeps the names for people).
 */

import { tryParseIp } from '../net/ip.js';
import { LOG_PREFIX_MAX } from './model.js';
import type { Atom, Element, Expr, NftObj, Op, Operand, Part, Selector, SetObj, Verdict } from './model.js';

export class NftRenderError extends Error {
  override readonly name = 'NftRenderError';
}

/** Text that can be embedded in double quotes in an nft script. */
export function quote(text: string): string {
  if (/["\n\\]/.test(text)) throw new NftRenderError(`nft: string ${JSON.stringify(text)} cannot be quoted`);
  return `"${text}"`;
}

/**
 * A table, chain or set name as nft's scanner reads an identifier. nft 1.0.x accepts no quoted
 * names, and a name that is also a keyword of its grammar ("fwd", "counter", ...) is a syntax
 * error there; the contract suite and the kernel tests catch those for the names weft uses.
 */
export function ident(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_./-]*$/.test(name))
    throw new NftRenderError(`nft: ${JSON.stringify(name)} is not a valid table, chain or set name`);
  return name;
}

export function renderAtom(a: Atom): string {
  if (typeof a === 'number') {
    if (!Number.isInteger(a) || a < 0) throw new NftRenderError(`nft: ${a} is not a valid number`);
    return String(a);
  }
  return tryParseIp(a) ? a : quote(a);
}

export function renderPart(p: Part): string {
  if (typeof p === 'number' || typeof p === 'string') return renderAtom(p);
  if ('prefix' in p) return `${p.prefix.addr}/${p.prefix.len}`;
  return `${renderAtom(p.range[0])}-${renderAtom(p.range[1])}`;
}

export function renderTuple(parts: readonly Part[]): string {
  if (parts.length === 0) throw new NftRenderError('nft: an element or value needs at least one part');
  return parts.map(renderPart).join(' . ');
}

export function renderVerdict(v: Verdict): string {
  return v.verdict === 'jump' || v.verdict === 'goto' ? `${v.verdict} ${ident(v.chain)}` : v.verdict;
}

function commentPart(comment: string | undefined): string {
  return comment !== undefined && comment !== '' ? ` comment ${quote(comment)}` : '';
}

/** One element: `key [timeout Ns] [comment "c"] [: value]` (nft's only accepted order). */
export function renderElement(e: Element, withValue = true): string {
  let out = renderTuple(e.key);
  if (!withValue) return out;
  if (e.timeout !== undefined) out += ` timeout ${e.timeout}s`;
  out += commentPart(e.comment);
  if (e.value !== undefined)
    out += ` : ${Array.isArray(e.value) ? renderTuple(e.value) : renderVerdict(e.value as Verdict)}`;
  return out;
}

function renderSelectors(s: readonly Selector[]): string {
  if (s.length === 0) throw new NftRenderError('nft: a match needs a left side');
  return s.join(' . ');
}

function renderOperand(o: Operand): string {
  if (typeof o === 'object' && 'anon' in o) return `{ ${o.anon.map(renderTuple).join(', ')} }`;
  if (typeof o === 'object' && 'set' in o) return `@${ident(o.set)}`;
  if (typeof o === 'object' && 'flags' in o) {
    if (o.flags.length === 0) throw new NftRenderError('nft: a flag match needs at least one flag');
    return o.flags.join(',');
  }
  return renderPart(o);
}

function renderNatTarget(family: 'ip' | 'ip6' | undefined, addr: string, port?: number): string {
  if (port === undefined) return addr;
  return family === 'ip6' || addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

export function renderExpr(e: Expr): string {
  switch (e.kind) {
    case 'match': {
      const mask = e.mask === undefined ? '' : ` & 0x${e.mask.toString(16)}`;
      // With a mask nft needs the operator spelled out (`meta mark & 0x4000 == 0`).
      const op = e.op === '!=' ? '!= ' : e.mask !== undefined ? '== ' : '';
      return `${renderSelectors(e.left)}${mask} ${op}${renderOperand(e.right)}`;
    }
    case 'verdict':
      return renderVerdict(e.verdict);
    case 'vmap':
      return 'set' in e.map
        ? `${renderSelectors(e.key)} vmap @${ident(e.map.set)}`
        : `${renderSelectors(e.key)} vmap { ${e.map.anon.map((el) => renderElement(el)).join(', ')} }`;
    case 'counter':
      return 'counter';
    case 'reject':
      return e.with ? `reject with ${e.with}` : 'reject';
    case 'masquerade':
      return e.fullyRandom ? 'masquerade fully-random' : 'masquerade';
    case 'snat':
    case 'dnat': {
      const fam = e.family ? ` ${e.family}` : '';
      if ('map' in e.to) return `${e.kind}${fam} to ${renderSelectors(e.to.key)} map @${ident(e.to.map)}`;
      return `${e.kind}${fam} to ${renderNatTarget(e.family, e.to.addr, e.to.port)}`;
    }
    case 'mark':
      if (e.or || e.xor) return `meta mark set meta mark ${e.or ? 'or' : 'xor'} 0x${e.value.toString(16)}`;
      return `meta mark set 0x${e.value.toString(16)}`;
    case 'numgen':
      if (!Number.isInteger(e.mod) || e.mod < 1)
        throw new NftRenderError(`nft: numgen mod ${e.mod} must be at least 1`);
      return `numgen random mod ${e.mod} vmap { ${e.map.map((el) => renderElement(el)).join(', ')} }`;
    case 'update':
      return `update @${ident(e.set)} { ${renderSelectors(e.key)} }`;
    case 'nftrace':
      return 'meta nftrace set 1';
    case 'log':
      if (!Number.isInteger(e.group) || e.group < 0 || e.group > 65535)
        throw new NftRenderError(`nft: log group ${e.group} must be 0-65535`);
      if (e.prefix.length > LOG_PREFIX_MAX)
        throw new NftRenderError(`nft: log prefix ${JSON.stringify(e.prefix)} is longer than ${LOG_PREFIX_MAX}`);
      return `log group ${e.group} prefix ${quote(e.prefix)}`;
    case 'limit':
      // nft refuses a packet limit's burst of 0.
      if (!Number.isInteger(e.rate) || e.rate < 1 || !Number.isInteger(e.burst) || e.burst < 1)
        throw new NftRenderError(`nft: limit rate ${e.rate} burst ${e.burst} must be whole numbers of at least 1`);
      return `limit rate ${e.rate}/${e.per} burst ${e.burst} packets`;
  }
}

export function renderRuleBody(exprs: readonly Expr[], comment?: string): string {
  if (exprs.length === 0) throw new NftRenderError('nft: a rule needs at least one expression');
  return exprs.map(renderExpr).join(' ') + commentPart(comment);
}

function setKind(s: SetObj): 'set' | 'map' {
  return s.value === undefined ? 'set' : 'map';
}

function setSpec(s: SetObj): string {
  if (s.key.length === 0) throw new NftRenderError(`nft: set ${s.name} needs a key type`);
  const parts = [
    `type ${s.key.join(' . ')}${s.value === undefined ? '' : ` : ${s.value === 'verdict' ? 'verdict' : s.value.join(' . ')}`};`,
  ];
  if (s.flags && s.flags.length > 0) parts.push(`flags ${s.flags.join(',')};`);
  if (s.timeout !== undefined) parts.push(`timeout ${s.timeout}s;`);
  if (s.comment !== undefined && s.comment !== '') parts.push(`comment ${quote(s.comment)};`);
  return `{ ${parts.join(' ')} }`;
}

function where(o: NftObj): string {
  switch (o.kind) {
    case 'table':
      return `table ${o.family} ${ident(o.name)}`;
    case 'chain':
      return `chain ${o.family} ${ident(o.table)} ${ident(o.name)}`;
    case 'set':
      return `${setKind(o)} ${o.family} ${ident(o.table)} ${ident(o.name)}`;
    case 'rule':
      return `rule ${o.family} ${ident(o.table)} ${ident(o.chain)}`;
    case 'element':
      return `element ${o.family} ${ident(o.table)} ${ident(o.set)}`;
  }
}

function elements(list: readonly Element[], withValue: boolean): string {
  if (list.length === 0) throw new NftRenderError('nft: an element operation needs at least one element');
  return `{ ${list.map((e) => renderElement(e, withValue)).join(', ')} }`;
}

function handleOf(verb: string, o: { handle?: number; table: string; chain: string }): number {
  if (o.handle === undefined) throw new NftRenderError(`nft: ${verb} rule in ${o.table} ${o.chain} needs a handle`);
  return o.handle;
}

/** One operation as one line of nft script. */
export function renderOp(op: Op): string {
  const o = op.object;
  const head = `${op.verb} ${where(o)}`;
  switch (op.verb) {
    case 'add':
    case 'create':
      switch (o.kind) {
        case 'table':
          return o.comment ? `${head} { comment ${quote(o.comment)}; }` : head;
        case 'chain': {
          const parts: string[] = [];
          if (o.base) {
            parts.push(`type ${o.base.type} hook ${o.base.hook} priority ${o.base.priority};`);
            if (o.base.policy) parts.push(`policy ${o.base.policy};`);
          }
          if (o.comment) parts.push(`comment ${quote(o.comment)};`);
          return parts.length > 0 ? `${head} { ${parts.join(' ')} }` : head;
        }
        case 'set':
          return `${head} ${setSpec(o)}`;
        case 'rule':
          return `${head} ${renderRuleBody(o.exprs, o.comment)}`;
        case 'element':
          return `${head} ${elements(o.elements, true)}`;
      }
      throw new NftRenderError(`nft: cannot ${op.verb} this object`);
    case 'insert': {
      const pos = op.object.handle !== undefined ? ` position ${op.object.handle}` : '';
      return `${head}${pos} ${renderRuleBody(op.object.exprs, op.object.comment)}`;
    }
    case 'replace':
      return `${head} handle ${handleOf('replace', op.object)} ${renderRuleBody(op.object.exprs, op.object.comment)}`;
    case 'delete':
      if (o.kind === 'rule') return `${head} handle ${handleOf('delete', o)}`;
      if (o.kind === 'element') return `${head} ${elements(o.elements, false)}`;
      return head;
    case 'flush':
      return head;
  }
}

export function renderOps(ops: readonly Op[]): string {
  return ops.map(renderOp).join('\n') + '\n';
}
