/**
 * Planning a bridge attachment: from the bridge config and the IPAM result to the plain values the
 * plugin then makes real (addresses and routes in the pod, gateway addresses on the bridge, the
 * families that need forwarding, the masquerade entries) and the result it reports.
 *
 * Pure, so the reference bridge's address and route rules live in one testable place:
 * - isGateway: an IPAM address without a gateway gets the first address of its subnet as gateway
 *   (reference: calcGatewayIP), and every gateway goes on the bridge with the subnet's prefix.
 * - isDefaultGateway: one default route per family via that family's first gateway, unless IPAM
 *   already routes the default via the same gateway (or via none); a default via another gateway
 *   is an error, as upstream says "isDefaultGateway ineffective".
 * - A route without `gw` goes via the first gateway of its family (reference: ipam.ConfigureIface),
 *   or straight out of the interface when the family has no gateway.
 * - Bridge addresses: an existing different IPv4 address, or an overlapping IPv6 one, is a conflict
 *   unless forceAddress, which replaces it (reference: ensureAddr).
 */

import { CniError, CniErrorCode } from '../cni/errors.js';
import type { CniIpConfig, CniResult, CniRoute } from '../cni/result.js';
import type { BridgeConfig } from '../cni/plugins/bridge-config.js';
import {
  cidrContains,
  cidrsOverlap,
  formatCidr,
  formatIp,
  formatIpNet,
  networkOf,
  nextIp,
  parseIp,
  sameIp,
  tryParseCidr,
  tryParseIp,
  type IpAddress,
  type IpFamily,
  type IpNet,
} from '../net/ip.js';

/** Index of the container interface in the result's interfaces: [bridge, host veth, container]. */
export const CONTAINER_INTERFACE_INDEX = 2;

export interface PodAddress {
  /** "addr/prefix" as it goes on the interface. */
  cidr: string;
  family: IpFamily;
  /** IPv6 only: add with nodad (skip duplicate address detection) because enabledad is off. */
  nodad: boolean;
}

export interface PodRoute extends CniRoute {
  /** The gateway actually used (the route's own, else its family's gateway), if any. */
  gw?: string;
}

/** One pod address to masquerade: traffic from `address` to outside `subnet`. */
export interface MasqEntry {
  family: IpFamily;
  address: string;
  /** The pod's own subnet in network form ("10.244.0.0/16"). */
  subnet: string;
}

export interface AttachmentPlan {
  /** The result's ips: gateways filled in, interface index pointing at the container interface. */
  ips: CniIpConfig[];
  /** The result's routes: IPAM's plus the default routes isDefaultGateway adds. */
  routes: CniRoute[];
  podAddresses: PodAddress[];
  podRoutes: PodRoute[];
  /** Gateway addresses (gateway/subnet prefix) the bridge must hold; empty unless isGateway. */
  bridgeAddresses: IpNet[];
  /** Families whose forwarding the node must enable (isGateway only). */
  forwardFamilies: IpFamily[];
  masq: MasqEntry[];
}

function familyOf(ip: IpAddress): IpFamily {
  return ip.family;
}

function defaultDst(family: IpFamily): string {
  return family === 4 ? '0.0.0.0/0' : '::/0';
}

function isDefaultRoute(dst: string): IpFamily | undefined {
  const net = tryParseCidr(dst);
  return net && net.prefix === 0 ? net.address.family : undefined;
}

function invalidResult(message: string): CniError {
  return new CniError(CniErrorCode.DelegateFailure, `IPAM result: ${message}`);
}

