/**
 * The portmap plugin's nftables model, pure: desired hostPort mappings → set/map elements,
 * elements → one atomic NftTx (ADD, DEL, GC), and CHECK's comparison. Listings are
 * parsed by ./portmap-listing.ts.
 *
 * Layout (kube-proxy nftables style: static chains, the changing data in maps and sets, so a new
 * mapping adds elements, never rules). One `inet` table, PORTMAP_TABLE:
 *
 * Base chains from the layout registry (./layout.ts: portmapPrerouting, portmapOutput,
 * portmapPostrouting). The table is data (skeletonTable, portmapTable for the tracer).
 *
 *   chain prerouting   nat, hook prerouting, priority dstnat (-100)
 *       iifname != "lo" ip daddr 127.0.0.0/8 drop     guard for route_localnet, see below
 *       fib daddr type local jump hostports           only traffic to this node's own addresses
 *   chain output       nat, hook output, priority dstnat (-100, rendered as the number: nft
 *                      1.0.x accepts the name "dstnat" only on prerouting)
 *       fib daddr type local jump hostports           the node itself, incl. 127.0.0.1 and its own IPs
 *   chain hostports
 *       dnat ip  to ip  daddr . meta l4proto . th dport map @hostip-hostports-v4   hostIP given: checked first
 *       dnat ip6 to ip6 daddr . meta l4proto . th dport map @hostip-hostports-v6
 *       meta nfproto ipv4 dnat ip to meta l4proto . th dport map @hostports-v4     any local address
 *       ip6 daddr != ::1 dnat ip6 to meta l4proto . th dport map @hostports-v6     (never ::1, see below)
 *   chain postrouting  nat, hook postrouting, priority srcnat (100)
 *       ct status dnat ip  saddr . ip  daddr @masq-v4 masquerade
 *       ct status dnat ip6 saddr . ip6 daddr @masq-v6 masquerade
 *
 * A map lookup that misses ends the rule, so unmapped traffic falls through untouched. The
 * reference iptables plugin likewise enters its DNAT chain only for `--dst-type LOCAL`.
 *
 * Masquerading (snat, default true), as the reference decides it: a DNATed connection is
 * masqueraded when its source is in the pod's own subnet (hairpin: the pod itself or a neighbour
 * on the same bridge would get the reply straight from the pod, bypassing the un-DNAT) or is
 * 127.0.0.0/8 on the node (IPv4 "localhost" case). Each becomes one element `source prefix .
 * pod IP` of an interval set, tagged like the DNAT elements. `ct status dnat` keeps plain
 * pod-to-pod traffic (seen here when br_netfilter is loaded) from being masqueraded.
 *
 * The localhost case: a node process connecting to 127.0.0.1:hostPort is DNATed in output, and
 * the kernel then refuses to route a packet with source 127.0.0.1 out of a non-loopback device
 * ("martian source") unless net.ipv4.conf.<dev>.route_localnet=1 on the device that reaches the
 * pod. Masquerading happens only later, in postrouting, so it cannot avoid that check. The
 * plugin therefore sets route_localnet on that device, as the reference does
 * (getRoutableHostIF + enableLocalnetRouting). route_localnet also lets a neighbour on that
 * device send packets *to* 127.0.0.0/8 (CVE-2020-8558); the prerouting guard above drops those
 * while the table exists, as kube-proxy's own fix does. IPv6 has no route_localnet: the kernel
 * never lets ::1 leave the host, so ::1 is excluded from DNAT (the reference's DNAT would just
 * black-hole it) and the IPv6 masquerade set has no loopback element.
 *
 * Ownership: every element's comment is portmapComment(network, containerID, ifname), so DEL
 * removes exactly its own elements and GC can tell networks apart. The whole table is deleted
 * when its last element goes, so nothing is left behind.
 */

import { CniError, CniErrorCode } from '../cni/errors.js';
import type { PortMapping, PortmapProtocol } from '../cni/plugins/portmap-config.js';
import { attachmentTag, PORTMAP_OBJECTS, PORTMAP_TABLE, shortHash } from '../names.js';
import { formatCidr, formatIp, type IpFamily, type IpNet } from '../net/ip.js';
import { baseChainOf } from './layout.js';
import {
  chainObj,
  drop,
  inSet,
  jump,
  match,
  prefix,
  rule,
  setObj,
  tableObj,
  type Element,
  type ElementObj,
  type Expr,
  type Part,
  type Selector,
  type SetDef,
  type TableDef,
} from './model.js';
import { NftTx } from './tx.js';

