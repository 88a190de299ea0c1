/**
 * The pod guard: one `bridge` table (GUARD_TABLE) with which the bridge plugin makes every pod it
 * attaches send only as itself, and keeps a new pod cut off until the node's agent has programmed
 * NetworkPolicy for it. NetworkPolicy matches addresses, so without this a pod could pass any
 * policy by writing another pod's address into its packets (raw sockets need no privilege beyond
 * the pod's own namespace), answer ARP for another pod's address, or take over another pod's MAC
 * in the bridge's forwarding table. Calico checks the same on its host-side veths.
 *
 *   table bridge weft-guard
 *     set ports      { type ifname }                               guarded host veths
 *     set ports-v4   { type ifname . ether_addr . ipv4_addr }      host veth . pod MAC . pod address
 *     set ports-v6   { type ifname . ether_addr . ipv6_addr }
 *     set pending-v4 { type ipv4_addr }                            pods awaiting their policy
 *     set pending-v6 { type ipv6_addr }
 *     chain prerouting (LAYOUT.guardPrerouting)    iifname @ports jump from-pod
 *     chain from-pod
 *       IPv4 whose port . MAC . source is the port's pod, not pending: accept; other IPv4: drop
 *       (the same two for IPv6)
 *       ARP whose frame source and sender MAC and IP are the port's pod: accept
 *       anything else (other ethertypes, forged ARP): drop
 *     chain forward (LAYOUT.guardForward)  and  chain output (LAYOUT.guardOutput)
 *       to a pending pod: drop
 *
 * IPv6: a pod whose IPAM result has no IPv6 address has no element in ports-v6, so every IPv6
 * frame it sends is dropped (weft's cluster network is IPv4; the plugin also gives such a pod's
 * interface no link-local address). A pod with IPv6 addresses may send from them, from its
 * EUI-64 link-local address (neighbour discovery) and from `::` (duplicate address detection).
 *
 * The plugin adds a pod's elements at ADD before either end of its veth is up, so the pod never
 * sends a frame unchecked; a port that is not in `ports` (a pod without IPAM addresses, a port
 * another plugin made) is not guarded. Every element carries the attachment tag as its comment;
 * DEL removes exactly those, and the table when it would be empty. The agent removes a pod's
 * pending elements once its policy table covers the pod (pendingLiftTx).
 *
 * Pure: callers list the table, pass the parsed elements in, and apply under the guard lock.
 */

import { GUARD_OBJECTS, GUARD_TABLE } from '../names.js';
import { parseIp, type IpFamily } from '../net/ip.js';
import { baseChainOf } from './layout.js';
import {
  accept,
  chainObj,
  counter,
  drop,
  inSet,
  jump,
  match,
  rule,
  setObj,
  tableObj,
  type ChainDef,
  type Element,
  type RuleBody,
  type SetDef,
  type TableDef,
} from './model.js';
import { NftTx } from './tx.js';
import { elementOps, parseTaggedElements, renderTaggedRemove, toElement, type TaggedElement } from './tagged.js';

const FAMILIES: readonly IpFamily[] = [4, 6];
/** Ethertypes as numbers: nft lists them by name, but the number is what the frame carries. */
const ETHER = { ip: 0x0800, arp: 0x0806, ip6: 0x86dd } as const;

const T = {
  family: 'bridge' as const,
  name: GUARD_TABLE,
  comment: 'weft bridge plugin: pods send only as themselves; new pods wait for their policy',
};

/** What one attachment puts in the table. */
export interface GuardTarget {
  /** The host end of the pod's veth (the bridge port). */
  hostVeth: string;
  /** The pod interface's MAC, lower case. */
  mac: string;
  /** The pod's addresses from IPAM, without prefix. */
  addresses: ReadonlyArray<{ family: IpFamily; address: string }>;
  /** Whether the pod starts cut off until the node's agent lifts it (the agent enforces policy). */
  awaitPolicy: boolean;
}

/** One element of the table: which set, its key, and its comment (the attachment tag). */
export type GuardElement = TaggedElement;

