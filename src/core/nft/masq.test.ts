// Unit tests for the ipMasq nftables rendering and the parsing of `nft -j` element listings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMasqElements, renderMasqAdd, renderMasqRemove, type MasqElement } from './masq.js';

test('ADD declares the skeleton, rewrites the rules and adds tagged elements (dual-stack)', () => {
  const text = renderMasqAdd('c1/eth0', [
    { family: 4, address: '10.244.0.5', subnet: '10.244.0.0/16' },
    { family: 6, address: 'fd00::5', subnet: 'fd00::/64' },
  ], []).render();
  assert.match(text, /^add table inet weft-masq/m);
  assert.match(text, /add chain inet weft-masq postrouting \{ type nat hook postrouting priority srcnat; \}/);
  assert.match(text, /^flush chain inet weft-masq postrouting$/m);
  assert.match(text, /add rule inet weft-masq postrouting ip daddr 224\.0\.0\.0\/4 return/);
  assert.match(text, /add rule inet weft-masq postrouting ip6 daddr ff00::\/8 return/);
  assert.match(text, /add element inet weft-masq pods-v4 \{ 10\.244\.0\.5 comment "c1\/eth0" \}/);
  assert.match(text, /add element inet weft-masq local-v6 \{ fd00::5 \. fd00::\/64 comment "c1\/eth0" \}/);
  // Rules come once, after the flush, so a repeated ADD never duplicates them.
  assert.equal(text.split('\n').filter((l) => l.includes('masquerade')).length, 2);
});

test('a retried ADD replaces the elements the same attachment left', () => {
  const current: MasqElement[] = [{ set: 'pods-v4', key: '10.244.0.9', comment: 'c1/eth0' }, { set: 'pods-v4', key: '10.244.0.7', comment: 'c2/eth0' }];
  const text = renderMasqAdd('c1/eth0', [{ family: 4, address: '10.244.0.5', subnet: '10.244.0.0/16' }], current).render();
  assert.match(text, /delete element inet weft-masq pods-v4 \{ 10\.244\.0\.9 \}/);
  assert.doesNotMatch(text, /10\.244\.0\.7/);
});

test('DEL: only the tagged elements; the table when they were the last; nothing when none', () => {
  const mine: MasqElement[] = [
    { set: 'pods-v4', key: '10.244.0.5', comment: 'c1/eth0' },
    { set: 'local-v4', key: '10.244.0.5 . 10.244.0.0/16', comment: 'c1/eth0' },
  ];
  const other: MasqElement = { set: 'pods-v4', key: '10.244.0.6', comment: 'c2/eth0' };
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
    { set: { family: 'inet', table: 'weft-masq', type: 'ipv4_addr', name: 'pods-v4', elem: [{ elem: { val: '10.244.0.5', comment: 'c1/eth0' } }, '10.244.0.8'] } },
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
    { set: 'pods-v4', key: '10.244.0.5', comment: 'c1/eth0' },
    { set: 'pods-v4', key: '10.244.0.8' },
    { set: 'local-v6', key: 'fd00::5 . fd00::/64', comment: 'c1/eth0' },
  ]);
});