export interface DnatElement {
  kind: 'dnat';
  family: IpFamily;
  /** Canonical host address the mapping is restricted to; undefined means any local address. */
  hostIp?: string;
  protocol: PortmapProtocol;
  hostPort: number;
  podIp: string;
  podPort: number;
  /** The owner's portmapComment ('' when the element has none). */
  comment: string;
}

export interface MasqElement {
  kind: 'masq';
  family: IpFamily;
  /** Canonical source prefix, e.g. "10.244.0.0/24" or "127.0.0.0/8". */
  source: string;
  podIp: string;
  comment: string;
}

export type PortmapElement = DnatElement | MasqElement;

const FAMILY = 'inet' as const;
const O = PORTMAP_OBJECTS;

// Characters that are safe inside an nft comment and cannot be confused with the separator.
const SAFE = /^[A-Za-z0-9_.\-/@:]+$/;

/**
 * The comment tagging an attachment's elements: "<containerID>/<ifname> <network>". nft limits
 * comments to 128 characters and to text it can quote, so an over-long or odd part is replaced
 * by "~" plus a hash of it; the result is still unique per attachment and GC recomputes it.
 */
export function portmapComment(network: string, containerId: string, ifname: string): string {
  const tag = attachmentTag(containerId, ifname);
  const tagPart = SAFE.test(tag)
    ? tag.length <= 96
      ? tag
      : `${tag.slice(0, 86)}~${shortHash(tag)}`
    : `~${shortHash(tag)}`;
  return `${tagPart} ${networkPart(network)}`;
}

/** The network half of portmapComment, which GC uses to spare other networks' elements. */
export function networkPart(network: string): string {
  return network !== '' && network.length <= 31 && SAFE.test(network) ? network : `~${shortHash(network)}`;
}

export function networkPartOfComment(comment: string): string {
  const space = comment.indexOf(' ');
  return space < 0 ? '' : comment.slice(space + 1);
}

export function setNameOf(e: PortmapElement): string {
  if (e.kind === 'masq') return O.masqSet[e.family];
  return e.hostIp === undefined ? O.anyAddressMap[e.family] : O.hostIpMap[e.family];
}

export function keyOf(e: PortmapElement): string {
  if (e.kind === 'masq') return `${e.source} . ${e.podIp}`;
  return `${e.hostIp === undefined ? '' : `${e.hostIp} . `}${e.protocol} . ${e.hostPort}`;
}

function valueOf(e: DnatElement): string {
  return `${e.podIp} . ${e.podPort}`;
}

/** One string per kernel element: two elements with the same identity cannot coexist. */
export function identityOf(e: PortmapElement): string {
  return `${setNameOf(e)} { ${keyOf(e)} }`;
}

function sourcePart(source: string): Part {
  const slash = source.indexOf('/');
  return prefix(source.slice(0, slash), Number(source.slice(slash + 1)));
}

/** The element as model data: `[hostIP .] proto . port : podIP . podPort`, or `source . podIP`. */
export function modelElementOf(e: PortmapElement): Element {
  const comment = e.comment ? { comment: e.comment } : {};
  if (e.kind === 'masq') return { key: [sourcePart(e.source), e.podIp], ...comment };
  const key: Part[] = e.hostIp === undefined ? [e.protocol, e.hostPort] : [e.hostIp, e.protocol, e.hostPort];
  return { key, value: [e.podIp, e.podPort], ...comment };
}

function toNft(e: PortmapElement): ElementObj {
  return { kind: 'element', family: FAMILY, table: PORTMAP_TABLE, set: setNameOf(e), elements: [modelElementOf(e)] };
}

/** "8080/tcp on 192.168.1.1 → 10.244.0.5:80", for messages. */
export function describeElement(e: PortmapElement): string {
  if (e.kind === 'masq') return `masquerade ${e.source} → ${e.podIp}`;
  const pod = e.family === 6 ? `[${e.podIp}]:${e.podPort}` : `${e.podIp}:${e.podPort}`;
  return `hostPort ${e.hostPort}/${e.protocol} on ${e.hostIp ?? `any IPv${e.family} address`} → ${pod}`;
}

export interface DesiredInput {
  mappings: readonly PortMapping[];
  /** The pod's addresses, at most one per family (podAddressesOf). */
  podAddresses: readonly IpNet[];
  snat: boolean;
  masqAll: boolean;
  comment: string;
}

/**
 * The elements one attachment needs. A mapping whose hostIP is of the other family than a pod
 * address is skipped for that address, and "0.0.0.0" / "::" mean any address of that family
 * only, both as in the reference. Two mappings of one host port to different targets are a
 * config error naming both entries.
 */
