/**
 * The layout registry: one entry per (table, chain), priorities from their named slots, hooks in
 * netfilter's order.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseChainOf, baseChainsOnHook, baseChainsOfTable, LAYOUT, priorityOf } from './layout.js';

test('layout: every base chain is registered once and takes its priority from its slot', () => {
  const seen = new Set<string>();
  for (const s of Object.values(LAYOUT)) {
    const id = `${s.family} ${s.table} ${s.chain}`;
    assert.ok(!seen.has(id), `${id} is registered twice`);
    seen.add(id);
    assert.equal(s.priority, priorityOf(s.family, s.slot)! + ((s as { offset?: number }).offset ?? 0));
    assert.ok(s.why.length > 20, `${id} says why it sits there`);
  }
});

test('layout: chains of a hook come lowest priority first', () => {
  const post = baseChainsOnHook('postrouting');
  assert.ok(post.length >= 3);
  for (let i = 1; i < post.length; i++) assert.ok(post[i - 1]!.priority <= post[i]!.priority);
  assert.deepEqual(baseChainOf('policyForward'), { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' });
  assert.deepEqual(
    baseChainsOfTable('inet', 'weft-portmap')
      .map((s) => s.chain)
      .sort(),
    ['output', 'postrouting', 'prerouting'],
  );
});
