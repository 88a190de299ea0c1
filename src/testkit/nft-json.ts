/**
 * The model (src/core/nft/model.ts) written as nft's JSON listing (libnftables-json(5)), in the
 * shapes nft 1.0.6 prints: what the fake (./nft-fake.ts) returns from listTable, so its listings
 * go through the same parser (src/core/nft/listing.ts) as the kernel's.
 *
 * Only canonical forms are produced (the kernel folds some spellings, e.g. `meta l4proto tcp th
 * dport 80` into `tcp dport 80`; the fake keeps rules as written, so contract cases use the
 * kernel's own spelling).
 */

import type { Element, Expr, Operand, Part, Selector, Verdict } from '../core/nft/model.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function partJson(p: Part): Json {
  if (typeof p === 'number' || typeof p === 'string') return p;
  if ('prefix' in p) return { prefix: { addr: p.prefix.addr, len: p.prefix.len } };
  return { range: [p.range[0], p.range[1]] };
}

export function tupleJson(parts: readonly Part[]): Json {
  return parts.length === 1 ? partJson(parts[0]!) : { concat: parts.map(partJson) };
}

export function verdictJson(v: Verdict): Json {
  return v.verdict === 'jump' || v.verdict === 'goto' ? { [v.verdict]: { target: v.chain } } : { [v.verdict]: null };
}

/** One set element as nft lists it (map elements as [key, value]). */
export function elementJson(e: Element, isMap: boolean): Json {
  let key: Json = tupleJson(e.key);
  if (e.comment !== undefined || e.timeout !== undefined) {
    key = {
      elem: {
        val: key,
        ...(e.timeout !== undefined ? { timeout: e.timeout, expires: e.timeout } : {}),
        ...(e.comment !== undefined ? { comment: e.comment } : {}),
      },
    };
  }
  if (!isMap) return key;
  const v = e.value;
  const value: Json = v === undefined ? null : Array.isArray(v) ? tupleJson(v) : verdictJson(v as Verdict);
  return [key, value];
}

function selectorJson(s: Selector): Json {
  const [a, b, c] = s.split(' ') as [string, string | undefined, string | undefined];
  if (s === 'iifname' || s === 'oifname') return { meta: { key: s } };
  if (a === 'meta') return { meta: { key: b! } };
  if (a === 'ct') return { ct: { key: b! } };
  if (a === 'fib' && c === 'type') return { fib: { result: 'type', flags: [b!] } };
  return { payload: { protocol: a, field: b! } };
}

export function selectorsJson(left: readonly Selector[]): Json {
  return left.length === 1 ? selectorJson(left[0]!) : { concat: left.map(selectorJson) };
}

function operandJson(o: Operand): Json {
  if (typeof o === 'object' && 'anon' in o) return { set: o.anon.map(tupleJson) };
  if (typeof o === 'object' && 'set' in o) return `@${o.set}`;
  if (typeof o === 'object' && 'flags' in o) return o.flags.length === 1 ? o.flags[0]! : [...o.flags];
  return partJson(o);
}

export function exprJson(e: Expr): Json {
  switch (e.kind) {
    case 'match': {
      const isFlags = typeof e.right === 'object' && 'flags' in e.right;
      const op = e.op === '!=' ? '!=' : isFlags ? 'in' : '==';
      const left = selectorsJson(e.left);
      return {
        match: { op, left: e.mask === undefined ? left : { '&': [left, e.mask] }, right: operandJson(e.right) },
      };
    }
    case 'verdict':
      return verdictJson(e.verdict);
    case 'vmap':
      return {
        vmap: {
          key: selectorsJson(e.key),
          data: 'set' in e.map ? `@${e.map.set}` : { set: e.map.anon.map((x) => elementJson(x, true)) },
        },
      };
    case 'counter':
      return { counter: { packets: 0, bytes: 0 } };
    case 'reject':
      if (!e.with) return { reject: null };
      if (e.with === 'tcp reset') return { reject: { type: 'tcp reset' } };
      return { reject: { type: 'icmpx', expr: e.with.slice('icmpx '.length) } };
    case 'masquerade':
      return { masquerade: e.fullyRandom ? { flags: 'fully-random' } : null };
    case 'snat':
    case 'dnat': {
      const body: { [k: string]: Json } = {};
      if (e.family) body.family = e.family;
      if ('map' in e.to) body.addr = { map: { key: selectorsJson(e.to.key), data: `@${e.to.map}` } };
      else {
        body.addr = e.to.addr;
        if (e.to.port !== undefined) body.port = e.to.port;
      }
      return { [e.kind]: body };
    }
    case 'mark':
      return {
        mangle: {
          key: { meta: { key: 'mark' } },
          value: e.or
            ? { '|': [{ meta: { key: 'mark' } }, e.value] }
            : e.xor
              ? { '^': [{ meta: { key: 'mark' } }, e.value] }
              : e.value,
        },
      };
    case 'numgen':
      return {
        vmap: {
          key: { numgen: { mode: 'random', mod: e.mod, offset: 0 } },
          data: { set: e.map.map((x) => elementJson(x, true)) },
        },
      };
    case 'update':
      return { set: { op: 'update', elem: selectorsJson(e.key), set: `@${e.set}` } };
    case 'nftrace':
      return { mangle: { key: { meta: { key: 'nftrace' } }, value: 1 } };
    case 'log':
      return { log: { prefix: e.prefix, group: e.group } };
    case 'limit':
      return { limit: { rate: e.rate, burst: e.burst, per: e.per } };
  }
}
