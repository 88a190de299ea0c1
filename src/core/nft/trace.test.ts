/**
 * The packet tracer, table-driven, over tables shaped like weft's own (a policy table with
 * interval concatenations and jumps, a hostPort table with a DNAT map, a verdict-map table),
 * read as network behaviour: "a reply of an allowed connection is accepted", ...
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseChainOf } from './layout.js';
import {
  accept,
  counter,
  drop,
  goto,
  inSet,
  jump,
  match,
  prefix,
  range,
  ret,
  rule,
  vmap,
  type TableDef,
} from './model.js';
import { tracePacket, TraceError, type TracePacket, type TraceResult } from './trace.js';
import type { Hook } from './model.js';

const POLICY: TableDef = {
  family: 'inet',
  name: 'pol',
  chains: [
    {
      name: 'forward',
      base: baseChainOf('policyForward'),
      rules: [
        rule([match('ct state', { flags: ['established', 'related'] }), accept], 'replies'),
        rule([inSet('ip daddr', 'ingress-isolated'), jump('ingress')], 'isolated'),
      ],
    },
    {
      name: 'ingress',
      rules: [
        rule([inSet(['ip daddr', 'ip saddr'], 'ingress-any'), ret], 'any port'),
        rule([inSet(['ip daddr', 'ip saddr', 'meta l4proto', 'th dport'], 'ingress-ports'), ret], 'these ports'),
        rule([counter, drop], 'no rule allows this'),
      ],
    },
  ],
  sets: [
    { name: 'ingress-isolated', key: ['ipv4_addr'], elements: [{ key: ['10.244.1.5'] }] },
    {
      name: 'ingress-any',
      key: ['ipv4_addr', 'ipv4_addr'],
      flags: ['interval'],
      elements: [{ key: ['10.244.1.5', prefix('10.244.2.0', 24)] }],
    },
    {
      name: 'ingress-ports',
      key: ['ipv4_addr', 'ipv4_addr', 'inet_proto', 'inet_service'],
      flags: ['interval'],
      elements: [{ key: ['10.244.1.5', range('10.244.3.1', '10.244.3.9'), 'tcp', range(8000, 8080)] }],
    },
  ],
};

const HOSTPORTS: TableDef = {
  family: 'inet',
  name: 'hp',
  chains: [
    {
      name: 'prerouting',
      base: baseChainOf('portmapPrerouting'),
      rules: [rule([match('fib daddr type', 'local'), jump('hostports')])],
    },
    {
      name: 'hostports',
      rules: [
        rule(
          [{ kind: 'dnat', family: 'ip', to: { key: ['meta l4proto', 'th dport'], map: 'hostports-v4' } }],
          'hostPort',
        ),
      ],
    },
  ],
  sets: [
    {
      name: 'hostports-v4',
      key: ['inet_proto', 'inet_service'],
      value: ['ipv4_addr', 'inet_service'],
      elements: [{ key: ['tcp', 8080], value: ['10.244.1.5', 80] }],
    },
  ],
};

const VMAP: TableDef = {
  family: 'ip',
  name: 'vm',
  chains: [
    {
      name: 'input',
      base: { type: 'filter', hook: 'input', priority: 10, policy: 'drop' },
      rules: [rule([vmap(['ip saddr', 'th dport'], 'svc')]), rule([match('meta l4proto', 'icmp'), accept], 'ping')],
    },
    { name: 'web', rules: [rule([match('ip saddr', '10.0.0.66'), drop], 'banned'), rule([ret])] },
    { name: 'ssh', rules: [rule([goto('web')])] },
  ],
  sets: [
    {
      name: 'svc',
      key: ['ipv4_addr', 'inet_service'],
      value: 'verdict',
      flags: ['interval'],
      elements: [
        { key: [prefix('10.0.0.0', 24), 80], value: { verdict: 'jump', chain: 'web' } },
        { key: [prefix('10.0.0.0', 24), 22], value: { verdict: 'jump', chain: 'ssh' } },
        { key: [prefix('10.9.0.0', 16), 80], value: { verdict: 'accept' } },
      ],
    },
  ],
};

const EARLY_DROP: TableDef = {
  family: 'inet',
  name: 'early',
  chains: [
    {
      name: 'f',
      base: { type: 'filter', hook: 'forward', priority: -10, policy: 'accept' },
      rules: [
        rule([match('ip6 saddr', prefix('fd00:bad::', 32)), drop], 'bad v6 net'),
        rule([accept], 'accept is not final'),
      ],
    },
  ],
  sets: [],
};

const tcp = (saddr: string, daddr: string, dport: number, extra: Partial<TracePacket> = {}): TracePacket => ({
  family: 4,
  saddr,
  daddr,
  protocol: 'tcp',
  sport: 40000,
  dport,
  ...extra,
});

type Case = [
  string,
  TableDef[],
  Hook,
  TracePacket,
  TraceResult['verdict'],
  string[],
  Partial<{ daddr: string; nat: string[] }>?,
];

const where = (r: TraceResult) =>
  r.steps.map((s) => `${s.table}/${s.chain}#${s.rule}${s.action ? ` ${s.action}` : ''}`);

const cases: Case[] = [
  [
    'a reply of an allowed connection is accepted',
    [POLICY],
    'forward',
    tcp('10.244.9.9', '10.244.1.5', 5000, { ctState: 'established' }),
    'accept',
    ['pol/forward#0 accept'],
  ],
  [
    'a pod that is not isolated is reachable',
    [POLICY],
    'forward',
    tcp('10.244.9.9', '10.244.1.6', 80),
    'accept',
    ['pol/forward#-1 policy accept'],
  ],
  [
    'an isolated pod from an allowed namespace, any port',
    [POLICY],
    'forward',
    tcp('10.244.2.7', '10.244.1.5', 1),
    'accept',
    ['pol/forward#1 jump ingress', 'pol/ingress#0 return', 'pol/forward#-1 policy accept'],
  ],
  [
    'an isolated pod on an allowed port range from an allowed peer range',
    [POLICY],
    'forward',
    tcp('10.244.3.4', '10.244.1.5', 8080),
    'accept',
    ['pol/forward#1 jump ingress', 'pol/ingress#1 return', 'pol/forward#-1 policy accept'],
  ],
  [
    'an isolated pod on a port outside the range is dropped',
    [POLICY],
    'forward',
    tcp('10.244.3.4', '10.244.1.5', 8081),
    'drop',
    ['pol/forward#1 jump ingress', 'pol/ingress#2 drop'],
  ],
  [
    'UDP does not match a tcp port element',
    [POLICY],
    'forward',
    { ...tcp('10.244.3.4', '10.244.1.5', 8000), protocol: 'udp' },
    'drop',
    ['pol/forward#1 jump ingress', 'pol/ingress#2 drop'],
  ],
  [
    'IPv6 never matches ip daddr lookups',
    [POLICY],
    'forward',
    { family: 6, saddr: 'fd00::1', daddr: 'fd00::2', protocol: 'tcp', dport: 80 },
    'accept',
    ['pol/forward#-1 policy accept'],
  ],
  [
    'a hostPort to a local address is DNATed to the pod',
    [HOSTPORTS],
    'prerouting',
    tcp('192.168.0.9', '192.168.0.2', 8080, { localAddresses: ['192.168.0.2'] }),
    'accept',
    ['hp/prerouting#0 jump hostports', 'hp/hostports#0 dnat to 10.244.1.5:80'],
    { daddr: '10.244.1.5', nat: ['dnat to 10.244.1.5:80'] },
  ],
  [
    'an unmapped port falls through untouched',
    [HOSTPORTS],
    'prerouting',
    tcp('192.168.0.9', '192.168.0.2', 9090, { localAddresses: ['192.168.0.2'] }),
    'accept',
    ['hp/prerouting#0 jump hostports', 'hp/prerouting#-1 policy accept'],
    { daddr: '192.168.0.2', nat: [] },
  ],
  [
    'traffic not for the node is not DNATed',
    [HOSTPORTS],
    'prerouting',
    tcp('192.168.0.9', '10.1.1.1', 8080, { localAddresses: ['192.168.0.2'] }),
    'accept',
    ['hp/prerouting#-1 policy accept'],
    { daddr: '10.1.1.1' },
  ],
  [
    'a verdict map jumps to a chain that returns; the policy decides',
    [VMAP],
    'input',
    tcp('10.0.0.5', '10.0.1.1', 80),
    'drop',
    ['vm/input#0 jump web', 'vm/web#1 return', 'vm/input#-1 policy drop'],
  ],
  [
    'a verdict map jumps to a chain that drops',
    [VMAP],
    'input',
    tcp('10.0.0.66', '10.0.1.1', 80),
    'drop',
    ['vm/input#0 jump web', 'vm/web#0 drop'],
  ],
  [
    'goto does not come back to the chain that jumped',
    [VMAP],
    'input',
    tcp('10.0.0.5', '10.0.1.1', 22),
    'drop',
    ['vm/input#0 jump ssh', 'vm/ssh#0 goto web', 'vm/web#1 return', 'vm/input#-1 policy drop'],
  ],
  ['a verdict map accepts directly', [VMAP], 'input', tcp('10.9.3.3', '10.0.1.1', 80), 'accept', ['vm/input#0 accept']],
  [
    'a verdict map miss goes on to the next rule',
    [VMAP],
    'input',
    { family: 4, saddr: '10.0.0.5', daddr: '10.0.1.1', protocol: 'icmp' },
    'accept',
    ['vm/input#1 accept'],
  ],
  [
    'an ip table does not see IPv6',
    [VMAP],
    'input',
    { family: 6, saddr: 'fd00::1', daddr: 'fd00::2', protocol: 'icmp' },
    'accept',
    [],
  ],
  [
    'lower priority runs first, and its accept does not end the hook',
    [POLICY, EARLY_DROP],
    'forward',
    tcp('10.244.3.4', '10.244.1.5', 8081),
    'drop',
    ['early/f#1 accept', 'pol/forward#1 jump ingress', 'pol/ingress#2 drop'],
  ],
  [
    'a drop in an earlier chain ends the packet',
    [POLICY, EARLY_DROP],
    'forward',
    { family: 6, saddr: 'fd00:bad::1', daddr: 'fd00::2', protocol: 'tcp', dport: 1 },
    'drop',
    ['early/f#0 drop'],
  ],
];

for (const [name, tables, hook, packet, verdict, path, after] of cases) {
  test(`trace: ${name}`, () => {
    const r = tracePacket(tables, hook, packet);
    assert.equal(r.verdict, verdict);
    assert.deepEqual(where(r), path);
    if (after?.daddr !== undefined) assert.equal(r.packet.daddr, after.daddr);
    if (after?.nat !== undefined) assert.deepEqual(r.nat, after.nat);
    assert.equal(packet.daddr === r.packet.daddr || r.nat.length > 0, true, "the caller's packet is not changed");
  });
}

test('trace: comments of the rules passed are reported', () => {
  const r = tracePacket([POLICY], 'forward', tcp('10.244.3.4', '10.244.1.5', 8081));
  assert.deepEqual(
    r.steps.map((s) => s.comment),
    ['isolated', 'no rule allows this'],
  );
  assert.equal(r.decidedBy?.comment, 'no rule allows this');
});

test('trace: a loop of jumps is an error, not a hang', () => {
  const loop: TableDef = {
    family: 'inet',
    name: 'l',
    chains: [
      { name: 'b', base: baseChainOf('policyForward'), rules: [rule([jump('x')])] },
      { name: 'x', rules: [rule([jump('x')])] },
    ],
    sets: [],
  };
  assert.throws(() => tracePacket([loop], 'forward', tcp('10.0.0.1', '10.0.0.2', 1)), TraceError);
});