/** Plans the attachment; throws a CniError when the IPAM result cannot be used. */
export function planAttachment(cfg: BridgeConfig, ipam: CniResult): AttachmentPlan {
  const ipamIps = ipam.ips ?? [];
  if (ipamIps.length === 0) throw invalidResult('the IPAM plugin returned no IP addresses');
  const gateways = new Map<IpFamily, IpAddress>();
  const ips: CniIpConfig[] = [];
  const podAddresses: PodAddress[] = [];
  const bridgeAddresses: IpNet[] = [];
  const masq: MasqEntry[] = [];
  for (const [i, ipc] of ipamIps.entries()) {
    const net = tryParseCidr(ipc.address);
    if (!net) throw invalidResult(`ips[${i}].address: invalid CIDR "${ipc.address}"`);
    if (net.prefix === (net.address.family === 4 ? 32 : 128) && cfg.isGateway) {
      throw invalidResult(`ips[${i}].address: ${ipc.address} leaves no room for a gateway on the bridge (isGateway)`);
    }
    let gateway = ipc.gateway !== undefined ? tryParseIp(ipc.gateway) : undefined;
    if (ipc.gateway !== undefined && !gateway) throw invalidResult(`ips[${i}].gateway: invalid IP "${ipc.gateway}"`);
    if (!gateway && cfg.isGateway) gateway = nextIp(networkOf(net).address);
    if (gateway && gateway.family !== net.address.family) {
      throw invalidResult(`ips[${i}].gateway: ${formatIp(gateway)} is not of the same family as ${ipc.address}`);
    }
    if (gateway && sameIp(gateway, net.address)) {
      throw invalidResult(`ips[${i}]: the pod address ${ipc.address} is its own gateway`);
    }
    const family = familyOf(net.address);
    if (gateway && !gateways.has(family)) gateways.set(family, gateway);
    ips.push({
      address: formatIpNet(net),
      ...(gateway ? { gateway: formatIp(gateway) } : {}),
      interface: CONTAINER_INTERFACE_INDEX,
    });
    podAddresses.push({ cidr: formatIpNet(net), family, nodad: family === 6 && !cfg.enableDad });
    if (cfg.isGateway && gateway) {
      const gw: IpNet = { address: gateway, prefix: net.prefix };
      if (!bridgeAddresses.some((b) => sameIp(b.address, gw.address) && b.prefix === gw.prefix))
        bridgeAddresses.push(gw);
    }
    if (cfg.ipMasq) masq.push({ family, address: formatIp(net.address), subnet: formatCidr(net) });
  }

  const routes: CniRoute[] = (ipam.routes ?? []).map((r) => ({ ...r }));
  if (cfg.isDefaultGateway) {
    for (const [family, gw] of gateways) {
      const existing = routes.find((r) => isDefaultRoute(r.dst) === family);
      if (existing) {
        if (existing.gw !== undefined && !sameIp(parseIp(existing.gw), gw)) {
          throw new CniError(
            CniErrorCode.InvalidNetworkConfig,
            `invalid network config: isDefaultGateway: ineffective because IPAM sets the default route via ${existing.gw}, not the bridge's ${formatIp(gw)}`,
          );
        }
        continue;
      }
      routes.push({ dst: defaultDst(family), gw: formatIp(gw) });
    }
  }

  const connected = podAddresses.map((a) => networkOf(tryParseCidr(a.cidr) as IpNet));
  const podRoutes: PodRoute[] = [];
  for (const [i, r] of routes.entries()) {
    const dst = tryParseCidr(r.dst);
    if (!dst) throw invalidResult(`routes[${i}].dst: invalid CIDR "${r.dst}"`);
    const family = dst.address.family;
    if (r.gw !== undefined) {
      const gw = tryParseIp(r.gw);
      if (!gw || gw.family !== family)
        throw invalidResult(`routes[${i}].gw: "${r.gw}" is not an address of the same family as ${r.dst}`);
    }
    const gw = r.gw ?? (gateways.has(family) ? formatIp(gateways.get(family) as IpAddress) : undefined);
    // The kernel already made the connected route for each pod address; adding it again would
    // fail with "File exists" (and the reference treats that as success too).
    if (!gw && connected.some((c) => c.prefix === dst.prefix && sameIp(c.address, networkOf(dst).address))) continue;
    if (!gateways.has(family) && !podAddresses.some((a) => a.family === family) && !gw) {
      throw invalidResult(
        `routes[${i}]: no ${family === 4 ? 'IPv4' : 'IPv6'} address or gateway to route ${r.dst} through`,
      );
    }
    podRoutes.push({ ...r, dst: formatCidr(dst), ...(gw ? { gw } : {}) });
  }

  const forwardFamilies = cfg.isGateway
    ? ([4, 6] as IpFamily[]).filter((f) => bridgeAddresses.some((b) => b.address.family === f))
    : [];
  return { ips, routes, podAddresses, podRoutes, bridgeAddresses, forwardFamilies, masq };
}

export interface BridgeAddressChange {
  add: IpNet[];
  del: IpNet[];
}

/** IPv6 link-local addresses (fe80::/10) are the kernel's own; they never conflict. */
function isLinkLocal(net: IpNet): boolean {
  return net.address.family === 6 && net.address.value >> 118n === 0x3fan;
}

/**
 * What to change on the bridge so it holds `wanted` (reference ensureAddr semantics): exact
 * matches are kept; a conflicting address is an error, or is deleted when forceAddress is set.
 * Addresses already wanted never conflict with each other, so a dual-range IPAM works.
 */
export function planBridgeAddresses(
  bridge: string,
  existing: readonly IpNet[],
  wanted: readonly IpNet[],
  forceAddress: boolean,
): BridgeAddressChange {
  const same = (a: IpNet, b: IpNet) => a.prefix === b.prefix && sameIp(a.address, b.address);
  const add = wanted.filter((w) => !existing.some((e) => same(e, w)));
  const del: IpNet[] = [];
  for (const w of add) {
    for (const e of existing) {
      if (e.address.family !== w.address.family || isLinkLocal(e) || wanted.some((x) => same(x, e))) continue;
      const conflict = w.address.family === 4 || cidrsOverlap(e, w) || cidrContains(e, w.address);
      if (!conflict) continue;
      if (!forceAddress) {
        throw new CniError(
          CniErrorCode.InvalidNetworkConfig,
          `bridge ${bridge} already has address ${formatIpNet(e)}, different from the gateway ${formatIpNet(w)} (set forceAddress to replace it)`,
        );
      }
      if (!del.some((d) => same(d, e))) del.push(e);
    }
  }
  return { add, del };
}
