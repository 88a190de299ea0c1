/**
 * The agent's ip-masq: pods' traffic leaving the cluster network gets the node's address, and
 * nothing else is touched (the same policy as flanneld's --ip-masq, expressed in nftables).
 * Which masquerade table is live for which config: src/core/nft/masquerade.ts.
 *
 * Rules, in order, in one postrouting chain at srcnat priority (LAYOUT.agentMasqPostrouting):
 *   pod → pod (anywhere in the cluster network)      return (never NAT inside the overlay)
 *   outside → this node's pods                        return (keep the client's address)
 *   pod → outside, not multicast                      masquerade fully-random
 * The table is a TableDef (agentMasqTable) that the agent's ip-masq controller syncs through the
 * nftables layer (src/adapters/nft-sync.ts): rebuilt whole in one transaction at start, after a
 * failed apply and on the periodic resync, so a restart never duplicates rules; otherwise only
 * the chains that changed (a new Network or subnet) are re-sent, still in one transaction.
 * renderAgentMasq/renderAgentMasqRemoval are the whole-table forms, used by cleanup and tests.
 */

import { AGENT_MASQ_OBJECTS, AGENT_MASQ_TABLE } from '../names.js';
import { parseCidr } from '../net/ip.js';
import { baseChainOf } from './layout.js';
import { match, prefix, ret, rule, type Part, type TableDef } from './model.js';
import { planFullRebuild, planRemoval } from './sync.js';
import type { NftTx } from './tx.js';

export interface AgentMasqInput {
  /** The cluster network (FLANNEL_NETWORK). */
  network: string;
  /** This node's pod subnet. */
  subnet: string;
}

const COMMENT = 'weft agent: ip-masq of pod traffic leaving the cluster network';

function cidrPart(text: string): { part: Part; family: 4 | 6 } {
  const net = parseCidr(text);
  const addr = text.slice(0, text.indexOf('/'));
  return { part: prefix(addr, net.prefix), family: net.address.family };
}

/** The whole table as data. */
export function agentMasqTable(input: AgentMasqInput): TableDef {
  const { part: net, family } = cidrPart(input.network);
  const { part: subnet } = cidrPart(input.subnet);
  const ip = family === 4 ? 'ip' : 'ip6';
  const multicast = family === 4 ? prefix('224.0.0.0', 4) : prefix('ff00::', 8);
  return {
    family: 'inet',
    name: AGENT_MASQ_TABLE,
    comment: COMMENT,
    sets: [],
    chains: [
      {
        name: AGENT_MASQ_OBJECTS.postroutingChain,
        base: baseChainOf('agentMasqPostrouting'),
        rules: [
          rule(
            [match(`${ip} saddr`, net), match(`${ip} daddr`, net), ret],
            'pod to pod: no NAT inside the cluster network',
          ),
          rule(
            [match(`${ip} saddr`, net, '!='), match(`${ip} daddr`, subnet), ret],
            "to this node's pods from outside: keep the source",
          ),
          rule(
            [
              match(`${ip} saddr`, net),
              match(`${ip} daddr`, multicast, '!='),
              { kind: 'masquerade', fullyRandom: true },
            ],
            'pods leaving the cluster network',
          ),
        ],
      },
    ],
  };
}

/** The transaction that (re)builds the table from scratch, atomically. */
export function renderAgentMasq(input: AgentMasqInput): NftTx {
  return planFullRebuild(agentMasqTable(input));
}

/** The transaction that removes the table; safe when it does not exist. */
export function renderAgentMasqRemoval(): NftTx {
  return planRemoval({ family: 'inet', name: AGENT_MASQ_TABLE });
}
