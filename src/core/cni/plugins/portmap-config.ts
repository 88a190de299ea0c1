/**
 * The portmap plugin's network config: the reference portmap's fields (containernetworking/plugins
 * plugins/meta/portmap, v1.1.1 and later) validated into plain values, plus picking the pod's
 * addresses out of prevResult.
 *
 * Accepted as the reference does:
 * - `runtimeConfig.portMappings` (capability "portMappings"): [{hostPort, containerPort,
 *   protocol, hostIP}]; protocol is case-insensitive and defaults to tcp; hostIP "" means unset,
 *   "0.0.0.0" / "::" mean "any local address of that family only".
 * - `snat` (default true): masquerade DNATed connections whose replies would otherwise bypass
 *   the node (hairpin, same-subnet pods, 127.0.0.1 on the node).
 * - `masqAll` (newer reference versions): masquerade every DNATed connection to the pod.
 *
 * Accepted and ignored, with the reason logged (see `notes`):
 * - `markMasqBit`: the reference marks packets in one iptables chain and masquerades marked ones
 *   in another; weft matches the connection's own DNAT status (`ct status dnat`) and a set of
 *   (source prefix . pod IP) instead, so it needs no mark bit and never collides with
 *   kube-proxy's (bits 14, 15) or Calico's.
 * - `externalSetMarkChain`: names an iptables chain (usually KUBE-MARK-MASQ) to jump to; weft does
 *   not use iptables and does its own masquerading, so the traffic it names is masqueraded anyway.
 * - `backend` ("iptables" | "nftables", newer reference versions): weft always uses nftables.
 *
 * Rejected with code 2 (unsupported field): non-empty `conditionsV4` / `conditionsV6`. They are
 * raw iptables match arguments (e.g. "-s 10.0.0.0/8"); weft would have to translate iptables
 * syntax into nft expressions, and silently ignoring a filter would widen exposure.
 */

import { z } from 'zod';
import { BASE_CONFIG, parseWith } from '../config.js';
import { CniError, CniErrorCode } from '../errors.js';
import type { CniResult } from '../result.js';
import { tryParseCidr, tryParseIp, type IpAddress, type IpNet } from '../../net/ip.js';

export const PORTMAP_PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
export type PortmapProtocol = (typeof PORTMAP_PROTOCOLS)[number];

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: PortmapProtocol;
  /** Restricts the mapping to this host address (and so to its family); undefined means any address of both families. */
  hostIp?: IpAddress;
}

export interface PortmapConfig {
  /** The network's name (part of every element's comment, so GC of one network spares the others). */
  network: string;
  snat: boolean;
  masqAll: boolean;
  mappings: PortMapping[];
  /** Options accepted but ignored, one sentence each, for the plugin to log. */
  notes: string[];
}

const port = z
  .number({ invalid_type_error: 'must be a number' })
  .int('must be an integer')
  .min(1, 'must be 1-65535')
  .max(65535, 'must be 1-65535');

const protocol = z
  .string({ invalid_type_error: 'must be a string' })
  .transform((p) => (p === '' ? 'tcp' : p.toLowerCase()))
  .pipe(z.enum(PORTMAP_PROTOCOLS, { errorMap: () => ({ message: `must be one of ${PORTMAP_PROTOCOLS.join(', ')}` }) }));

const hostIp = z.string({ invalid_type_error: 'must be a string' }).refine(
  (s) => s === '' || tryParseIp(s) !== undefined,
  (s) => ({ message: `invalid IP address ${JSON.stringify(s)}` }),
);

const MAPPING = z
  .object({
    hostPort: port,
    containerPort: port,
    protocol: protocol.optional(),
    hostIP: hostIp.optional(),
  })
  .passthrough();

const conditions = z.array(z.string(), { invalid_type_error: 'must be a list of strings' }).nullable().optional();