function sets(): SetDef[] {
  return [
    { name: GUARD_OBJECTS.portSet, key: ['ifname'], elements: [] },
    ...FAMILIES.flatMap((f): SetDef[] => {
      const t = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
      return [
        { name: GUARD_OBJECTS.addrSet[f], key: ['ifname', 'ether_addr', t], elements: [] },
        { name: GUARD_OBJECTS.pendingSet[f], key: [t], elements: [] },
      ];
    }),
  ];
}

function fromPodRules(): RuleBody[] {
  const v4 = GUARD_OBJECTS.addrSet[4];
  // IP first (nearly every frame), each family in one rule: the lookups that let a frame through,
  // then one drop for whatever they did not (fewer rules walked per packet, see bench/guard.ts).
  const rules: RuleBody[] = FAMILIES.flatMap((f): RuleBody[] => {
    const type = f === 4 ? ETHER.ip : ETHER.ip6;
    const saddr = f === 4 ? 'ip saddr' : 'ip6 saddr';
    return [
      rule(
        [
          match('ether type', type),
          inSet(['iifname', 'ether saddr', saddr], GUARD_OBJECTS.addrSet[f]),
          inSet(saddr, GUARD_OBJECTS.pendingSet[f], '!='),
          accept,
        ],
        `IPv${f} from the port's own pod, whose policy is in place`,
      ),
      rule(
        [match('ether type', type), counter, drop],
        `IPv${f} source or MAC is not the port's pod, or the pod awaits its policy`,
      ),
    ];
  });
  rules.push(
    rule(
      [
        match('ether type', ETHER.arp),
        inSet(['iifname', 'ether saddr', 'arp saddr ip'], v4),
        inSet(['iifname', 'arp saddr ether', 'arp saddr ip'], v4),
        accept,
      ],
      "ARP claiming the port's own pod",
    ),
    rule([counter, drop], 'forged ARP or another ethertype'),
  );
  return rules;
}

function toPendingRules(): RuleBody[] {
  return FAMILIES.map((f) =>
    rule(
      [
        match('ether type', f === 4 ? ETHER.ip : ETHER.ip6),
        inSet(f === 4 ? 'ip daddr' : 'ip6 daddr', GUARD_OBJECTS.pendingSet[f]),
        counter,
        drop,
      ],
      'pod awaits its policy',
    ),
  );
}

function chains(): ChainDef[] {
  return [
    {
      name: GUARD_OBJECTS.preroutingChain,
      base: baseChainOf('guardPrerouting'),
      rules: [rule([inSet('iifname', GUARD_OBJECTS.portSet), jump(GUARD_OBJECTS.fromPodChain)])],
    },
    { name: GUARD_OBJECTS.fromPodChain, rules: fromPodRules() },
    { name: GUARD_OBJECTS.forwardChain, base: baseChainOf('guardForward'), rules: toPendingRules() },
    { name: GUARD_OBJECTS.outputChain, base: baseChainOf('guardOutput'), rules: toPendingRules() },
  ];
}

/** The EUI-64 link-local address the kernel gives an interface with this MAC (RFC 4291 2.5.1). */
export function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((h) => Number.parseInt(h, 16));
  if (b.length !== 6 || b.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
    throw new Error(`pod guard: "${mac}" is not a MAC address`);
  const eui = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(((eui[i]! << 8) | eui[i + 1]!).toString(16));
  return `fe80::${groups.join(':')}`;
}

/** The elements that guard the attachment `tag`. */
export function guardElementsFor(tag: string, t: GuardTarget): GuardElement[] {
  const mac = t.mac.toLowerCase();
  const out: GuardElement[] = [{ set: GUARD_OBJECTS.portSet, key: [t.hostVeth], comment: tag }];
  const add = (f: IpFamily, address: string) =>
    out.push({ set: GUARD_OBJECTS.addrSet[f], key: [t.hostVeth, mac, address], comment: tag });
  for (const a of t.addresses) add(a.family, a.address);
  if (t.addresses.some((a) => a.family === 6)) {
    add(6, linkLocalOf(mac));
    add(6, '::');
  }
  if (t.awaitPolicy)
    for (const a of t.addresses) out.push({ set: GUARD_OBJECTS.pendingSet[a.family], key: [a.address], comment: tag });
  return dedupe(out);
}

