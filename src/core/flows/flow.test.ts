// Flows, pure parts: the bounded ring (a property: whatever is pushed, it holds at most its
// capacity, the newest, in order), the filters and the flags of `weft flows` with their errors,
// the merged order and the text line. The kernel's NFLOG messages: ./nflog.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  flowFilterOf,
  flowMatches,
  flowQueryFilter,
  formatFlow,
  mergeFlows,
  Ring,
  type Flow,
  type FlowFlags,
} from './flow.js';

test('property: the ring holds the newest min(n, capacity) entries, oldest first', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer(), { maxLength: 200 }), (capacity, items) => {
      const ring = new Ring<number>(capacity);
      for (const i of items) ring.push(i);
      assert.equal(ring.size, Math.min(items.length, capacity));
      assert.deepEqual(ring.list(), items.slice(Math.max(0, items.length - capacity)));
      assert.equal(ring.overwritten, Math.max(0, items.length - capacity));
    }),
    { seed: 1313 },
  );
  assert.throws(() => new Ring(0), /capacity 0/);
});

const flow = (over: Partial<Flow>): Flow => ({
  time: 1_000,
  node: 'n1',
  protocol: 'TCP',
  src: { ip: '10.244.1.3', port: 40000, pod: 'shop/client' },
  dst: { ip: '10.244.1.2', port: 80, pod: 'shop/web' },
  verdict: 'allowed',
  direction: 'Ingress',
  policies: ['shop/allow'],
  rule: 0,
  ...over,
});

test('flags: the filter they ask for, or an error naming the flag', () => {
  const base: FlowFlags = { allNamespaces: false, output: 'text' };
  const ok: Array<[string, Partial<FlowFlags>, ReturnType<typeof flowFilterOf>]> = [
    ['default namespace', {}, { namespace: 'default' }],
    ['-A', { allNamespaces: true }, {}],
    [
      '-n with bare pods',
      { namespace: 'shop', from: 'client', to: 'web' },
      { namespace: 'shop', from: 'shop/client', to: 'shop/web' },
    ],
    ['-A with ns/name', { allNamespaces: true, from: 'x/a', verdict: 'denied' }, { from: 'x/a', verdict: 'denied' }],
  ];
  for (const [name, flags, want] of ok) assert.deepEqual(flowFilterOf({ ...base, ...flags }), want, name);
  const bad: Array<[string, Partial<FlowFlags>, RegExp]> = [
    ['-o yaml', { output: 'yaml' }, /-o: "yaml"/],
    ['-n and -A', { namespace: 'x', allNamespaces: true }, /-n and -A/],
    ['-n bad name', { namespace: 'X_1' }, /-n: "X_1"/],
    ['-A with a bare pod', { allNamespaces: true, to: 'web' }, /--to: "web": with -A/],
    ['a pod with two slashes', { from: 'a/b/c' }, /--from: "a\/b\/c" is not a pod/],
    ['--verdict maybe', { verdict: 'maybe' }, /--verdict: "maybe"/],
  ];
  for (const [name, flags, re] of bad) assert.throws(() => flowFilterOf({ ...base, ...flags }), re, name);
});

test('filters, merge order and the text line', () => {
  const cases: Array<[string, Parameters<typeof flowMatches>[1], boolean]> = [
    ['no filter', {}, true],
    ['namespace of the source', { namespace: 'shop' }, true],
    ['another namespace', { namespace: 'x' }, false],
    ['from the client', { from: 'shop/client' }, true],
    ['from another', { from: 'shop/web' }, false],
    ['to web', { to: 'shop/web' }, true],
    ['the pod web at either end (destination)', { pod: 'shop/web' }, true],
    ['the pod client at either end (source)', { pod: 'shop/client' }, true],
    ['a pod at neither end', { pod: 'shop/intruder' }, false],
    ['denied only', { verdict: 'denied' }, false],
  ];
  for (const [name, filter, want] of cases) assert.equal(flowMatches(flow({}), filter), want, name);
  assert.equal(flowMatches(flow({ src: { ip: '1.2.3.4' }, dst: { ip: '5.6.7.8' } }), { namespace: 'shop' }), false);
  const merged = mergeFlows([
    [flow({ time: 3, node: 'n1' }), flow({ time: 5, node: 'n1' })],
    [flow({ time: 3, node: 'n0' })],
  ]);
  assert.deepEqual(
    merged.map((f) => `${f.time}${f.node}`),
    ['3n0', '3n1', '5n1'],
  );
  assert.equal(
    formatFlow(flow({ time: Date.UTC(2026, 11, 7, 14, 0, 0) })),
    '2026-12-07T14:00:00.000Z n1 allowed TCP  shop/client 10.244.1.3:40000 -> shop/web 10.244.1.2:80  shop/allow ingress[0]',
  );
  assert.equal(
    formatFlow(
      flow({
        verdict: 'denied',
        policies: ['shop/a', 'shop/b'],
        rule: undefined,
        protocol: 'ICMP',
        src: { ip: '10.0.0.9' },
        dst: { ip: '10.244.1.2', pod: 'shop/web' },
      }),
    ).slice(25),
    'n1 denied  ICMP 10.0.0.9 -> shop/web 10.244.1.2  isolated for ingress by shop/a, shop/b',
  );
});

test("the dashboard's flow query: each parameter read, or refused naming it", () => {
  const ok: Array<[string, Record<string, string | undefined>, ReturnType<typeof flowQueryFilter>]> = [
    ['nothing', {}, {}],
    ['empty values are no filter', { namespace: '', pod: '', verdict: '' }, {}],
    [
      'every parameter',
      { namespace: 'shop', pod: 'shop/web', from: 'x/a', to: 'y/b', verdict: 'denied' },
      { namespace: 'shop', pod: 'shop/web', from: 'x/a', to: 'y/b', verdict: 'denied' },
    ],
  ];
  for (const [name, query, want] of ok) assert.deepEqual(flowQueryFilter(query), want, name);
  const bad: Array<[string, Record<string, string>, RegExp]> = [
    ['an unknown parameter', { colour: 'red' }, /^colour: unknown parameter/],
    ['a bad namespace', { namespace: 'X_1' }, /^namespace: "X_1" is not a namespace name/],
    ['a bare pod name', { pod: 'web' }, /^pod: "web" is not a pod as namespace\/name/],
    ['a pod with two slashes', { from: 'a/b/c' }, /^from: "a\/b\/c"/],
    ['a bad verdict', { verdict: 'maybe' }, /^verdict: "maybe" is not a verdict/],
  ];
  for (const [name, query, re] of bad) assert.throws(() => flowQueryFilter(query), { message: re }, name);
});
