/**
 * The node guard's table: a rule pair per port the backend names (none for host-gw), the peers and store endpoints
 * as set elements, endpoints by name skipped with a reason, and the table accepted by the fake
 * nft (references checked) as a whole and as a one-element difference when a peer joins.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NftFake } from '../../testkit/nft-fake.js';
import { nodeGuardTable, storeEndpointOf } from './node-guard.js';
import { planFullRebuild, planSync } from './sync.js';

const BASE = {
  network: '10.244.0.0/16',
  guardPorts: [{ protocol: 'udp' as const, port: 8472 }],
  peers: ['10.99.0.2', '10.99.0.3'],
  storeEndpoints: ['https://10.99.0.254:2379', 'http://etcd.example:2379', 'http://10.99.0.254:2380'],
};

test('node guard: store endpoints become address . port, names are skipped with the reason', () => {
  assert.deepEqual(storeEndpointOf('https://10.99.0.254:2379'), { ip: '10.99.0.254', port: 2379 });
  assert.deepEqual(storeEndpointOf('http://10.0.0.1'), { ip: '10.0.0.1', port: 80 });
  assert.match(
    String((storeEndpointOf('http://etcd.example:2379') as { skipped: string }).skipped),
    /not an IPv4 address/,
  );
  assert.match(String((storeEndpointOf('nope') as { skipped: string }).skipped), /not a URL/);
});

test('node guard: VXLAN answers only peers, pods reach neither the VXLAN port nor the store', () => {
  const text = planFullRebuild(nodeGuardTable(BASE)).render();
  assert.match(text, /add chain inet weft-node input \{ type filter hook input priority 0; policy accept; \}/);
  assert.match(text, /add rule inet weft-node input udp dport 8472 ip saddr != @peers counter drop/);
  assert.match(
    text,
    /add rule inet weft-node input ip saddr 10\.244\.0\.0\/16 ip daddr \. tcp dport @store counter drop/,
  );
  assert.match(text, /add rule inet weft-node forward ip saddr 10\.244\.0\.0\/16 udp dport 8472 counter drop/);
  assert.match(
    text,
    /add rule inet weft-node forward ip saddr 10\.244\.0\.0\/16 ip daddr \. tcp dport @store counter drop/,
  );
  assert.match(text, /add element inet weft-node peers \{ 10\.99\.0\.2, 10\.99\.0\.3 \}/);
  assert.match(text, /add element inet weft-node store \{ 10\.99\.0\.254 \. 2379, 10\.99\.0\.254 \. 2380 \}/);
  const hostGw = planFullRebuild(nodeGuardTable({ ...BASE, guardPorts: [] })).render();
  assert.doesNotMatch(hostGw, /8472/);
  assert.match(hostGw, /@store counter drop/);
});

test('node guard: every port the backend names, UDP or TCP, answers only peers and is closed to pods', () => {
  const ports = [
    { protocol: 'udp' as const, port: 8285 },
    { protocol: 'tcp' as const, port: 179 },
  ];
  const text = planFullRebuild(nodeGuardTable({ ...BASE, guardPorts: ports })).render();
  for (const { protocol, port } of ports) {
    assert.match(
      text,
      new RegExp(`add rule inet weft-node input ${protocol} dport ${port} ip saddr != @peers counter drop`),
    );
    assert.match(
      text,
      new RegExp(`add rule inet weft-node forward ip saddr 10\\.244\\.0\\.0/16 ${protocol} dport ${port} counter drop`),
    );
  }
  assert.doesNotMatch(text, /8472/);
});

test('node guard: loads in the fake nft; a peer joining is one element added', async () => {
  const nft = new NftFake();
  const first = nodeGuardTable(BASE);
  await nft.apply(planFullRebuild(first), 'node guard');
  const next = nodeGuardTable({ ...BASE, peers: [...BASE.peers, '10.99.0.4'] });
  const plan = planSync(next, first);
  assert.equal(plan.full, undefined);
  assert.equal(plan.tx.render().trim(), 'add element inet weft-node peers { 10.99.0.4 }');
  await nft.apply(plan.tx, 'peer joins');
  assert.ok(nft.table('inet', 'weft-node')?.sets.find((s) => s.name === 'peers')?.elements.length === 3);
});
