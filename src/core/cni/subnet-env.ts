/**
 * subnet.env: the file the agent writes and the `weft` CNI plugin reads, in Flannel's format, so
 * weft's agent can replace flanneld under an existing flannel CNI config and vice versa:
 *
 *   FLANNEL_NETWORK=10.244.0.0/16
 *   FLANNEL_SUBNET=10.244.1.1/24     (the node's gateway address with the subnet's prefix)
 *   FLANNEL_MTU=1450
 *   FLANNEL_IPMASQ=true
 *   WEFT_AWAIT_POLICY=true           (weft's own, only when true: see below)
 *
 * WEFT_AWAIT_POLICY says that this node's agent enforces NetworkPolicy, so the bridge plugin starts
 * each new pod cut off (src/core/nft/pod-guard.ts) until the agent has programmed its policy:
 * a pod is never reachable before its node knows what may reach it. Flannel's plugin ignores the
 * variable.
 */

import { CniError, CniErrorCode } from './errors.js';
import { formatCidr, formatIp, nextIp, networkOf, tryParseCidr } from '../net/ip.js';

export interface SubnetEnv {
  /** The cluster network, canonical CIDR. */
  network: string;
  /** The node's subnet, canonical CIDR (network form). */
  subnet: string;
  mtu: number;
  ipMasq: boolean;
  /** Whether new pods wait for the agent's policy (WEFT_AWAIT_POLICY); absent means false. */
  awaitPolicy?: boolean;
}

/** The node's gateway address with the subnet prefix, as Flannel writes FLANNEL_SUBNET. */
export function gatewayCidr(subnet: string): string {
  const net = tryParseCidr(subnet);
  if (!net) throw new Error(`subnet.env: invalid subnet "${subnet}"`);
  const gw = nextIp(networkOf(net).address);
  if (!gw) throw new Error(`subnet.env: subnet "${subnet}" has no gateway address`);
  return `${formatIp(gw)}/${net.prefix}`;
}

export function renderSubnetEnv(env: SubnetEnv): string {
  return [
    `FLANNEL_NETWORK=${env.network}`,
    `FLANNEL_SUBNET=${gatewayCidr(env.subnet)}`,
    `FLANNEL_MTU=${env.mtu}`,
    `FLANNEL_IPMASQ=${env.ipMasq}`,
    ...(env.awaitPolicy ? ['WEFT_AWAIT_POLICY=true'] : []),
    '',
  ].join('\n');
}

/** Parses subnet.env text; errors name the variable (code 7, the config the plugin depends on). */
export function parseSubnetEnv(text: string, path = 'subnet.env'): SubnetEnv {
  const vars = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new CniError(CniErrorCode.InvalidNetworkConfig, `${path}: line "${line}" is not NAME=VALUE`);
    vars.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const need = (name: string): string => {
    const v = vars.get(name);
    if (v === undefined || v === '')
      throw new CniError(CniErrorCode.InvalidNetworkConfig, `${path}: ${name} is missing`);
    return v;
  };
  const cidr = (name: string): string => {
    const net = tryParseCidr(need(name));
    if (!net)
      throw new CniError(CniErrorCode.InvalidNetworkConfig, `${path}: ${name}: invalid CIDR "${vars.get(name)}"`);
    return formatCidr(net);
  };
  const mtuText = need('FLANNEL_MTU');
  const mtu = Number(mtuText);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new CniError(
      CniErrorCode.InvalidNetworkConfig,
      `${path}: FLANNEL_MTU: must be an integer between 68 and 65535, got "${mtuText}"`,
    );
  }
  const flag = (name: string): boolean => {
    const v = vars.get(name) ?? 'false';
    if (v !== 'true' && v !== 'false')
      throw new CniError(CniErrorCode.InvalidNetworkConfig, `${path}: ${name}: must be true or false, got "${v}"`);
    return v === 'true';
  };
  return {
    network: cidr('FLANNEL_NETWORK'),
    subnet: cidr('FLANNEL_SUBNET'),
    mtu,
    ipMasq: flag('FLANNEL_IPMASQ'),
    ...(flag('WEFT_AWAIT_POLICY') ? { awaitPolicy: true } : {}),
  };
}
