import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareMatrices, matrixFrom, probeJson, renderTruthTable } from './probe-table.js';

const pods = ['x/a', 'x/b', 'y/long'];
const m = matrixFrom(pods, 80, 'TCP', (from, to) => !(from === 'x/b' && to === 'y/long'));

test('matrixFrom: one result per ordered pair, row-major', () => {
  assert.equal(m.results.length, 9);
  assert.deepEqual(
    m.results.slice(0, 3).map((r) => r.to),
    pods,
  );
  assert.deepEqual(m.results[5], { from: 'x/b', to: 'y/long', connected: false });
});

test('probeJson: exactly the documented keys, in order', () => {
  const text = probeJson(m);
  const parsed = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed), ['port', 'protocol', 'pods', 'results']);
  assert.ok(text.startsWith('{\n  "port": 80,\n  "protocol": "TCP",'));
  assert.deepEqual((parsed.results as Array<Record<string, unknown>>)[0], { from: 'x/a', to: 'x/a', connected: true });
});

test('reach prints the same shape with "allowed"', () => {
  const parsed = JSON.parse(probeJson(m, 'allowed')) as { results: Array<Record<string, unknown>> };
  assert.deepEqual(Object.keys(parsed.results[0]!), ['from', 'to', 'allowed']);
  assert.match(
    renderTruthTable(m, 'allowed'),
    /^policy verdicts \(computed\) on 80\/TCP: .*\. allowed, X not allowed\n[\s\S]*8\/9 allowed\n$/,
  );
});

test("the truth table: sources are rows, each cell under its destination's name", () => {
  assert.equal(
    renderTruthTable(m),
    [
      'reachability (real traffic) on 80/TCP: rows are sources, columns destinations; . connected, X not connected',
      'from    x/a x/b y/long',
      'x/a     .   .   .',
      'x/b     .   .   X',
      'y/long  .   .   .',
      '8/9 connected',
      '',
    ].join('\n'),
  );
});

test('compareMatrices names each differing pair; equal matrices give nothing', () => {
  const all = matrixFrom(pods, 80, 'TCP', () => true);
  assert.deepEqual(compareMatrices(m, m), []);
  assert.deepEqual(compareMatrices(all, m), ['x/b -> y/long: expected connected, got not connected']);
  assert.throws(
    () =>
      compareMatrices(
        all,
        matrixFrom(pods, 81, 'TCP', () => true),
      ),
    /cannot compare/,
  );
});
