/**
 * The bridge plugin's network config: the reference bridge's fields (containernetworking/plugins
 * plugins/main/bridge, v1.1.1 and the newer fields that are cheap to honour) validated into plain
 * values with the reference's defaults, so configs written for it work unchanged.
 *
 * Accepted as the reference does:
 * - `bridge` (default cni0), `mtu`, `hairpinMode`, `promiscMode` (not both: the reference refuses
 *   that pair), `isGateway`, `isDefaultGateway` (implies isGateway), `forceAddress`, `ipMasq`,
 *   `enabledad`, `disableContainerInterface` (L2 only: refused with IPAM, as upstream does).
 * - `ipam: {}` or no ipam at all: an L2-only network (no addresses, no gateway, no masquerade).
 * - The container MAC from runtimeConfig.mac (capability "mac"), else args.cni.mac, else CNI_ARGS
 *   MAC=...; the reference applies them in that order of precedence.
 * - `ipMasqBackend` ("iptables" | "nftables"): validated, but weft always uses nftables.
 * - `vlan: 0`, `vlanTrunk: []`, `macspoofchk: false`, `portIsolation: false`, `preserveDefaultVlan`:
 *   the values that mean "off".
 *
 * - `macspoofchk: true`: weft's pod guard always checks MAC, IP and ARP sources of a pod with
 *   IPAM addresses, so it only says what weft does anyway.
 * - `awaitPolicy` (weft's own): a new pod waits for its policy (src/core/nft/pod-guard.ts).
 *
 * Rejected with code 2 (unsupported field): a non-zero `vlan`, a non-empty `vlanTrunk`,
 * `macspoofchk: true` without IPAM and `portIsolation: true`. Silently ignoring them would put the pod on a
 * network with less isolation than the operator asked for.
 */

import { z } from 'zod';
import { BASE_CONFIG, parseWith } from '../config.js';
import { CniError, CniErrorCode } from '../errors.js';
import { validateIfname } from '../env.js';
import { DEFAULT_BRIDGE } from '../../names.js';

export interface BridgeConfig {
  network: string;
  bridge: string;
  /** MTU for the bridge (when weft creates it) and both veth ends; undefined leaves the kernel's default. */
  mtu?: number;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  hairpinMode: boolean;
  promiscMode: boolean;
  /** Wait for IPv6 duplicate address detection in the pod instead of adding addresses with nodad. */
  enableDad: boolean;
  /** Leave the container interface down (L2-only networks). */
  disableContainerInterface: boolean;
  /** The IPAM plugin to delegate to; undefined for an L2-only network. */
  ipamType?: string;
  /** The MAC requested for the container interface, lower-case. */
  mac?: string;
  /** DNS settings from the config; when set they replace the IPAM plugin's in the result. */
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
  /**
   * weft's own field: a new pod starts cut off (the pod guard's pending sets) until the node's
   * agent has programmed NetworkPolicy for it. The `weft` plugin sets it when the agent enforces
   * policy (subnet.env WEFT_POLICY=true); see src/core/nft/pod-guard.ts.
   */
  awaitPolicy: boolean;
  /** Options accepted but ignored, one sentence each, for the plugin to log. */
  notes: string[];
}

const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;

const bool = z.boolean({ invalid_type_error: 'must be a boolean' }).nullable().optional();
const macText = z.string({ invalid_type_error: 'must be a string' }).refine(
  (s) => MAC.test(s),
  (s) => ({ message: `invalid MAC address ${JSON.stringify(s)}` }),
);

export const BRIDGE_CONFIG = BASE_CONFIG.extend({
  bridge: z
    .string({ invalid_type_error: 'must be a string' })
    .refine(
      (s) => s === '' || validateIfname(s) === undefined,
      (s) => ({ message: `invalid interface name: ${validateIfname(s) ?? ''}` }),
    )
    .nullable()
    .optional(),
  // The reference's MTU is an int where 0 means "kernel default".
  mtu: z
    .number({ invalid_type_error: 'must be a number' })
    .int('must be an integer')
    .min(0, 'must be 0 or 68-65535')
    .max(65535, 'must be at most 65535')
    .nullable()
    .optional(),
  isGateway: bool,
  isDefaultGateway: bool,
  forceAddress: bool,
  ipMasq: bool,
  ipMasqBackend: z
    .enum(['iptables', 'nftables'], { errorMap: () => ({ message: 'must be "iptables" or "nftables"' }) })
    .nullable()
    .optional(),
  hairpinMode: bool,
  promiscMode: bool,
  enabledad: bool,
  disableContainerInterface: bool,
  macspoofchk: bool,
  awaitPolicy: bool,
  portIsolation: bool,
  preserveDefaultVlan: bool,
  vlan: z
    .number({ invalid_type_error: 'must be a number' })
    .int('must be an integer')
    .min(0, 'must be 0-4094')
    .max(4094, 'must be 0-4094')
    .nullable()
    .optional(),
  vlanTrunk: z.array(z.unknown(), { invalid_type_error: 'must be a list' }).nullable().optional(),
  // ipam may be {} (L2-only); BASE_CONFIG requires a type, the reference does not.
  ipam: z
    .object({ type: z.string({ invalid_type_error: 'must be a string' }).optional() })
    .passthrough()
    .nullable()
    .optional(),
  args: z
    .object({ cni: z.object({ mac: macText.optional() }).passthrough().optional() })
    .passthrough()
    .optional(),
  runtimeConfig: z.object({ mac: macText.optional() }).passthrough().optional(),
});

