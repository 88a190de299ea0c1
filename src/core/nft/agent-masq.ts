/**
 * The agent's ip-masq: pods' traffic leaving the cluster network gets the node's address, and
 * nothing else is touched (the same policy as flanneld's --ip-masq, expressed in nftables).
 *
 * Rules, in order, in one postrouting chain at srcnat priority:
 *   pod → pod (anywhere in the cluster network)      return (never NAT inside the overlay)
 *   outside → this node's pods                        return (keep the client's address)
 *   pod → outside, not multicast                      masquerade fully-random
 * The whole table is rebuilt in one transaction (add table, delete it, add it again with its
 * chain and rules) so that a change of Network or subnet swaps atomically and the agent can
 * re-run it on every restart without duplicating rules.
 */

import { AGENT_MASQ_TABLE } from '../names.js';
import { NftTransaction, type NftChain, type NftTable } from './transaction.js';
import { parseCidr } from '../net/ip.js';

export interface AgentMasqInput {
  /** The cluster network (FLANNEL_NETWORK). */
  network: string;
  /** This node's pod subnet. */
  subnet: string;
}

export const agentMasqTable: NftTable = { kind: 'table', family: 'inet', name: AGENT_MASQ_TABLE, comment: 'weft agent: ip-masq of pod traffic leaving the cluster network' };

const postrouting: NftChain = {
  kind: 'chain',
  family: 'inet',
  table: AGENT_MASQ_TABLE,
  name: 'postrouting',
  base: { type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' },
};

/** The transaction that (re)builds the table from scratch, atomically. */
export function renderAgentMasq(input: AgentMasqInput): NftTransaction {
  const net = parseCidr(input.network);
  const family = net.address.family === 4 ? 'ip' : 'ip6';
  const multicast = family === 'ip' ? '224.0.0.0/4' : 'ff00::/8';
  const rule = (text: string, comment: string) => ({ kind: 'rule' as const, family: 'inet' as const, table: AGENT_MASQ_TABLE, chain: 'postrouting', rule: text, comment });
  return new NftTransaction()
    // "add" then "delete" makes the delete safe when the table does not exist yet.
    .add(agentMasqTable)
    .delete(agentMasqTable)
    .add(agentMasqTable)
    .add(postrouting)
    .add(rule(`${family} saddr ${input.network} ${family} daddr ${input.network} return`, 'pod to pod: no NAT inside the cluster network'))
    .add(rule(`${family} saddr != ${input.network} ${family} daddr ${input.subnet} return`, 'to this node\'s pods from outside: keep the source'))
    .add(rule(`${family} saddr ${input.network} ${family} daddr != ${multicast} masquerade fully-random`, 'pods leaving the cluster network'));
}

/** The transaction that removes the table; safe when it does not exist. */
export function renderAgentMasqRemoval(): NftTransaction {
  return new NftTransaction().add(agentMasqTable).delete(agentMasqTable);
}
