import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentMasqTable, renderAgentMasq, renderAgentMasqRemoval } from './agent-masq.js';
import { tracePacket } from './trace.js';

test('ip-masq renders one atomic rebuild of the agent table', () => {
  assert.equal(
    renderAgentMasq({ network: '10.244.0.0/16', subnet: '10.244.3.0/24' }).render(),
    [
      'add table inet weft-agent-masq { comment "weft agent: ip-masq of pod traffic leaving the cluster network"; }',
      'delete table inet weft-agent-masq',
      'add table inet weft-agent-masq { comment "weft agent: ip-masq of pod traffic leaving the cluster network"; }',
      'add chain inet weft-agent-masq postrouting { type nat hook postrouting priority 100; policy accept; }',
      'add rule inet weft-agent-masq postrouting ip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 return comment "pod to pod: no NAT inside the cluster network"',
      'add rule inet weft-agent-masq postrouting ip saddr != 10.244.0.0/16 ip daddr 10.244.3.0/24 return comment "to this node\'s pods from outside: keep the source"',
      'add rule inet weft-agent-masq postrouting ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random comment "pods leaving the cluster network"',
      '',
    ].join('\n'),
  );
});

test('IPv6 networks use ip6 matches and the IPv6 multicast range', () => {
  const text = renderAgentMasq({ network: 'fd00:10:244::/56', subnet: 'fd00:10:244:3::/64' }).render();
  assert.match(text, /ip6 saddr fd00:10:244::\/56 ip6 daddr != ff00::\/8 masquerade/);
});

test('removal is safe when the table is absent (add, then delete)', () => {
  assert.equal(renderAgentMasqRemoval().render().split('\n')[1], 'delete table inet weft-agent-masq');
});

const tcpFrom = (saddr: string, daddr: string) => ({
  family: 4 as const,
  saddr,
  daddr,
  protocol: 'tcp',
  sport: 40000,
  dport: 80,
});

const traceCases: Array<[string, string, string, string[]]> = [
  ['pod to a pod of another node: no NAT', '10.244.3.5', '10.244.7.9', []],
  ['pod to the internet: masquerade', '10.244.3.5', '1.1.1.1', ['masquerade']],
  ['pod to multicast: no NAT', '10.244.3.5', '239.1.1.1', []],
  ["outside to this node's pod: source kept", '192.168.1.10', '10.244.3.5', []],
  ['node to the internet: not a pod, untouched', '192.168.1.2', '1.1.1.1', []],
];

for (const [name, saddr, daddr, nat] of traceCases) {
  test(`ip-masq trace: ${name}`, () => {
    const r = tracePacket(
      [agentMasqTable({ network: '10.244.0.0/16', subnet: '10.244.3.0/24' })],
      'postrouting',
      tcpFrom(saddr, daddr),
    );
    assert.equal(r.verdict, 'accept');
    assert.deepEqual(r.nat, nat);
  });
}
