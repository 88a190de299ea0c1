/**
 * The bridge plugin's ipMasq in nftables: one `inet` table (MASQ_TABLE) with a static skeleton and
 * the pods as set elements, instead of the reference's iptables chain per container.
 *
 *   table inet weft-masq
 *     set pods-v4  { type ipv4_addr }                       pod address
 *     set local-v4 { type ipv4_addr . ipv4_addr; interval }  pod address . pod subnet
 *     chain postrouting (nat, srcnat)
 *       ip saddr . ip daddr @local-v4 return    to its own subnet: keep the source
 *       ip daddr 224.0.0.0/4 return             multicast: keep the source (as the reference)
 *       ip saddr @pods-v4 masquerade
 *     (and the same for IPv6, with ff00::/8)
 *
 * Every element carries the attachment tag (attachmentTag(containerID, ifname)) as its comment, so
 * DEL removes exactly that attachment's elements. ADD re-declares the skeleton and rewrites the
 * chain's rules in the same atomic transaction (flush + add), so a damaged or older skeleton is
 * repaired without a moment in which the chain is empty. When DEL would leave every set empty it
 * deletes the table instead: no rule stays behind on a node without pods.
 *
 * Pure: callers list the table (Nft.listTable), pass the objects in, and apply the transaction
 * under the masq lock.
 */

import { MASQ_OBJECTS, MASQ_TABLE } from '../names.js';
import type { IpFamily } from '../net/ip.js';
import { parseTable } from './listing.js';
import { keyId } from './model.js';
import { NftTransaction, type NftChain, type NftElement, type NftSet, type NftTable } from './transaction.js';

export interface MasqTarget {
  family: IpFamily;
  /** The pod address ("10.244.0.5"). */
  address: string;
  /** The pod's subnet in network form ("10.244.0.0/16"). */
  subnet: string;
}

/** One element found in the table: which set, its key as nft text, and its comment. */
export interface MasqElement {
  set: string;
  key: string;
  comment?: string;
}

const FAMILIES: readonly IpFamily[] = [4, 6];

const TABLE: NftTable = { kind: 'table', family: 'inet', name: MASQ_TABLE, comment: 'weft bridge ipMasq; elements tagged <containerID>/<ifname>' };

const CHAIN: NftChain = {
  kind: 'chain',
  family: 'inet',
  table: MASQ_TABLE,
  name: MASQ_OBJECTS.postroutingChain,
  base: { type: 'nat', hook: 'postrouting', priority: 'srcnat' },
};

function podSet(f: IpFamily): NftSet {
  return { kind: 'set', family: 'inet', table: MASQ_TABLE, name: MASQ_OBJECTS.podSet[f], type: f === 4 ? 'ipv4_addr' : 'ipv6_addr' };
}

function localSet(f: IpFamily): NftSet {
  const t = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
  return { kind: 'set', family: 'inet', table: MASQ_TABLE, name: MASQ_OBJECTS.localSet[f], type: `${t} . ${t}`, flags: ['interval'] };
}

function rules(f: IpFamily): string[] {
  const ip = f === 4 ? 'ip' : 'ip6';
  const multicast = f === 4 ? '224.0.0.0/4' : 'ff00::/8';
  return [
    `${ip} saddr . ${ip} daddr @${MASQ_OBJECTS.localSet[f]} return`,
    `${ip} daddr ${multicast} return`,
    `${ip} saddr @${MASQ_OBJECTS.podSet[f]} masquerade`,
  ];
}

function element(set: string, key: string, comment?: string): NftElement {
  return { kind: 'element', family: 'inet', table: MASQ_TABLE, set, key, ...(comment ? { comment } : {}) };
}

/** The elements that hold `targets` for the attachment `tag`. */
export function masqElementsFor(tag: string, targets: readonly MasqTarget[]): MasqElement[] {
  return targets.flatMap((t) => [
    { set: MASQ_OBJECTS.podSet[t.family], key: t.address, comment: tag },
    { set: MASQ_OBJECTS.localSet[t.family], key: `${t.address} . ${t.subnet}`, comment: tag },
  ]);
}

/**
 * ADD: the skeleton (re-declared, rules rewritten), the removal of elements the same attachment
 * left before (a retried ADD), and the new elements.
 */
export function renderMasqAdd(tag: string, targets: readonly MasqTarget[], current: readonly MasqElement[]): NftTransaction {
  const tx = new NftTransaction().add(TABLE).add(CHAIN).flush(CHAIN);
  for (const f of FAMILIES) tx.add(podSet(f)).add(localSet(f));
  for (const f of FAMILIES) for (const rule of rules(f)) tx.add({ kind: 'rule', family: 'inet', table: MASQ_TABLE, chain: CHAIN.name, rule });
  for (const e of current) if (e.comment === tag) tx.delete(element(e.set, e.key));
  for (const e of masqElementsFor(tag, targets)) tx.add(element(e.set, e.key, e.comment));
  return tx;
}

/**
 * DEL: removes the attachment's elements; deletes the whole table when nothing else is left in
 * it. Empty when the attachment has no element (nothing to do, table untouched).
 */
export function renderMasqRemove(tag: string, current: readonly MasqElement[]): NftTransaction {
  const tx = new NftTransaction();
  const mine = current.filter((e) => e.comment === tag);
  if (mine.length === 0) return tx;
  if (mine.length === current.length) return tx.delete(TABLE);
  for (const e of mine) tx.delete(element(e.set, e.key));
  return tx;
}

/** The elements of every set of MASQ_TABLE in a `nft -j list table` listing (the "nftables" array). */
export function parseMasqElements(objects: readonly unknown[]): MasqElement[] {
  const table = parseTable(objects, 'inet', MASQ_TABLE);
  return (table?.sets ?? []).flatMap((s) => s.elements.map((e) => ({ set: s.name, key: keyId(e.key), ...(e.comment !== undefined ? { comment: e.comment } : {}) })));
}