export function desiredElements(input: DesiredInput): PortmapElement[] {
  const out = new Map<string, { element: PortmapElement; index: number }>();
  const put = (element: PortmapElement, index: number): void => {
    const id = identityOf(element);
    const prior = out.get(id);
    if (
      prior &&
      prior.element.kind === 'dnat' &&
      element.kind === 'dnat' &&
      valueOf(prior.element) !== valueOf(element)
    ) {
      throw new CniError(
        CniErrorCode.InvalidNetworkConfig,
        `invalid network config: runtimeConfig.portMappings[${index}]: ${describeElement(element)} conflicts with runtimeConfig.portMappings[${prior.index}] (${describeElement(prior.element)})`,
      );
    }
    if (!prior) out.set(id, { element, index });
  };
  for (const pod of input.podAddresses) {
    const family = pod.address.family;
    const podIp = formatIp(pod.address);
    let mapped = false;
    input.mappings.forEach((m, index) => {
      if (m.hostIp && m.hostIp.family !== family) return;
      const hostIp = m.hostIp && m.hostIp.value !== 0n ? formatIp(m.hostIp) : undefined;
      put(
        {
          kind: 'dnat',
          family,
          ...(hostIp ? { hostIp } : {}),
          protocol: m.protocol,
          hostPort: m.hostPort,
          podIp,
          podPort: m.containerPort,
          comment: input.comment,
        },
        index,
      );
      mapped = true;
    });
    if (!mapped || !input.snat) continue;
    const sources = input.masqAll
      ? [family === 4 ? '0.0.0.0/0' : '::/0']
      : [formatCidr(pod), ...(family === 4 ? ['127.0.0.0/8'] : [])];
    for (const source of sources) put({ kind: 'masq', family, source, podIp, comment: input.comment }, -1);
  }
  return [...out.values()].map((v) => v.element);
}

/**
 * Host ports an attachment wants that another attachment already holds: the same protocol and
 * port of one family, where either side is "any address" or both name the same hostIP (the
 * Kubernetes hostPort rule). The reference plugin lets the last ADD win silently; weft refuses,
 * because the loser's traffic would vanish with no error anywhere.
 */
export function findConflicts(existing: readonly PortmapElement[], desired: readonly PortmapElement[]): string[] {
  const problems: string[] = [];
  for (const d of desired) {
    if (d.kind !== 'dnat') continue;
    for (const e of existing) {
      if (
        e.kind !== 'dnat' ||
        e.comment === d.comment ||
        e.family !== d.family ||
        e.protocol !== d.protocol ||
        e.hostPort !== d.hostPort
      )
        continue;
      if (d.hostIp !== undefined && e.hostIp !== undefined && d.hostIp !== e.hostIp) continue;
      problems.push(
        `${describeElement(d)}: hostPort ${d.hostPort}/${d.protocol} is already mapped (${describeElement(e)}) for "${e.comment}"`,
      );
    }
  }
  return problems;
}

const ADDR_TYPE = { 4: 'ipv4_addr', 6: 'ipv6_addr' } as const;
const TABLE = { family: FAMILY, name: PORTMAP_TABLE, comment: 'weft portmap: CNI hostPort DNAT' };

