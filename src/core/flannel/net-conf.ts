/**
 * Flannel's net-conf.json, validated: the cluster network, the subnet size each node leases,
 * the range subnets are picked from, and the backend. Configs written for flanneld work
 * unchanged (field names and defaults as Flannel documents them); every error names the field.
 *
 * Differences from flanneld: the default backend is vxlan (Flannel's historic default "udp" is
 * long deprecated, but available as Type "udp"), only IPv4 networks are supported (EnableIPv6/IPv6Network are refused), and
 * unknown fields are errors rather than silently ignored, so a typo never goes unnoticed.
 */

import { z } from 'zod';
import { describeZodError } from '../cni/config.js';
import {
  bitsOf,
  cidrContains,
  formatCidr,
  formatIp,
  ipFromValue,
  networkOf,
  tryParseCidr,
  tryParseIp,
  type IpNet,
} from '../net/ip.js';
import type { BackendNetConf } from '../backend/state.js';
import { asNumberProblem, type BgpConf } from '../bgp/bird-config.js';

export class NetConfError extends Error {
  override readonly name = 'NetConfError';
}

const BACKEND = z
  .object({
    Type: z
      .enum(['vxlan', 'host-gw', 'udp', 'bgp'], {
        errorMap: () => ({ message: 'must be "vxlan", "host-gw", "udp" or "bgp"' }),
      })
      .default('vxlan'),
    // Defaults are applied after parsing: VNI and DirectRouting are refused for udp only when written.
    VNI: z
      .number()
      .int('must be an integer')
      .min(0, 'must be between 0 and 16777215')
      .max(16777215, 'must be between 0 and 16777215')
      .optional(),
    // vxlan's UDP port (default 8472, the kernel's) or udp's (default 8285, Flannel's).
    Port: z
      .number()
      .int('must be an integer')
      .min(1, 'must be between 1 and 65535')
      .max(65535, 'must be between 1 and 65535')
      .optional(),
    DirectRouting: z.boolean().optional(),
    MTU: z
      .number()
      .int('must be an integer')
      .min(68, 'must be at least 68')
      .max(65535, 'must be at most 65535')
      .optional(),
    // Accepted for compatibility with Flannel configs; weft's VXLAN never uses GBP or learning.
    GBP: z.literal(false).optional(),
    Learning: z.literal(false).optional(),
    // bgp (see src/core/bgp/bird-config.ts); ranges are checked below, with the reserved numbers.
    ASNumber: z.number().int('must be an integer').optional(),
    Peering: z.enum(['mesh', 'router'], { errorMap: () => ({ message: 'must be "mesh" or "router"' }) }).optional(),
    RouterASNumber: z.number().int('must be an integer').optional(),
    RouterAddress: z.union([z.string(), z.array(z.string()).min(1, 'must name at least one address')]).optional(),
  })
  .strict();

/** Flannel's default ports: the kernel's VXLAN port, and the udp backend's own (bgp: BGP's, unused). */
const DEFAULT_PORT = { vxlan: 8472, 'host-gw': 8472, udp: 8285, bgp: 179 } as const;

/** Flannel's (and weft's vxlan) fields that mean nothing to another backend. */
const VXLAN_ONLY = ['VNI', 'Port', 'DirectRouting', 'MTU', 'GBP', 'Learning'] as const;
const BGP_ONLY = ['ASNumber', 'Peering', 'RouterASNumber', 'RouterAddress'] as const;

/** The AS number weft's bgp backend uses by default: the first of the private 16-bit range (RFC 6996), as Calico's. */
export const DEFAULT_AS_NUMBER = 64512;

const RAW = z
  .object({
    Network: z.string({ required_error: 'is required' }),
    SubnetLen: z.number().int('must be an integer').optional(),
    SubnetMin: z.string().optional(),
    SubnetMax: z.string().optional(),
    Backend: BACKEND.default({}),
    EnableIPv4: z.literal(true).optional(),
  })
  .strict();

