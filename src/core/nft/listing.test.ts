/**
 * The listing parser against a real `nft -j list table` of nft 1.0.6 (captured below from a table
 * that uses every expression the model has), and its error paths.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTable, elementsOf } from './listing.js';
import { renderRuleBody } from './render.js';

// `nft -j list table inet t` after loading a table with every kind of object (nft 1.0.6).
const LISTING: unknown[] = JSON.parse(
  '[{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "t", "handle": 1}}, {"set": {"family": "inet", "name": "s", "table": "t", "type": ["ipv4_addr", "ipv4_addr"], "handle": 4, "flags": ["interval"], "elem": [{"concat": ["10.0.0.1", {"prefix": {"addr": "10.0.0.0", "len": 24}}]}, {"concat": ["10.0.0.2", {"range": ["10.1.0.0", "10.1.0.9"]}]}]}}, {"set": {"family": "inet", "name": "ts", "table": "t", "type": "ipv4_addr", "handle": 5, "comment": "x", "flags": ["timeout"], "timeout": 30}}, {"map": {"family": "inet", "name": "m", "table": "t", "type": ["inet_proto", "inet_service"], "handle": 6, "map": "ipv4_addr . inet_service", "elem": [[{"elem": {"val": {"concat": ["tcp", 8080]}, "comment": "pod/eth0"}}, {"concat": ["10.0.0.5", 80]}]]}}, {"map": {"family": "inet", "name": "v", "table": "t", "type": "ipv4_addr", "handle": 7, "map": "verdict", "elem": [["10.0.0.6", {"accept": null}]]}}, {"set": {"family": "inet", "name": "ports", "table": "t", "type": ["ipv4_addr", "ipv4_addr", "inet_proto", "inet_service"], "handle": 8, "flags": ["interval"]}}, {"map": {"family": "inet", "name": "svc", "table": "t", "type": ["ipv4_addr", "inet_service"], "handle": 9, "map": "verdict"}}, {"map": {"family": "inet", "name": "hp", "table": "t", "type": ["inet_proto", "inet_service"], "handle": 10, "map": "ipv4_addr . inet_service"}}, {"chain": {"family": "inet", "table": "t", "name": "post", "handle": 1, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}}, {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 2}}, {"chain": {"family": "inet", "table": "t", "name": "tcp-chain", "handle": 3}}, {"chain": {"family": "inet", "table": "t", "name": "pre", "handle": 23, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}, {"rule": {"family": "inet", "table": "t", "chain": "post", "handle": 20, "expr": [{"masquerade": {"flags": "fully-random"}}]}}, {"rule": {"family": "inet", "table": "t", "chain": "post", "handle": 21, "expr": [{"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "224.0.0.0", "len": 4}}}}, {"snat": {"family": "ip", "addr": "192.168.0.1"}}]}}, {"rule": {"family": "inet", "table": "t", "chain": "post", "handle": 22, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": {"prefix": {"addr": "fd00::", "len": 8}}}}, {"masquerade": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 27, "expr": [{"drop": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 11, "comment": "why", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.0.0.1"}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 12, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"range": [80, 90]}}}, {"match": {"op": "!=", "left": {"meta": {"key": "iifname"}}, "right": "lo"}}, {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"counter": {"packets": 0, "bytes": 0}}, {"return": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 14, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": {"set": ["tcp", "udp"]}}}, {"match": {"op": "==", "left": {"concat": [{"payload": {"protocol": "ip", "field": "saddr"}}, {"payload": {"protocol": "ip", "field": "daddr"}}, {"meta": {"key": "l4proto"}}, {"payload": {"protocol": "th", "field": "dport"}}]}, "right": "@ports"}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 15, "expr": [{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}}, {"vmap": {"key": {"concat": [{"payload": {"protocol": "ip", "field": "daddr"}}, {"payload": {"protocol": "th", "field": "dport"}}]}, "data": "@svc"}}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 17, "expr": [{"vmap": {"key": {"meta": {"key": "l4proto"}}, "data": {"set": [["tcp", {"jump": {"target": "tcp-chain"}}], ["udp", {"drop": null}]]}}}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 18, "expr": [{"mangle": {"key": {"meta": {"key": "mark"}}, "value": 16384}}, {"mangle": {"key": {"meta": {"key": "mark"}}, "value": {"|": [{"meta": {"key": "mark"}}, 1]}}}, {"mangle": {"key": {"meta": {"key": "nftrace"}}, "value": 1}}]}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 19, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, {"reject": {"type": "tcp reset"}}]}}, {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 24, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, {"dnat": {"family": "ip", "addr": "10.0.0.5", "port": 80}}]}}, {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 25, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, {"dnat": {"family": "ip6", "addr": "fd00::5", "port": 80}}]}}, {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 26, "expr": [{"dnat": {"family": "ip", "addr": {"map": {"key": {"concat": [{"meta": {"key": "l4proto"}}, {"payload": {"protocol": "th", "field": "dport"}}]}, "data": "@hp"}}}}]}}]',
);

const table = parseTable(LISTING, 'inet', 't');

test('listing: a missing table is undefined', () => {
  assert.equal(parseTable(LISTING, 'inet', 'other'), undefined);
  assert.equal(parseTable(LISTING, 'ip', 't'), undefined);
});

test('listing: base chains carry hook, priority and policy; regular chains none', () => {
  assert.ok(table);
  const post = table.chains.find((c) => c.name === 'post');
  assert.deepEqual(post?.base, { type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' });
  assert.equal(table.chains.find((c) => c.name === 'c')?.base, undefined);
  assert.deepEqual(table.unreadable, []);
});

const setCases: Array<[string, object]> = [
  [
    'interval concatenation with prefix and range',
    {
      name: 's',
      key: ['ipv4_addr', 'ipv4_addr'],
      flags: ['interval'],
      elements: [
        { key: ['10.0.0.1', { prefix: { addr: '10.0.0.0', len: 24 } }] },
        { key: ['10.0.0.2', { range: ['10.1.0.0', '10.1.0.9'] }] },
      ],
    },
  ],
  [
    'timeout set with comment',
    { name: 'ts', key: ['ipv4_addr'], flags: ['timeout'], timeout: 30, comment: 'x', elements: [] },
  ],
  [
    'data map with element comment',
    {
      name: 'm',
      key: ['inet_proto', 'inet_service'],
      value: ['ipv4_addr', 'inet_service'],
      elements: [{ key: ['tcp', 8080], value: ['10.0.0.5', 80], comment: 'pod/eth0' }],
    },
  ],
  [
    'verdict map',
    {
      name: 'v',
      key: ['ipv4_addr'],
      value: 'verdict',
      elements: [{ key: ['10.0.0.6'], value: { verdict: 'accept' } }],
    },
  ],
];

for (const [name, expected] of setCases) {
  test(`listing: set: ${name}`, () => {
    const s = table?.sets.find((x) => x.name === (expected as { name: string }).name);
    assert.ok(s);
    const { handle: _handle, ...rest } = s;
    assert.deepEqual(rest, expected);
  });
}

// The kernel's own spelling of each rule, rendered back from the parsed model.
const ruleCases: Array<[string, number, string]> = [
  ['post', 0, 'masquerade fully-random'],
  ['post', 1, 'ip daddr != 224.0.0.0/4 snat ip to 192.168.0.1'],
  ['c', 0, 'drop'],
  ['c', 1, 'ip saddr 10.0.0.1 accept comment "why"'],
  ['c', 2, 'tcp dport 80-90 iifname != "lo" ct state established,related counter return'],
  ['c', 3, 'meta l4proto { "tcp", "udp" } ip saddr . ip daddr . meta l4proto . th dport @ports accept'],
  ['c', 4, 'fib daddr type "local" ip daddr . th dport vmap @svc'],
  ['c', 5, 'meta l4proto vmap { "tcp" : jump tcp-chain, "udp" : drop }'],
  ['c', 6, 'meta mark set 0x4000 meta mark set meta mark or 0x1 meta nftrace set 1'],
  ['c', 7, 'meta l4proto "tcp" reject with tcp reset'],
  ['pre', 1, 'meta l4proto "tcp" dnat ip6 to [fd00::5]:80'],
  ['pre', 2, 'dnat ip to meta l4proto . th dport map @hp'],
];

for (const [chain, index, text] of ruleCases) {
  test(`listing: rule ${chain}[${index}] reads back as ${text}`, () => {
    const r = table?.chains.find((c) => c.name === chain)?.rules[index];
    assert.ok(r, 'rule exists');
    assert.equal(renderRuleBody(r.exprs, r.comment), text);
    assert.ok(r.handle > 0);
  });
}

test('listing: a rule the model cannot express is reported, not guessed', () => {
  const objects = [
    { table: { family: 'inet', name: 'x', handle: 1 } },
    { chain: { family: 'inet', table: 'x', name: 'c', handle: 2 } },
    { rule: { family: 'inet', table: 'x', chain: 'c', handle: 3, expr: [{ log: { prefix: 'p' } }] } },
    { rule: { family: 'inet', table: 'x', chain: 'c', handle: 4, expr: [{ accept: null }] } },
  ];
  const t = parseTable(objects, 'inet', 'x');
  assert.equal(t?.chains[0]?.rules.length, 1);
  assert.equal(t?.unreadable.length, 1);
  assert.match(t?.unreadable[0]?.reason ?? '', /chain c rule 3: unknown expression/);
});

test('listing: a malformed element names the set', () => {
  const objects = [
    { table: { family: 'inet', name: 'x', handle: 1 } },
    {
      map: { family: 'inet', table: 'x', name: 'm', type: 'ipv4_addr', map: 'verdict', handle: 2, elem: ['10.0.0.1'] },
    },
  ];
  assert.throws(
    () => parseTable(objects, 'inet', 'x'),
    /read nft map inet x m: element: expected a \[key, value\] element/,
  );
});

test('listing: elementsOf a missing set is empty', () => {
  assert.deepEqual(elementsOf(table, 'nope'), []);
  assert.equal(elementsOf(table, 's').length, 2);
});