/** The fixed skeleton as data: sets and maps, and the chains with their rules (no elements). */
export function skeletonTable(): TableDef {
  const sets: SetDef[] = [];
  for (const f of [4, 6] as const) {
    const a = ADDR_TYPE[f];
    sets.push({
      name: O.hostIpMap[f],
      key: [a, 'inet_proto', 'inet_service'],
      value: [a, 'inet_service'],
      elements: [],
    });
    sets.push({
      name: O.anyAddressMap[f],
      key: ['inet_proto', 'inet_service'],
      value: [a, 'inet_service'],
      elements: [],
    });
    // interval: the first component is a source prefix (pod subnet, 127.0.0.0/8, or /0 for masqAll).
    sets.push({ name: O.masqSet[f], key: [a, a], flags: ['interval'], elements: [] });
  }
  const toHostports = rule([match('fib daddr type', 'local'), jump(O.hostportsChain)]);
  const dnat = (family: 'ip' | 'ip6', key: Selector[], map: string): Expr => ({
    kind: 'dnat',
    family,
    to: { key, map },
  });
  const masq = (ip: 'ip' | 'ip6', set: string) =>
    rule([match('ct status', { flags: ['dnat'] }), inSet([`${ip} saddr`, `${ip} daddr`], set), { kind: 'masquerade' }]);
  return {
    ...TABLE,
    sets,
    chains: [
      {
        name: O.preroutingChain,
        base: baseChainOf('portmapPrerouting'),
        rules: [
          rule(
            [match('iifname', 'lo', '!='), match('ip daddr', prefix('127.0.0.0', 8)), drop],
            'route_localnet guard (CVE-2020-8558)',
          ),
          toHostports,
        ],
      },
      { name: O.outputChain, base: baseChainOf('portmapOutput'), rules: [toHostports] },
      {
        name: O.postroutingChain,
        base: baseChainOf('portmapPostrouting'),
        rules: [masq('ip', O.masqSet[4]), masq('ip6', O.masqSet[6])],
      },
      {
        name: O.hostportsChain,
        rules: [
          rule([dnat('ip', ['ip daddr', 'meta l4proto', 'th dport'], O.hostIpMap[4])]),
          rule([dnat('ip6', ['ip6 daddr', 'meta l4proto', 'th dport'], O.hostIpMap[6])]),
          rule([match('meta nfproto', 'ipv4'), dnat('ip', ['meta l4proto', 'th dport'], O.anyAddressMap[4])]),
          rule([match('ip6 daddr', '::1', '!='), dnat('ip6', ['meta l4proto', 'th dport'], O.anyAddressMap[6])]),
        ],
      },
    ],
  };
}

/** The table holding `elements` (for the tracer and tests). */
export function portmapTable(elements: readonly PortmapElement[]): TableDef {
  const t = skeletonTable();
  return {
    ...t,
    sets: t.sets.map((s) => ({ ...s, elements: elements.filter((e) => setNameOf(e) === s.name).map(modelElementOf) })),
  };
}

/**
 * ADD: (re)declare the skeleton, rebuilding the chains' rules from skeletonTable (flush + add in
 * the same atomic transaction, so a hand-edited or older chain is repaired and never doubled),
 * drop what this attachment had before (a repeated ADD converges) and any masquerade element
 * left for the same pod IP by a vanished attachment (the IP was reused: its DEL, if it ever
 * comes, finds nothing of its own), then add the desired elements. Call findConflicts first.
 */
export function planAdd(existing: readonly PortmapElement[], desired: readonly PortmapElement[]): NftTx {
  const t = skeletonTable();
  const tx = new NftTx().add(tableObj(t));
  for (const s of t.sets) tx.add(setObj(t, s));
  for (const c of t.chains) tx.add(chainObj(t, c));
  for (const c of t.chains) tx.flush(chainObj(t, c));
  for (const c of t.chains)
    for (const r of c.rules) tx.add({ kind: 'rule', family: t.family, table: t.name, chain: c.name, ...r });
  const comments = new Set(desired.map((d) => d.comment));
  const masqPods = new Set(desired.filter((d) => d.kind === 'masq').map((d) => `${d.family} ${d.podIp}`));
  for (const e of existing) {
    const stale = comments.has(e.comment) || (e.kind === 'masq' && masqPods.has(`${e.family} ${e.podIp}`));
    if (stale) tx.delete(toNft(e));
  }
  for (const d of desired) tx.add(toNft(d));
  return tx;
}

/**
 * DEL and GC: delete the elements `doomed` picks; when none would remain, delete the whole
 * table instead (its chains and sets go with it). Empty when there is nothing to do.
 */
export function planRemove(existing: readonly PortmapElement[], doomed: (e: PortmapElement) => boolean): NftTx {
  const tx = new NftTx();
  const removed = existing.filter(doomed);
  if (removed.length === existing.length) {
    tx.delete({ kind: 'table', family: FAMILY, name: PORTMAP_TABLE });
    return tx;
  }
  for (const e of removed) tx.delete(toNft(e));
  return tx;
}

/** CHECK: what differs between the desired elements and the table (empty when all is in place). */
export function checkElements(existing: readonly PortmapElement[], desired: readonly PortmapElement[]): string[] {
  const byId = new Map(existing.map((e) => [identityOf(e), e]));
  const problems: string[] = [];
  for (const d of desired) {
    const e = byId.get(identityOf(d));
    if (!e) problems.push(`missing ${describeElement(d)}`);
    else if (e.comment !== d.comment) problems.push(`${describeElement(d)}: element belongs to "${e.comment}"`);
    else if (e.kind === 'dnat' && d.kind === 'dnat' && valueOf(e) !== valueOf(d))
      problems.push(`${describeElement(d)}: table has ${describeElement(e)}`);
  }
  return problems;
}