function ipamTypeOf(ipam: { type?: string | undefined } | null | undefined): string | undefined {
  return ipam?.type ? ipam.type : undefined;
}

function unsupported(field: string, why: string): CniError {
  return new CniError(
    CniErrorCode.UnsupportedField,
    `${field}: unsupported field: ${why}`,
    'remove the field or set it to its default',
  );
}

/**
 * Validates a bridge config; errors name the field (code 7, or 2 for unsupported features).
 * `cniArgs` are the CNI_ARGS pairs (only MAC is read; K8S_POD_* and IgnoreUnknown are ignored).
 */
export function parseBridgeConfig(
  raw: Record<string, unknown>,
  cniArgs: ReadonlyArray<readonly [string, string]> = [],
): BridgeConfig {
  const c = parseWith(BRIDGE_CONFIG, raw);
  if (c.mtu !== undefined && c.mtu !== null && c.mtu !== 0 && c.mtu < 68) {
    throw new CniError(CniErrorCode.InvalidNetworkConfig, 'invalid network config: mtu: must be 0 or 68-65535');
  }
  if (c.hairpinMode && c.promiscMode) {
    // Same refusal as the reference: with promiscuous mode the bridge already sees its own frames.
    throw new CniError(
      CniErrorCode.InvalidNetworkConfig,
      'invalid network config: hairpinMode: cannot set hairpin mode and promiscuous mode at the same time',
    );
  }
  if (c.vlan) throw unsupported('vlan', 'VLAN tagging on the bridge port is not implemented by weft');
  if (c.vlanTrunk && c.vlanTrunk.length > 0) throw unsupported('vlanTrunk', 'VLAN trunks are not implemented by weft');
  // The pod guard checks every pod's MAC, IP and ARP (src/core/nft/pod-guard.ts), but only for a
  // pod with addresses: on an L2-only network there is nothing to check an IP against, and
  // weft does not check the MAC alone there.
  if (c.macspoofchk && !ipamTypeOf(c.ipam))
    throw unsupported('macspoofchk', 'weft checks MAC and IP sources only for pods with IPAM addresses');
  if (c.portIsolation) throw unsupported('portIsolation', 'bridge port isolation is not implemented by weft');
  const ipamType = ipamTypeOf(c.ipam);
  if (c.disableContainerInterface && ipamType) {
    throw new CniError(
      CniErrorCode.InvalidNetworkConfig,
      'invalid network config: disableContainerInterface: cannot be used with IPAM (a down interface cannot hold addresses)',
    );
  }
  let mac: string | undefined;
  const argMac = cniArgs.find(([k]) => k === 'MAC')?.[1];
  if (argMac !== undefined) {
    if (!MAC.test(argMac))
      throw new CniError(
        CniErrorCode.InvalidEnvironment,
        `CNI_ARGS: MAC: invalid MAC address ${JSON.stringify(argMac)}`,
      );
    mac = argMac;
  }
  if (c.args?.cni?.mac) mac = c.args.cni.mac;
  if (c.runtimeConfig?.mac) mac = c.runtimeConfig.mac;
  const notes: string[] = [];
  if (c.ipMasqBackend === 'iptables')
    notes.push('ipMasqBackend "iptables" ignored: weft always masquerades with nftables');
  const isDefaultGateway = c.isDefaultGateway ?? false;
  const out: BridgeConfig = {
    network: c.name ?? '',
    bridge: c.bridge ? c.bridge : DEFAULT_BRIDGE,
    isGateway: (c.isGateway ?? false) || isDefaultGateway,
    isDefaultGateway,
    forceAddress: c.forceAddress ?? false,
    ipMasq: c.ipMasq ?? false,
    hairpinMode: c.hairpinMode ?? false,
    promiscMode: c.promiscMode ?? false,
    enableDad: c.enabledad ?? false,
    disableContainerInterface: c.disableContainerInterface ?? false,
    awaitPolicy: c.awaitPolicy ?? false,
    notes,
  };
  if (c.mtu) out.mtu = c.mtu;
  if (ipamType) out.ipamType = ipamType;
  if (mac) out.mac = mac.toLowerCase();
  if (c.dns && (c.dns.nameservers?.length || c.dns.domain || c.dns.search?.length || c.dns.options?.length))
    out.dns = c.dns;
  return out;
}

/**
 * The few fields DEL needs, read leniently: DEL must clean up even after the config was edited
 * into one ADD would now refuse (the reference also tolerates this poorly; weft prefers cleaning).
 */
export function bridgeDelFieldsOf(raw: Record<string, unknown>): { ipamType?: string; bridge: string } {
  const ipam = raw.ipam;
  const type = typeof ipam === 'object' && ipam !== null ? (ipam as Record<string, unknown>).type : undefined;
  const bridge = typeof raw.bridge === 'string' && raw.bridge !== '' ? raw.bridge : DEFAULT_BRIDGE;
  return typeof type === 'string' && type !== '' ? { ipamType: type, bridge } : { bridge };
}