function dedupe(list: GuardElement[]): GuardElement[] {
  const seen = new Set<string>();
  return list.filter((e) => {
    const id = `${e.set}|${e.key.join('|')}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** The table holding `elements`, as data (for tests and tools). */
export function guardTable(elements: readonly GuardElement[]): TableDef {
  return {
    ...T,
    chains: chains(),
    sets: sets().map((s) => ({ ...s, elements: elements.filter((e) => e.set === s.name).map(toElement) })),
  };
}

/**
 * ADD: the skeleton (re-declared, every chain's rules rewritten in the same transaction, so a
 * damaged or older skeleton is repaired atomically), the removal of what the same attachment left
 * before (a retried ADD), and the new elements.
 */
export function renderGuardAdd(tag: string, target: GuardTarget, current: readonly GuardElement[]): NftTx {
  const tx = new NftTx().add(tableObj(T));
  for (const s of sets()) tx.add(setObj(T, s));
  const all = chains();
  // Regular chains first: prerouting's rule jumps to from-pod, which must exist by then.
  for (const c of [...all].sort((a, b) => Number(a.base !== undefined) - Number(b.base !== undefined))) {
    const obj = chainObj(T, c);
    tx.add(obj).flush(obj);
    for (const r of c.rules) tx.add({ kind: 'rule', family: T.family, table: T.name, chain: c.name, ...r });
  }
  elementOps(
    tx,
    T,
    'delete',
    current.filter((e) => e.comment === tag),
  );
  elementOps(tx, T, 'add', guardElementsFor(tag, target));
  return tx;
}

/** DEL: removes the attachment's elements, or the whole table when nothing else is left in it. */
export function renderGuardRemove(tag: string, current: readonly GuardElement[]): NftTx {
  return renderTaggedRemove(T, tag, current);
}

/**
 * The agent's half: removes the pending elements of the addresses its applied policy table
 * covers: `programmed` holds them in canonical() spelling, or is 'all' when the cluster has no
 * policy (nothing is isolated, so every pod is as programmed as it will be). Empty when none of
 * them is pending.
 */
export function pendingLiftTx(current: readonly GuardElement[], programmed: ReadonlySet<string> | 'all'): NftTx {
  const tx = new NftTx();
  elementOps(tx, T, 'delete', pendingLifts(current, programmed));
  return tx;
}

/** The pending elements pendingLiftTx deletes. */
export function pendingLifts(
  current: readonly GuardElement[],
  programmed: ReadonlySet<string> | 'all',
): GuardElement[] {
  const pending = new Set<string>(FAMILIES.map((f) => GUARD_OBJECTS.pendingSet[f]));
  return current.filter(
    (e) => pending.has(e.set) && (programmed === 'all' || programmed.has(canonical(String(e.key[0])))),
  );
}

/**
 * The agent's half, without a listing: lets `addresses` out of the pending sets whether or not
 * they are in them. nft refuses to delete a missing element, so each is added first (a no-op
 * when present) and deleted in the same transaction; the table and set are declared the same
 * way (a no-op when present, an empty table with that one set when the node has no guarded pod
 * yet, which the next ADD completes). So the agent can put the lift into its policy
 * transaction: the pod's rules and its release land in the kernel at the same instant.
 */
export function liftTx(addresses: readonly string[]): NftTx {
  const tx = new NftTx();
  if (addresses.length === 0) return tx;
  tx.add(tableObj({ family: T.family, name: T.name }));
  for (const f of FAMILIES) {
    const mine = addresses.filter((a) => parseIp(a).family === f);
    if (mine.length === 0) continue;
    const set = sets().find((s) => s.name === GUARD_OBJECTS.pendingSet[f])!;
    tx.add(setObj(T, set));
    const elements = mine.map((a): Element => ({ key: [a] }));
    const object = { kind: 'element' as const, family: T.family, table: T.name, set: set.name, elements };
    tx.add(object).delete(object);
  }
  return tx;
}

/** Addresses in one spelling (nft lists IPv6 compressed; callers may not). */
export function canonical(address: string): string {
  const ip = parseIp(address);
  return ip.family === 4 ? address : `${ip.family}:${ip.value.toString(16)}`;
}

/** The elements of every set of GUARD_TABLE in a `nft -j list table` listing. */
export function parseGuardElements(objects: readonly unknown[]): GuardElement[] {
  return parseTaggedElements(objects, T);
}
