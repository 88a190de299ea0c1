/**
 * The `nft monitor` trace parser on output recorded from nft 1.0.6 (Debian 12) in a throwaway
 * pair of namespaces: a TCP SYN through a verdict map, a numgen map and a DNAT to a policy drop;
 * a UDP datagram and an ICMP echo through the same tables, accepted by the policies.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { finalVerdict, groupByTrace, packetFields, parseMonitorLine, type TraceEvent } from './nft-monitor.js';

const FIXTURE = fileURLToPath(new URL('../../../../src/core/trace/nft-monitor.fixture.txt', import.meta.url));
const events = readFileSync(FIXTURE, 'utf8')
  .split('\n')
  .map(parseMonitorLine)
  .filter((e): e is TraceEvent => e !== undefined);

test('nft monitor: only trace lines are events; ruleset changes and generations are not', () => {
  assert.equal(parseMonitorLine('add table ip marker'), undefined);
  assert.equal(parseMonitorLine('# new generation 3 by process 16181 (nft)'), undefined);
  assert.equal(parseMonitorLine(''), undefined);
  assert.equal(events.length, 26);
  assert.deepEqual([...groupByTrace(events).keys()], ['aea818d4', '12615f93', '9363eda1']);
});

test('nft monitor: a TCP SYN through a verdict map, numgen and DNAT, dropped by a policy rule', () => {
  const tcp = groupByTrace(events).get('aea818d4')!;
  const rules = tcp.filter((e) => e.kind === 'rule').map((e) => [e.table, e.chain, e.verdict, e.comment ?? '']);
  assert.deepEqual(rules, [
    ['weft-trace', 'pre', 'continue', ''],
    ['nat1', 'pre', 'goto svc-web', ''],
    ['nat1', 'svc-web', 'goto ep-1', 'one of 1 endpoints'],
    ['nat1', 'ep-1', 'accept', ''],
    ['filt', 'input', 'jump pol', 'policy'],
    ['filt', 'pol', 'drop', 'np default/deny rule 0'],
  ]);
  const drop = tcp.at(-1)!;
  assert.equal(drop.rule, 'tcp dport 81 counter drop');
  assert.equal(drop.family, 'inet');
  // The packet as each chain saw it: the DNAT's new port shows from the filter chain on.
  const packets = tcp.filter((e) => e.kind === 'packet');
  assert.deepEqual(
    packets.map((e) => [e.table, e.packet!['tcp dport']]),
    [
      ['weft-trace', '82'],
      ['nat1', '82'],
      ['filt', '81'],
    ],
  );
  assert.equal(packets[0]!.packet!.iif, 'weft-trx-vb');
  assert.equal(packets[0]!.packet!['ip id'], '4242');
  assert.equal(packets[0]!.packet!['tcp flags'], 'syn');
  assert.equal(finalVerdict(tcp), 'drop');
});

test('nft monitor: UDP and ICMP accepted by the base chain policy', () => {
  const groups = groupByTrace(events);
  for (const id of ['12615f93', '9363eda1']) {
    const list = groups.get(id)!;
    assert.equal(list.at(-1)!.kind, 'policy');
    assert.equal(list.at(-1)!.verdict, 'accept');
    assert.equal(finalVerdict(list), 'accept');
  }
  const icmp = groups.get('9363eda1')![0]!.packet!;
  assert.equal(icmp['icmp type'], 'echo-request');
  assert.equal(groups.get('12615f93')![0]!.packet!['udp dport'], '82');
});

test('nft monitor: quoted values, one-word selectors, and a verdict line', () => {
  assert.deepEqual(packetFields('iif "a b" oif "c\\"d" ip saddr 1.2.3.4 tcp flags == syn'), {
    iif: 'a b',
    oif: 'c"d',
    'ip saddr': '1.2.3.4',
    'tcp flags': 'syn',
  });
  assert.deepEqual(parseMonitorLine('trace id 1 ip t c verdict return'), {
    id: '1',
    family: 'ip',
    table: 't',
    chain: 'c',
    kind: 'verdict',
    verdict: 'return',
  });
  assert.equal(finalVerdict([]), undefined);
});