export interface NetConf {
  network: string;
  subnetLen: number;
  /** First and last subnet that may be leased (canonical CIDRs of length subnetLen). */
  subnetMin: string;
  subnetMax: string;
  backend: BackendNetConf['backend'];
}

/** The parts the backends need. */
export function backendNetConf(c: NetConf): BackendNetConf {
  return { network: c.network, backend: c.backend };
}

function fail(field: string, reason: string): never {
  throw new NetConfError(`net-conf: ${field}: ${reason}`);
}

/** Parses net-conf.json text; throws NetConfError("net-conf: <field>: <reason>"). */
export function parseNetConf(text: string): NetConf {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new NetConfError(`net-conf: not valid JSON: ${(err as Error).message}`);
  }
  const parsed = RAW.safeParse(value);
  if (!parsed.success) throw new NetConfError(`net-conf: ${describeZodError(parsed.error)}`);
  const raw = parsed.data;
  const net = tryParseCidr(raw.Network);
  if (!net) fail('Network', `invalid CIDR "${raw.Network}"`);
  if (net.address.family !== 4) fail('Network', `"${raw.Network}" is IPv6; weft supports IPv4 cluster networks only`);
  const network = networkOf(net);
  // Flannel's rules (CheckNetworkConfig): the network must hold at least four subnets, as the
  // first one is skipped; by default /24 subnets, or a quarter of a network smaller than a /22.
  if (raw.SubnetLen === undefined && network.prefix > 28)
    fail('Network', `${formatCidr(network)} is too small: the smallest useful network is a /28`);
  const subnetLen = raw.SubnetLen ?? (network.prefix <= 22 ? 24 : network.prefix + 2);
  if (subnetLen > 30) fail('SubnetLen', `${subnetLen} leaves no room for pods: it must be at most 30`);
  if (subnetLen < network.prefix + 2)
    fail(
      'SubnetLen',
      `${subnetLen} is too small for Network ${formatCidr(network)}: the network must hold at least four subnets, so SubnetLen must be at least ${network.prefix + 2}`,
    );
  const size = 1n << BigInt(bitsOf(4) - subnetLen);
  const first = network.address.value;
  const last = first + (1n << BigInt(bitsOf(4) - network.prefix)) - size;
  // Flannel skips the network's first subnet by default (its .0 would be the network address).
  const defaultMin = first + size;
  const bound = (field: 'SubnetMin' | 'SubnetMax', text: string | undefined, fallback: bigint): bigint => {
    if (text === undefined) return fallback;
    const ip = tryParseIp(text.includes('/') ? text.slice(0, text.indexOf('/')) : text);
    if (!ip || ip.family !== 4) fail(field, `invalid address "${text}"`);
    if (!cidrContains(network, ip)) fail(field, `${text} is not inside Network ${formatCidr(network)}`);
    if ((ip.value - first) % size !== 0n) fail(field, `${text} is not the start of a /${subnetLen} subnet`);
    return ip.value;
  };
  const min = bound('SubnetMin', raw.SubnetMin, defaultMin);
  const max = bound('SubnetMax', raw.SubnetMax, last);
  if (min > max)
    fail(
      'SubnetMin',
      `${raw.SubnetMin ?? formatIp(ipFromValue(4, min))} is after SubnetMax ${raw.SubnetMax ?? formatIp(ipFromValue(4, max))}`,
    );
  const b = raw.Backend;
  if (b.Type === 'host-gw' && b.DirectRouting) fail('Backend.DirectRouting', 'only applies to the vxlan backend');
  if (b.Type === 'udp') {
    // Flannel's udp backend reads only Port; the rest would be silently meaningless here.
    const vxlanOnly = { VNI: b.VNI, DirectRouting: b.DirectRouting, GBP: b.GBP, Learning: b.Learning };
    for (const [field, value] of Object.entries(vxlanOnly))
      if (value !== undefined) fail(`Backend.${field}`, 'only applies to the vxlan backend, not udp');
    if (b.MTU !== undefined)
      fail('Backend.MTU', "only applies to the vxlan backend: udp's device MTU is the underlay's minus 28");
  }
  const written = backendFieldsWritten(value);
  const backend: NetConf['backend'] = {
    type: b.Type,
    vni: b.VNI ?? 1,
    port: b.Port ?? DEFAULT_PORT[b.Type],
    directRouting: b.DirectRouting ?? false,
  };
  if (b.MTU !== undefined) backend.mtu = b.MTU;
  if (b.Type !== 'bgp') {
    for (const f of BGP_ONLY) if (written.has(f)) fail(`Backend.${f}`, 'only applies to the bgp backend');
  } else {
    // No field a user wrote is dropped: the VXLAN settings would silently do nothing here.
    for (const f of VXLAN_ONLY) if (written.has(f)) fail(`Backend.${f}`, `does not apply to the bgp backend`);
    backend.bgp = bgpConf(b, network);
  }
  return {
    network: formatCidr(network),
    subnetLen,
    subnetMin: `${formatIp(ipFromValue(4, min))}/${subnetLen}`,
    subnetMax: `${formatIp(ipFromValue(4, max))}/${subnetLen}`,
    backend,
  };
}

