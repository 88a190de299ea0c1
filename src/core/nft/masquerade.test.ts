/**
 * The masquerade decision, and the story it tells traced through the real tables: under the
 * weft plugin exactly one of the agent's and the bridge's tables masquerades pod traffic.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentMasqTable } from './agent-masq.js';
import { masqElementsFor, masqTable } from './masq.js';
import { bridgeIpMasq } from './masquerade.js';
import type { TableDef } from './model.js';
import { tracePacket } from './trace.js';

const cases: Array<[string, boolean, unknown, boolean]> = [
  ['agent masquerades: the bridge does not', true, undefined, false],
  ['agent does not: the bridge does', false, undefined, true],
  ['delegate.ipMasq true wins', true, true, true],
  ['delegate.ipMasq false wins', false, false, false],
  ['a non-boolean delegate value is ignored', true, 'yes', false],
];

for (const [name, agent, delegate, want] of cases)
  test(`bridgeIpMasq: ${name}`, () => assert.equal(bridgeIpMasq(agent, delegate), want));

test('exactly one table masquerades a pod leaving the cluster, whichever way the agent is configured', () => {
  for (const agentIpMasq of [true, false]) {
    const tables: TableDef[] = [];
    if (agentIpMasq) tables.push(agentMasqTable({ network: '10.244.0.0/16', subnet: '10.244.3.0/24' }));
    if (bridgeIpMasq(agentIpMasq, undefined))
      tables.push(
        masqTable(masqElementsFor('c1/eth0', [{ family: 4, address: '10.244.3.5', subnet: '10.244.3.0/24' }])),
      );
    const r = tracePacket(tables, 'postrouting', {
      family: 4,
      saddr: '10.244.3.5',
      daddr: '1.1.1.1',
      protocol: 'tcp',
      sport: 1,
      dport: 443,
    });
    assert.deepEqual(r.nat, ['masquerade'], `agent ip-masq ${agentIpMasq}`);
    assert.equal(new Set(r.steps.filter((s) => s.action === 'masquerade').map((s) => s.table)).size, 1);
  }
});
