/**
 * CHECK for the bridge plugin: compares what the previous ADD reported (prevResult) with what the
 * kernel has now, and lists every difference as a sentence. Pure; the plugin reads the links and
 * routes and turns a non-empty list into one error.
 *
 * What is checked (as the reference bridge's cmdCheck does, plus the veth peering):
 * the bridge exists and is a bridge; the host veth exists, is a veth and is enslaved to the
 * bridge; the container interface exists in the pod, is that veth's peer and has the reported MAC
 * and every reported address; every reported route is in the pod's main table.
 */

import type { CniResult } from '../cni/result.js';
import type { LinkState, RouteState } from '../../ports/links.js';
import { formatCidr, formatIp, formatIpNet, parseIp, sameIp, tryParseCidr } from '../net/ip.js';

export interface ObservedAttachment {
  bridge?: LinkState;
  hostVeth?: LinkState;
  container?: LinkState;
  /** The pod's main-table routes of both families. */
  podRoutes: RouteState[];
}

export interface ExpectedNames {
  bridge: string;
  hostVeth: string;
  ifname: string;
  netns: string;
}

/** Where prevResult puts the container interface: the one named ifname with a sandbox. */
export function containerInterfaceIndex(prev: CniResult, ifname: string): number {
  return (prev.interfaces ?? []).findIndex((i) => i.name === ifname && i.sandbox !== undefined && i.sandbox !== '');
}

/** The host veth prevResult names (the interface without sandbox that is not the bridge), if any. */
export function hostVethOf(prev: CniResult, bridge: string): string | undefined {
  return (prev.interfaces ?? []).find((i) => !i.sandbox && i.name !== bridge)?.name;
}

function canonicalCidr(text: string): string {
  const net = tryParseCidr(text);
  return net ? formatIpNet(net) : text;
}

/** The differences between prevResult and the observed state; [] when everything matches. */
export function checkAttachment(names: ExpectedNames, prev: CniResult, seen: ObservedAttachment): string[] {
  const problems: string[] = [];
  const idx = containerInterfaceIndex(prev, names.ifname);
  if (idx < 0) problems.push(`prevResult has no interface "${names.ifname}" with a sandbox`);
  const reported = idx >= 0 ? prev.interfaces?.[idx] : undefined;
  if (reported?.sandbox && reported.sandbox !== names.netns) {
    problems.push(`prevResult puts ${names.ifname} in sandbox ${reported.sandbox}, not CNI_NETNS ${names.netns}`);
  }

  if (!seen.bridge) problems.push(`bridge ${names.bridge} does not exist`);
  else if (seen.bridge.kind !== 'bridge')
    problems.push(`${names.bridge} is a ${seen.bridge.kind ?? 'plain device'}, not a bridge`);

  if (!seen.hostVeth) problems.push(`host veth ${names.hostVeth} does not exist`);
  else {
    if (seen.hostVeth.kind !== 'veth')
      problems.push(`host interface ${names.hostVeth} is a ${seen.hostVeth.kind ?? 'plain device'}, not a veth`);
    if (seen.hostVeth.master !== names.bridge) {
      problems.push(
        `host veth ${names.hostVeth} is ${seen.hostVeth.master ? `enslaved to ${seen.hostVeth.master}` : 'not enslaved to any bridge'}, not to ${names.bridge}`,
      );
    }
  }

  const c = seen.container;
  if (!c) problems.push(`interface ${names.ifname} does not exist in ${names.netns}`);
  else {
    if (c.kind !== 'veth')
      problems.push(`${names.ifname} in ${names.netns} is a ${c.kind ?? 'plain device'}, not a veth`);
    if (reported?.mac && reported.mac.toLowerCase() !== c.mac.toLowerCase()) {
      problems.push(`${names.ifname} has MAC ${c.mac}, prevResult says ${reported.mac}`);
    }
    if (seen.hostVeth && c.peerIndex !== undefined && c.peerIndex !== seen.hostVeth.index) {
      problems.push(`${names.ifname} is not the peer of host veth ${names.hostVeth}`);
    }
    const have = new Set(c.addresses.map((a) => canonicalCidr(a.cidr)));
    for (const ip of prev.ips ?? []) {
      if (ip.interface !== undefined && ip.interface !== idx) continue;
      const want = canonicalCidr(ip.address);
      if (!have.has(want)) problems.push(`${names.ifname} lacks address ${want}`);
    }
  }

  for (const r of prev.routes ?? []) {
    const dst = tryParseCidr(r.dst);
    if (!dst) continue;
    const dstText = formatCidr(dst);
    const found = seen.podRoutes.some((s) => {
      const sd = tryParseCidr(s.dst);
      if (!sd || formatCidr(sd) !== dstText) return false;
      return r.gw === undefined || (s.gateway !== undefined && sameIp(parseIp(s.gateway), parseIp(r.gw)));
    });
    if (!found) problems.push(`pod has no route to ${dstText}${r.gw ? ` via ${formatIp(parseIp(r.gw))}` : ''}`);
  }
  return problems;
}
