/**
 * The renderer's text for each kind of operation and expression (what nft -f reads). That nft
 * accepts this text is proven by the contract suite against the kernel (test/nft-contract.test.ts).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accept,
  counter,
  drop,
  inSet,
  jump,
  match,
  prefix,
  range,
  ret,
  rule,
  vmap,
  type Expr,
  type Op,
} from './model.js';
import { renderExpr, renderOp } from './render.js';
import { NftTx } from './tx.js';

const T = { family: 'inet', table: 't' } as const;

const exprCases: Array<[string, Expr, string]> = [
  ['address match', match('ip saddr', '10.0.0.1'), 'ip saddr 10.0.0.1'],
  ['negated prefix', match('ip daddr', prefix('224.0.0.0', 4), '!='), 'ip daddr != 224.0.0.0/4'],
  ['IPv6 prefix', match('ip6 daddr', prefix('fd00::', 8)), 'ip6 daddr fd00::/8'],
  ['protocol symbol is quoted', match('meta l4proto', 'tcp'), 'meta l4proto "tcp"'],
  ['port range', match('th dport', range(80, 90)), 'th dport 80-90'],
  ['interface name', match('iifname', 'lo', '!='), 'iifname != "lo"'],
  ['ct state flags', match('ct state', { flags: ['established', 'related'] }), 'ct state established,related'],
  ['anonymous set', match('meta l4proto', { anon: [['tcp'], ['udp']] }), 'meta l4proto { "tcp", "udp" }'],
  [
    'concatenated set lookup',
    inSet(['ip saddr', 'ip daddr', 'meta l4proto', 'th dport'], 'ports'),
    'ip saddr . ip daddr . meta l4proto . th dport @ports',
  ],
  ['fib', match('fib daddr type', 'local'), 'fib daddr type "local"'],
  ['verdict map', vmap(['ip daddr', 'th dport'], 'svc'), 'ip daddr . th dport vmap @svc'],
  [
    'anonymous verdict map',
    {
      kind: 'vmap',
      key: ['meta l4proto'],
      map: {
        anon: [
          { key: ['tcp'], value: jump('tcp-chain').verdict },
          { key: [17], value: drop.verdict },
        ],
      },
    },
    'meta l4proto vmap { "tcp" : jump tcp-chain, 17 : drop }',
  ],
  ['counter', counter, 'counter'],
  ['return', ret, 'return'],
  ['jump', jump('ingress'), 'jump ingress'],
  ['reject with tcp reset', { kind: 'reject', with: 'tcp reset' }, 'reject with tcp reset'],
  ['masquerade fully-random', { kind: 'masquerade', fullyRandom: true }, 'masquerade fully-random'],
  [
    'dnat to a fixed IPv4 target',
    { kind: 'dnat', family: 'ip', to: { addr: '10.0.0.5', port: 80 } },
    'dnat ip to 10.0.0.5:80',
  ],
  [
    'dnat to a fixed IPv6 target',
    { kind: 'dnat', family: 'ip6', to: { addr: 'fd00::5', port: 80 } },
    'dnat ip6 to [fd00::5]:80',
  ],
  [
    'dnat through a map',
    { kind: 'dnat', family: 'ip', to: { key: ['meta l4proto', 'th dport'], map: 'hp' } },
    'dnat ip to meta l4proto . th dport map @hp',
  ],
  ['snat to an address', { kind: 'snat', family: 'ip', to: { addr: '192.168.0.1' } }, 'snat ip to 192.168.0.1'],
  ['mark set', { kind: 'mark', value: 0x4000 }, 'meta mark set 0x4000'],
  ['mark or', { kind: 'mark', value: 1, or: true }, 'meta mark set meta mark or 0x1'],
  ['nftrace', { kind: 'nftrace' }, 'meta nftrace set 1'],
];

for (const [name, expr, text] of exprCases) {
  test(`render expression: ${name}`, () => assert.equal(renderExpr(expr), text));
}

const opCases: Array<[string, Op, string]> = [
  [
    'add table with comment',
    { verb: 'add', object: { kind: 'table', family: 'inet', name: 't', comment: 'c' } },
    'add table inet t { comment "c"; }',
  ],
  ['delete table', { verb: 'delete', object: { kind: 'table', family: 'inet', name: 't' } }, 'delete table inet t'],
  ['flush table', { verb: 'flush', object: { kind: 'table', family: 'inet', name: 't' } }, 'flush table inet t'],
  [
    'add base chain',
    {
      verb: 'add',
      object: {
        ...T,
        kind: 'chain',
        name: 'post',
        base: { type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' },
      },
    },
    'add chain inet t post { type nat hook postrouting priority 100; policy accept; }',
  ],
  ['create regular chain', { verb: 'create', object: { ...T, kind: 'chain', name: 'c' } }, 'create chain inet t c'],
  [
    'add interval set',
    { verb: 'add', object: { ...T, kind: 'set', name: 's', key: ['ipv4_addr', 'ipv4_addr'], flags: ['interval'] } },
    'add set inet t s { type ipv4_addr . ipv4_addr; flags interval; }',
  ],
  [
    'add timeout set with comment',
    {
      verb: 'add',
      object: { ...T, kind: 'set', name: 's', key: ['ipv4_addr'], flags: ['timeout'], timeout: 30, comment: 'x' },
    },
    'add set inet t s { type ipv4_addr; flags timeout; timeout 30s; comment "x"; }',
  ],
  [
    'add data map',
    {
      verb: 'add',
      object: {
        ...T,
        kind: 'set',
        name: 'm',
        key: ['inet_proto', 'inet_service'],
        value: ['ipv4_addr', 'inet_service'],
      },
    },
    'add map inet t m { type inet_proto . inet_service : ipv4_addr . inet_service; }',
  ],
  [
    'flush verdict map',
    { verb: 'flush', object: { ...T, kind: 'set', name: 'v', key: ['ipv4_addr'], value: 'verdict' } },
    'flush map inet t v',
  ],
  [
    'add rule with comment',
    {
      verb: 'add',
      object: { ...T, kind: 'rule', chain: 'c', ...rule([match('ip saddr', '10.0.0.1'), accept], 'why') },
    },
    'add rule inet t c ip saddr 10.0.0.1 accept comment "why"',
  ],
  [
    'insert rule at a position',
    { verb: 'insert', object: { ...T, kind: 'rule', chain: 'c', handle: 4, exprs: [drop] } },
    'insert rule inet t c position 4 drop',
  ],
  [
    'replace rule',
    { verb: 'replace', object: { ...T, kind: 'rule', chain: 'c', handle: 4, exprs: [accept] } },
    'replace rule inet t c handle 4 accept',
  ],
  [
    'delete rule',
    { verb: 'delete', object: { ...T, kind: 'rule', chain: 'c', handle: 4, exprs: [] } },
    'delete rule inet t c handle 4',
  ],
  [
    'add map elements with comment',
    {
      verb: 'add',
      object: {
        ...T,
        kind: 'element',
        set: 'm',
        elements: [{ key: ['tcp', 8080], value: ['10.0.0.5', 80], comment: 'pod/eth0' }],
      },
    },
    'add element inet t m { "tcp" . 8080 comment "pod/eth0" : 10.0.0.5 . 80 }',
  ],
  [
    'add verdict map element',
    {
      verb: 'add',
      object: {
        ...T,
        kind: 'element',
        set: 'v',
        elements: [{ key: ['10.0.0.5'], value: { verdict: 'goto', chain: 'x' } }],
      },
    },
    'add element inet t v { 10.0.0.5 : goto x }',
  ],
  [
    'delete elements by key only',
    {
      verb: 'delete',
      object: {
        ...T,
        kind: 'element',
        set: 'm',
        elements: [{ key: ['tcp', 8080], value: ['10.0.0.5', 80], comment: 'c' }, { key: [prefix('10.0.0.0', 24)] }],
      },
    },
    'delete element inet t m { "tcp" . 8080, 10.0.0.0/24 }',
  ],
  [
    'element with timeout',
    { verb: 'add', object: { ...T, kind: 'element', set: 's', elements: [{ key: ['10.0.0.1'], timeout: 10 }] } },
    'add element inet t s { 10.0.0.1 timeout 10s }',
  ],
];

for (const [name, op, text] of opCases) {
  test(`render operation: ${name}`, () => assert.equal(renderOp(op), text));
}

const errorCases: Array<[string, Op, RegExp]> = [
  [
    'replace without a handle',
    { verb: 'replace', object: { ...T, kind: 'rule', chain: 'c', exprs: [accept] } },
    /replace rule in t c needs a handle/,
  ],
  [
    'empty rule',
    { verb: 'add', object: { ...T, kind: 'rule', chain: 'c', exprs: [] } },
    /needs at least one expression/,
  ],
  ['no elements', { verb: 'add', object: { ...T, kind: 'element', set: 's', elements: [] } }, /at least one element/],
  [
    'a name nft cannot read',
    { verb: 'add', object: { kind: 'chain', family: 'inet', table: 't', name: 'my chain' } },
    /"my chain" is not a valid table, chain or set name/,
  ],
  [
    'a jump to a name nft cannot read',
    { verb: 'add', object: { ...T, kind: 'rule', chain: 'c', exprs: [jump('a;b')] } },
    /"a;b" is not a valid/,
  ],
  [
    'unquotable comment',
    { verb: 'add', object: { kind: 'table', family: 'inet', name: 't', comment: 'a"b' } },
    /cannot be quoted/,
  ],
];

for (const [name, op, error] of errorCases) {
  test(`render refuses: ${name}`, () => assert.throws(() => renderOp(op), error));
}

test('NftTx renders its operations in order, one per line', () => {
  const tx = new NftTx()
    .add({ kind: 'table', family: 'ip', name: 'x' })
    .flush({ kind: 'table', family: 'ip', name: 'x' });
  assert.equal(tx.empty, false);
  assert.equal(tx.render(), 'add table ip x\nflush table ip x\n');
  assert.equal(new NftTx().empty, true);
});
