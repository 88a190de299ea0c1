/**
 * Hops from what the kernel reported, on traces recorded with `weft trace` in a 3-node vxlan lab
 * (examples/xyz and examples/services, a deny-all-ingress policy in namespace z): through a
 * ClusterIP (DNAT on the sender's node, delivered on another node), a cross-node connection and a
 * same-node ping dropped by the policy, and a cross-node connection allowed.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { hopsOf, renderHops, type SeenNamespace } from './hops.js';

const FIXTURE = fileURLToPath(new URL('../../../../src/core/trace/hops.fixture.json', import.meta.url));
const recorded = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, { source: string; seen: SeenNamespace[] }>;

test('trace hops: through a ClusterIP the DNAT shows on the node, and the packet is delivered to the endpoint', () => {
  const { source, seen } = recorded.service!;
  const { hops, end } = hopsOf(seen, source);
  // numgen chose w1, on the sender's own node: bridged from cni0 back to cni0, the TTL unchanged.
  assert.deepEqual(
    hops.map((h) => [h.label, h.ttl]),
    [
      ['pod x/a', 64],
      ['node n1', 64],
      ['pod web/w1', 64],
    ],
  );
  const n1 = hops[1]!;
  assert.equal(n1.iif, 'cni0');
  assert.equal(n1.oif, 'cni0');
  assert.match(n1.first, /→ 10\.96\.0\.16:80 tcp syn$/);
  assert.match(n1.last, /→ 10\.244\.146\.\d+:808\d tcp syn$/);
  const rules = n1.rules.map((r) => `${r.chain} ${r.verdict}`);
  assert.deepEqual(rules.slice(0, 2), ['services goto cluster-3', `cluster-3 goto ${rules[2]!.split(' ')[0]!}`]);
  assert.match(rules[2]!, /^pick-\d accept$/);
  assert.match(n1.rules[2]!.rule, /^dnat ip to ip daddr \. meta l4proto \. th dport map @endpoints-\d$/);
  assert.deepEqual(end, { kind: 'delivered', at: 'pod web/w1' });
});

test('trace hops: a policy drop names the node, the chain and the policy', () => {
  for (const [name, at] of [
    ['policy-drop', 'node n3'],
    ['same-node-icmp-drop', 'node n1'],
  ] as const) {
    const { source, seen } = recorded[name]!;
    const { hops, end } = hopsOf(seen, source);
    assert.equal(end.kind, 'dropped');
    if (end.kind !== 'dropped') return;
    assert.equal(end.at, at);
    assert.equal(end.rule?.comment, 'no ingress rule of z/deny-in allows this');
    assert.match(end.rule?.rule ?? '', /^counter drop$/);
    assert.equal(hops.at(-1)!.label, at, `${name}: nothing after the drop`);
    assert.match(
      renderHops(hops, end),
      /dropped in node n\d by inet weft-policy in-\w+ \("no ingress rule of z\/deny-in allows this"\)/,
    );
  }
});

test('trace hops: an allowed pod-to-pod connection crosses its nodes with no NAT', () => {
  const { source, seen } = recorded['pod-to-pod']!;
  const { hops, end } = hopsOf(seen, source);
  assert.equal(end.kind, 'delivered');
  for (const h of hops) assert.equal(h.first, h.last, `${h.label}: the packet is not rewritten`);
  assert.ok(hops.every((h) => h.rules.every((r) => r.verdict !== 'drop')));
});

test('trace hops: property: the order along the path does not depend on the order namespaces reported', () => {
  const { source, seen } = recorded.service!;
  const want = hopsOf(seen, source).hops.map((h) => h.label);
  fc.assert(
    fc.property(fc.shuffledSubarray(seen, { minLength: seen.length, maxLength: seen.length }), (order) => {
      assert.deepEqual(
        hopsOf(order, source).hops.map((h) => h.label),
        want,
      );
    }),
  );
  assert.deepEqual(hopsOf([], source), { hops: [], end: { kind: 'lost', after: undefined } });
});
