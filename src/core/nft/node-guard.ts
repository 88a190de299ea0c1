/**
 * The node guard: the agent's table (NODE_GUARD_TABLE, family inet) that keeps pods away from the
 * two things on a node that trust their sender without asking: the backend's port (VXLAN's UDP
 * port, or whatever the backend names: backends/backend.ts guardPorts), and the store.
 *
 * - VXLAN has no authentication: a node decapsulates any frame sent to its UDP port and delivers
 *   the inner packet, whatever its source, past every policy that trusts that source. Flannel
 *   documents VXLAN as trusted between hosts only; Calico's host endpoint rules do the same as
 *   this table: the port answers only the underlay addresses of the peer nodes (their live
 *   leases). A pod's frames never come from one of those addresses on their own node (input);
 *   but one routed on to another node would, after ip-masq gives it the node's address, so the
 *   node drops pod-sourced traffic to the VXLAN port in forward too.
 * - The store (etcd) holds every node's lease; a pod that can write to it can move any node's
 *   subnet. Traffic from the cluster network to a store endpoint (address and port the agent
 *   was given) is dropped on input and forward, so a pod cannot reach the store through its node.
 *
 *   table inet weft-node
 *     set peers { type ipv4_addr }                   peer nodes' underlay addresses
 *     set store { type ipv4_addr . inet_service }    store endpoints
 *     chain input   (LAYOUT.nodeGuardInput)
 *       udp dport <vxlan port> ip saddr != @peers drop         one per guarded port
 *       ip saddr <cluster network> ip daddr . tcp dport @store drop
 *     chain forward (LAYOUT.nodeGuardForward)
 *       ip saddr <cluster network> udp dport <vxlan port> drop
 *       ip saddr <cluster network> ip daddr . tcp dport @store drop
 *
 * The port rules exist only for the ports the backend names (none for host-gw). A store endpoint given by host name is not
 * in the set (nft matches addresses): the agent logs which ones it could not cover.
 * Pure: the agent's node-guard controller syncs this TableDef through src/adapters/nft-sync.ts.
 */

import { NODE_GUARD_OBJECTS, NODE_GUARD_TABLE } from '../names.js';
import { parseCidr, tryParseIp } from '../net/ip.js';
import { baseChainOf } from './layout.js';
import { counter, drop, inSet, match, prefix, rule, type RuleBody, type TableDef } from './model.js';

/** A port on the node's underlay a backend listens on (VXLAN's UDP port, BGP's TCP 179, ...). */
export interface GuardedPort {
  protocol: 'udp' | 'tcp';
  port: number;
}

export interface NodeGuardInput {
  /** The cluster network (pods' addresses), IPv4 CIDR. */
  network: string;
  /** The underlay ports the backend listens on (vxlan: its UDP port): only peers may send to them. */
  guardPorts: readonly GuardedPort[];
  /** The peer nodes' underlay addresses. */
  peers: readonly string[];
  /** The store endpoints (`http://10.0.0.1:2379`); those naming a host by name are skipped. */
  storeEndpoints: readonly string[];
}

/** A store endpoint as address and port, or why the table cannot cover it. */
export function storeEndpointOf(url: string): { ip: string; port: number } | { skipped: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { skipped: `${url}: not a URL` };
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const ip = tryParseIp(host);
  if (!ip || ip.family !== 4) return { skipped: `${url}: not an IPv4 address (nft matches addresses, not names)` };
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return { ip: host, port };
}

/** The whole table as data. */
export function nodeGuardTable(input: NodeGuardInput): TableDef {
  const net = parseCidr(input.network);
  const pods = prefix(input.network.slice(0, input.network.indexOf('/')), net.prefix);
  const store = input.storeEndpoints
    .map(storeEndpointOf)
    .flatMap((e) => ('ip' in e ? [{ key: [e.ip, e.port] as const }] : []));
  const toStore = rule(
    [match('ip saddr', pods), inSet(['ip daddr', 'tcp dport'], NODE_GUARD_OBJECTS.storeSet), counter, drop],
    'pods never reach the cluster store',
  );
  const input_: RuleBody[] = [];
  const forward: RuleBody[] = [];
  for (const g of input.guardPorts) {
    const dport = `${g.protocol} dport` as const;
    input_.push(
      rule(
        [match(dport, g.port), inSet('ip saddr', NODE_GUARD_OBJECTS.peerSet, '!='), counter, drop],
        `the backend's ${g.port}/${g.protocol} only from the peer nodes' underlay addresses`,
      ),
    );
    forward.push(
      rule(
        [match('ip saddr', pods), match(dport, g.port), counter, drop],
        `a pod's packets to a backend port (${g.port}/${g.protocol}): ip-masq would give them this node's address`,
      ),
    );
  }
  input_.push(toStore);
  forward.push(toStore);
  return {
    family: 'inet',
    name: NODE_GUARD_TABLE,
    comment: "weft agent: the backend's ports only from peer nodes; pods never reach the store",
    sets: [
      {
        name: NODE_GUARD_OBJECTS.peerSet,
        key: ['ipv4_addr'],
        elements: [...new Set(input.peers)].sort().map((p) => ({ key: [p] })),
      },
      {
        name: NODE_GUARD_OBJECTS.storeSet,
        key: ['ipv4_addr', 'inet_service'],
        elements: dedupeKeys(store).map((e) => ({ key: [...e.key] })),
      },
    ],
    chains: [
      { name: NODE_GUARD_OBJECTS.inputChain, base: baseChainOf('nodeGuardInput'), rules: input_ },
      { name: NODE_GUARD_OBJECTS.forwardChain, base: baseChainOf('nodeGuardForward'), rules: forward },
    ],
  };
}

function dedupeKeys<T extends { key: readonly (string | number)[] }>(list: T[]): T[] {
  const seen = new Set<string>();
  return list.filter((e) => {
    const k = e.key.join(' ');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