/** The Backend keys present in the JSON as written (zod's defaults make the parsed object say nothing of it). */
function backendFieldsWritten(value: unknown): Set<string> {
  const b = (value as { Backend?: unknown }).Backend;
  return new Set(b !== null && typeof b === 'object' ? Object.keys(b) : []);
}

function bgpConf(b: z.infer<typeof BACKEND>, network: IpNet): BgpConf {
  const asNumber = b.ASNumber ?? DEFAULT_AS_NUMBER;
  const asProblem = asNumberProblem(asNumber);
  if (asProblem) fail('Backend.ASNumber', asProblem);
  const peering = b.Peering ?? 'mesh';
  if (peering === 'mesh') {
    if (b.RouterAddress !== undefined) fail('Backend.RouterAddress', 'only applies with Backend.Peering "router"');
    if (b.RouterASNumber !== undefined) fail('Backend.RouterASNumber', 'only applies with Backend.Peering "router"');
    return { asNumber, peering, routerAsNumber: asNumber, routerAddresses: [] };
  }
  const routerAsNumber = b.RouterASNumber ?? asNumber;
  const routerProblem = asNumberProblem(routerAsNumber);
  if (routerProblem) fail('Backend.RouterASNumber', routerProblem);
  if (b.RouterAddress === undefined)
    fail('Backend.RouterAddress', 'is required with Backend.Peering "router" (the router address on each segment)');
  const texts = typeof b.RouterAddress === 'string' ? [b.RouterAddress] : b.RouterAddress;
  const routerAddresses: string[] = [];
  for (const text of texts) {
    const ip = tryParseIp(text);
    if (!ip || ip.family !== 4) fail('Backend.RouterAddress', `"${text}" is not an IPv4 address`);
    if (cidrContains(network, ip))
      fail('Backend.RouterAddress', `${text} is inside the pod network ${formatCidr(network)}`);
    const canonical = formatIp(ip);
    if (routerAddresses.includes(canonical)) fail('Backend.RouterAddress', `${text} is listed twice`);
    routerAddresses.push(canonical);
  }
  return { asNumber, peering, routerAsNumber, routerAddresses };
}

/** Every candidate subnet, as [first, last] network addresses and the size step. */
export function subnetSpan(c: NetConf): { first: bigint; last: bigint; step: bigint; prefix: number } {
  const min = tryParseCidr(c.subnetMin) as IpNet;
  const max = tryParseCidr(c.subnetMax) as IpNet;
  return {
    first: min.address.value,
    last: max.address.value,
    step: 1n << BigInt(32 - c.subnetLen),
    prefix: c.subnetLen,
  };
}
