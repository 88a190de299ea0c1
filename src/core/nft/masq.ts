/**
 * The bridge plugin's ipMasq in nftables: one `inet` table (MASQ_TABLE) with a static skeleton and
 * the pods as set elements, instead of the reference's iptables chain per container. Which
 * masquerade table is live for which config: src/core/nft/masquerade.ts.
 *
 *   table inet weft-masq
 *     set pods-v4  { type ipv4_addr }                       pod address
 *     set local-v4 { type ipv4_addr . ipv4_addr; interval }  pod address . pod subnet
 *     chain postrouting (nat, srcnat: LAYOUT.bridgeMasqPostrouting)
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
 * Pure: callers list the table (Nft.listTable), pass the parsed elements in, and apply the
 * transaction under the masq lock (src/cni/plugins/bridge-masq.ts).
 */

import { MASQ_OBJECTS, MASQ_TABLE } from '../names.js';
import { parseCidr, type IpFamily } from '../net/ip.js';
import { baseChainOf } from './layout.js';
import {
  chainObj,
  inSet,
  match,
  prefix,
  ret,
  rule,
  setObj,
  tableObj,
  type Part,
  type RuleBody,
  type SetDef,
  type TableDef,
} from './model.js';
import { NftTx } from './tx.js';
import { elementOps, parseTaggedElements, renderTaggedRemove, toElement, type TaggedElement } from './tagged.js';

export interface MasqTarget {
  family: IpFamily;
  /** The pod address ("10.244.0.5"). */
  address: string;
  /** The pod's subnet in network form ("10.244.0.0/16"). */
  subnet: string;
}

/** One element of the table: which set, its key, and its comment (the attachment tag). */
/** One element of the table: which set, its key, and its comment (the attachment tag). */
export type MasqElement = TaggedElement;

const FAMILIES: readonly IpFamily[] = [4, 6];
const T = {
  family: 'inet' as const,
  name: MASQ_TABLE,
  comment: 'weft bridge ipMasq; elements tagged <containerID>/<ifname>',
};
const CHAIN = { name: MASQ_OBJECTS.postroutingChain, base: baseChainOf('bridgeMasqPostrouting') };

function sets(): SetDef[] {
  return FAMILIES.flatMap((f): SetDef[] => {
    const t = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
    return [
      { name: MASQ_OBJECTS.podSet[f], key: [t], elements: [] },
      { name: MASQ_OBJECTS.localSet[f], key: [t, t], flags: ['interval'], elements: [] },
    ];
  });
}

function rules(): RuleBody[] {
  return FAMILIES.flatMap((f) => {
    const ip = f === 4 ? 'ip' : 'ip6';
    const multicast = f === 4 ? prefix('224.0.0.0', 4) : prefix('ff00::', 8);
    return [
      rule([inSet([`${ip} saddr`, `${ip} daddr`], MASQ_OBJECTS.localSet[f]), ret]),
      rule([match(`${ip} daddr`, multicast), ret]),
      rule([inSet(`${ip} saddr`, MASQ_OBJECTS.podSet[f]), { kind: 'masquerade' }]),
    ];
  });
}

function subnetPart(subnet: string): Part {
  const net = parseCidr(subnet);
  return prefix(subnet.slice(0, subnet.indexOf('/')), net.prefix);
}

/** The elements that hold `targets` for the attachment `tag`. */
export function masqElementsFor(tag: string, targets: readonly MasqTarget[]): MasqElement[] {
  return targets.flatMap((t) => [
    { set: MASQ_OBJECTS.podSet[t.family], key: [t.address], comment: tag },
    { set: MASQ_OBJECTS.localSet[t.family], key: [t.address, subnetPart(t.subnet)], comment: tag },
  ]);
}

/** The table holding `elements`, as data (for the tracer and tests). */
export function masqTable(elements: readonly MasqElement[]): TableDef {
  return {
    ...T,
    chains: [{ ...CHAIN, rules: rules() }],
    sets: sets().map((s) => ({ ...s, elements: elements.filter((e) => e.set === s.name).map(toElement) })),
  };
}

/**
 * ADD: the skeleton (re-declared, rules rewritten), the removal of elements the same attachment
 * left before (a retried ADD), and the new elements.
 */
export function renderMasqAdd(tag: string, targets: readonly MasqTarget[], current: readonly MasqElement[]): NftTx {
  const chain = chainObj(T, CHAIN);
  const tx = new NftTx().add(tableObj(T)).add(chain).flush(chain);
  for (const s of sets()) tx.add(setObj(T, s));
  for (const r of rules()) tx.add({ kind: 'rule', family: T.family, table: T.name, chain: chain.name, ...r });
  elementOps(
    tx,
    T,
    'delete',
    current.filter((e) => e.comment === tag),
  );
  elementOps(tx, T, 'add', masqElementsFor(tag, targets));
  return tx;
}

/**
 * DEL: removes the attachment's elements; deletes the whole table when nothing else is left in
 * it. Empty when the attachment has no element (nothing to do, table untouched).
 */
export function renderMasqRemove(tag: string, current: readonly MasqElement[]): NftTx {
  return renderTaggedRemove(T, tag, current);
}

/** The elements of every set of MASQ_TABLE in a `nft -j list table` listing (the "nftables" array). */
export function parseMasqElements(objects: readonly unknown[]): MasqElement[] {
  return parseTaggedElements(objects, T);
}
