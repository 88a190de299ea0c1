// Flows, pure parts: ulogd2's JSON records (as ulogd2-json 2.0.8 writes them), the bounded ring
// (a property: whatever is pushed, it holds at most its capacity, the newest, in order), the
// filters and the flags of `weft flows` with their errors, the merged order and the text line;
// and the ulogd2 configuration the agent writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  flowFilterOf,
  flowMatches,
  flowQueryFilter,
  formatFlow,
  mergeFlows,
  parseUlogdRecord,
  Ring,
  type Flow,
  type FlowFlags,
} from './flow.js';
import { ulogdConf } from './ulogd-conf.js';

// A record as ulogd2's JSON plugin wrote it in the lab (a SYN to a denied pod), trimmed of TCP fields.
const SYN = {
  timestamp: '2026-12-07T14:04:58.561923',
  dvc: 'Netfilter',
  'oob.prefix': 'weft d in-abc',
  'oob.time.sec': 1796652298,
  'oob.time.usec': 561923,
  'oob.in': 'cni0',
  'oob.out': 'veth1',
  'ip.protocol': 6,
  src_port: 36592,
  dest_port: 80,
  'tcp.syn': 1,
  src_ip: '10.244.1.3',
  dest_ip: '10.244.1.2',
};

test('ulogd2 records: read, or refused with the reason', () => {
  assert.deepEqual(parseUlogdRecord(JSON.stringify(SYN)), {
    time: 1796652298561,
    prefix: 'weft d in-abc',
    protocol: 'TCP',
    saddr: '10.244.1.3',
    daddr: '10.244.1.2',
    sport: 36592,
    dport: 80,
  });
  const icmp = { ...SYN, 'ip.protocol': 1, src_port: undefined, dest_port: undefined, 'icmp.type': 8 };
  assert.deepEqual(parseUlogdRecord(JSON.stringify(icmp)), {
    time: 1796652298561,
    prefix: 'weft d in-abc',
    protocol: 'ICMP',
    saddr: '10.244.1.3',
    daddr: '10.244.1.2',
  });
  assert.equal(parseUlogdRecord(JSON.stringify({ ...SYN, 'ip.protocol': 47 })).protocol, '47');
  const bad: Array<[string, string, RegExp]> = [
    ['not JSON', '{"oob.prefix": ', /not JSON/],
    ['an array', '[1]', /not an object/],
    ['no prefix', JSON.stringify({ ...SYN, 'oob.prefix': undefined }), /no oob\.prefix/],
    ['IPv6 (no src_ip)', JSON.stringify({ ...SYN, src_ip: undefined }), /no src_ip/],
    ['no time', JSON.stringify({ ...SYN, 'oob.time.sec': '1' }), /no oob\.time\.sec/],
    ['no protocol', JSON.stringify({ ...SYN, 'ip.protocol': undefined }), /no ip\.protocol/],
  ];
  for (const [name, line, re] of bad) assert.throws(() => parseUlogdRecord(line), re, name);
});

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

test('ulogd2 configuration: the NFLOG → JSON stack on the group and socket given', () => {
  const text = ulogdConf({ group: 27, socketPath: '/run/w/flows.sock', logFile: '/run/w/ulogd.log', pluginDir: '/p' });
  for (const line of [
    'stack=log1:NFLOG,base1:BASE,ip2str1:IP2STR,json1:JSON',
    'group=27',
    'netlink_qthreshold=16',
    'mode="unix"',
    'file="/run/w/flows.sock"',
    'plugin="/p/ulogd_output_JSON.so"',
    'logfile="/run/w/ulogd.log"',
  ])
    assert.ok(text.split('\n').includes(line), line);
  assert.throws(
    () => ulogdConf({ group: 1, socketPath: `/${'x'.repeat(120)}`, logFile: '/l', pluginDir: '/p' }),
    /longer than a unix socket address allows/,
  );
  assert.throws(() => ulogdConf({ group: 1, socketPath: '/a"b', logFile: '/l', pluginDir: '/p' }), /cannot be written/);
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
