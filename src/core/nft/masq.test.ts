// Unit tests for the ipMasq nftables rendering and the parsing of `nft -j` element listings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NftFake } from '../../testkit/nft-fake.js';
import {
  masqElementsFor,
  masqTable,
  parseMasqElements,
  renderMasqAdd,
  renderMasqRemove,
  type MasqElement,
} from './masq.js';
import { tracePacket } from './trace.js';

test('ADD declares the skeleton, rewrites the rules and adds tagged elements (dual-stack)', () => {
  const text = renderMasqAdd(
    'c1/eth0',
    [
      { family: 4, address: '10.244.0.5', subnet: '10.244.0.0/16' },
      { family: 6, address: 'fd00::5', subnet: 'fd00::/64' },
    ],
    [],
  ).render();
  assert.match(text, /^add table inet weft-masq/m);
  assert.match(
    text,
    /add chain inet weft-masq postrouting \{ type nat hook postrouting priority 100; policy accept; \}/,
  );
  assert.match(text, /^flush chain inet weft-masq postrouting$/m);
  assert.match(text, /add rule inet weft-masq postrouting ip daddr 224\.0\.0\.0\/4 return/);
  assert.match(text, /add rule inet weft-masq postrouting ip6 daddr ff00::\/8 return/);
  assert.match(text, /add element inet weft-masq pods-v4 \{ 10\.244\.0\.5 comment "c1\/eth0" \}/);
  assert.match(text, /add element inet weft-masq local-v6 \{ fd00::5 \. fd00::\/64 comment "c1\/eth0" \}/);
  // Rules come once, after the flush, so a repeated ADD never duplicates them.
  assert.equal(text.split('\n').filter((l) => l.includes('masquerade')).length, 2);
});

test('a retried ADD replaces the elements the same attachment left', () => {
  const current: MasqElement[] = [
    { set: 'pods-v4', key: ['10.244.0.9'], comment: 'c1/eth0' },
    { set: 'pods-v4', key: ['10.244.0.7'], comment: 'c2/eth0' },
  ];
  const text = renderMasqAdd(
    'c1/eth0',
    [{ family: 4, address: '10.244.0.5', subnet: '10.244.0.0/16' }],
    current,
  ).render();
  assert.match(text, /delete element inet weft-masq pods-v4 \{ 10\.244\.0\.9 \}/);
  assert.doesNotMatch(text, /10\.244\.0\.7/);
});

test('DEL: only the tagged elements; the table when they were the last; nothing when none', () => {
  const mine: MasqElement[] = [
    { set: 'pods-v4', key: ['10.244.0.5'], comment: 'c1/eth0' },
    { set: 'local-v4', key: ['10.244.0.5', { prefix: { addr: '10.244.0.0', len: 16 } }], comment: 'c1/eth0' },
  ];
  const other: MasqElement = { set: 'pods-v4', key: ['10.244.0.6'], comment: 'c2/eth0' };
  assert.equal(
    renderMasqRemove('c1/eth0', [...mine, other]).render(),
    'delete element inet weft-masq pods-v4 { 10.244.0.5 }\ndelete element inet weft-masq local-v4 { 10.244.0.5 . 10.244.0.0/16 }\n',
  );
  assert.equal(renderMasqRemove('c1/eth0', mine).render(), 'delete table inet weft-masq\n');
  assert.equal(renderMasqRemove('c3/eth0', [...mine, other]).empty, true);
});

test('nft -j elements are read back as nft text', () => {
  const listing = [
    { metainfo: {} },
    { table: { family: 'inet', name: 'weft-masq' } },
    {
      set: {
        family: 'inet',
        table: 'weft-masq',
        type: 'ipv4_addr',
        name: 'pods-v4',
        elem: [{ elem: { val: '10.244.0.5', comment: 'c1/eth0' } }, '10.244.0.8'],
      },
    },
    {
      set: {
        family: 'inet',
        table: 'weft-masq',
        type: ['ipv6_addr', 'ipv6_addr'],
        flags: ['interval'],
        name: 'local-v6',
        elem: [{ elem: { val: { concat: ['fd00::5', { prefix: { addr: 'fd00::', len: 64 } }] }, comment: 'c1/eth0' } }],
      },
    },
    { set: { family: 'inet', table: 'weft-masq', type: 'ipv4_addr', name: 'empty-set' } },
    { set: { family: 'inet', table: 'other', type: 'ipv4_addr', name: 'pods-v4', elem: ['10.9.9.9'] } },
  ];
  assert.deepEqual(parseMasqElements(listing), [
    { set: 'pods-v4', key: ['10.244.0.5'], comment: 'c1/eth0' },
    { set: 'pods-v4', key: ['10.244.0.8'] },
    { set: 'local-v6', key: ['fd00::5', { prefix: { addr: 'fd00::', len: 64 } }], comment: 'c1/eth0' },
  ]);
});

test('ADD, retried ADD and DEL against the fake: elements per attachment, table gone with the last', async () => {
  const fake = new NftFake();
  const now = async () => parseMasqElements((await fake.listTable('inet', 'weft-masq')) ?? []);
  const a = [
    { family: 4 as const, address: '10.244.0.5', subnet: '10.244.0.0/24' },
    { family: 6 as const, address: 'fd00::5', subnet: 'fd00::/64' },
  ];
  await fake.apply(renderMasqAdd('c1/eth0', a, await now()), 'add c1');
  await fake.apply(renderMasqAdd('c1/eth0', a, await now()), 'add c1 again');
  await fake.apply(
    renderMasqAdd('c2/eth0', [{ family: 4, address: '10.244.0.6', subnet: '10.244.0.0/24' }], await now()),
    'add c2',
  );
  assert.equal((await now()).length, 6);
  await fake.apply(renderMasqRemove('c1/eth0', await now()), 'del c1');
  assert.deepEqual(
    (await now()).map((e) => e.comment),
    ['c2/eth0', 'c2/eth0'],
  );
  await fake.apply(renderMasqRemove('c2/eth0', await now()), 'del c2');
  assert.equal(await fake.listTable('inet', 'weft-masq'), undefined);
});

test('masq trace: a pod leaving its subnet is masqueraded, within it and to multicast it is not', () => {
  const table = masqTable(masqElementsFor('c1/eth0', [{ family: 4, address: '10.244.0.5', subnet: '10.244.0.0/24' }]));
  const nat = (saddr: string, daddr: string) =>
    tracePacket([table], 'postrouting', { family: 4, saddr, daddr, protocol: 'udp', sport: 1, dport: 53 }).nat;
  assert.deepEqual(nat('10.244.0.5', '8.8.8.8'), ['masquerade']);
  assert.deepEqual(nat('10.244.0.5', '10.244.0.9'), []);
  assert.deepEqual(nat('10.244.0.5', '239.0.0.1'), []);
  assert.deepEqual(nat('10.244.0.6', '8.8.8.8'), [], 'another pod is not in the set');
});
