import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderAgentMasq, renderAgentMasqRemoval } from './agent-masq.js';

test('ip-masq renders one atomic rebuild of the agent table', () => {
  assert.equal(
    renderAgentMasq({ network: '10.244.0.0/16', subnet: '10.244.3.0/24' }).render(),
    [
      'add table inet weft-agent-masq { comment "weft agent: ip-masq of pod traffic leaving the cluster network"; }',
      'delete table inet weft-agent-masq',
      'add table inet weft-agent-masq { comment "weft agent: ip-masq of pod traffic leaving the cluster network"; }',
      'add chain inet weft-agent-masq postrouting { type nat hook postrouting priority srcnat; policy accept; }',
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