export const PORTMAP_CONFIG = BASE_CONFIG.extend({
  snat: z.boolean({ invalid_type_error: 'must be a boolean' }).nullable().optional(),
  masqAll: z.boolean({ invalid_type_error: 'must be a boolean' }).nullable().optional(),
  markMasqBit: z
    .number({ invalid_type_error: 'must be a number' })
    .int('must be an integer')
    .min(0, 'must be 0-31')
    .max(31, 'must be 0-31')
    .nullable()
    .optional(),
  externalSetMarkChain: z.string({ invalid_type_error: 'must be a string' }).nullable().optional(),
  conditionsV4: conditions,
  conditionsV6: conditions,
  backend: z
    .enum(['iptables', 'nftables'], { errorMap: () => ({ message: 'must be "iptables" or "nftables"' }) })
    .nullable()
    .optional(),
  runtimeConfig: z
    .object({ portMappings: z.array(MAPPING, { invalid_type_error: 'must be a list' }).nullable().optional() })
    .passthrough()
    .optional(),
});

/** Validates a portmap config for ADD and CHECK; errors name the field (code 7, or 2 for conditions). */
export function parsePortmapConfig(raw: Record<string, unknown>): PortmapConfig {
  const c = parseWith(PORTMAP_CONFIG, raw);
  if (
    c.markMasqBit !== undefined &&
    c.markMasqBit !== null &&
    c.externalSetMarkChain !== undefined &&
    c.externalSetMarkChain !== null
  ) {
    // The reference refuses this combination too ("Cannot specify externalSetMarkChain and markMasqBit").
    throw new CniError(
      CniErrorCode.InvalidNetworkConfig,
      'invalid network config: markMasqBit: cannot be set together with externalSetMarkChain',
    );
  }
  for (const field of ['conditionsV4', 'conditionsV6'] as const) {
    const list = c[field];
    if (list && list.length > 0) {
      throw new CniError(
        CniErrorCode.UnsupportedField,
        `${field}: iptables match conditions are not supported by weft's nftables portmap`,
        'remove the field, or filter with a NetworkPolicy or your own nftables table',
      );
    }
  }
  const notes: string[] = [];
  if (c.markMasqBit !== undefined && c.markMasqBit !== null)
    notes.push('markMasqBit ignored: weft masquerades by conntrack DNAT status and needs no mark bit');
  if (c.externalSetMarkChain)
    notes.push(
      `externalSetMarkChain "${c.externalSetMarkChain}" ignored: weft uses no iptables chains and masquerades port-mapped traffic itself`,
    );
  if (c.backend === 'iptables') notes.push('backend "iptables" ignored: weft always uses nftables');
  const mappings = (c.runtimeConfig?.portMappings ?? []).map((m): PortMapping => {
    const ip = m.hostIP ? tryParseIp(m.hostIP) : undefined;
    return {
      hostPort: m.hostPort,
      containerPort: m.containerPort,
      protocol: m.protocol ?? 'tcp',
      ...(ip ? { hostIp: ip } : {}),
    };
  });
  return { network: c.name ?? '', snat: c.snat ?? true, masqAll: c.masqAll ?? false, mappings, notes };
}

/** The network name alone, for DEL and GC, which must not fail on a config ADD would refuse. */
export function networkNameOf(raw: Record<string, unknown>): string {
  return typeof raw.name === 'string' ? raw.name : '';
}

/**
 * The pod's addresses from prevResult, at most one per family: the first address of each family
 * that sits on a sandbox interface (the reference's rule: an ips[] entry whose `interface` index
 * names a host-side interface, or one without a sandbox, is skipped; entries without an index
 * are taken). Among sandbox interfaces, the one named CNI_IFNAME is preferred.
 */
export function podAddressesOf(result: CniResult, ifname: string): IpNet[] {
  const interfaces = result.interfaces ?? [];
  const rank = (index: number | undefined): number => {
    if (index === undefined) return 1;
    const iface = interfaces[index];
    if (!iface) return 1;
    if (!iface.sandbox) return -1;
    return iface.name === ifname ? 0 : 2;
  };
  const best = new Map<4 | 6, { net: IpNet; rank: number }>();
  for (const ip of result.ips ?? []) {
    const r = rank(ip.interface);
    if (r < 0) continue;
    const net = tryParseCidr(ip.address);
    if (!net) continue;
    const current = best.get(net.address.family);
    if (!current || r < current.rank) best.set(net.address.family, { net, rank: r });
  }
  return [4, 6].flatMap((f) => {
    const b = best.get(f as 4 | 6);
    return b ? [b.net] : [];
  });
}
