// Unit tests for the birdc output parser, on output recorded from a real BIRD 2.0.12
// (birdc-recorded.fixture.ts) and on hand-made rows for what the recordings lack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseShowProtocolsAll, parseShowRoute } from './birdc-output.js';
import { PROTOCOLS_ALL_ESTABLISHED, PROTOCOLS_ALL_PEER_DOWN, ROUTE, ROUTE_ALL } from './birdc-recorded.fixture.js';

test('show protocols all: an established session, and only the BGP protocols', () => {
  assert.deepEqual(parseShowProtocolsAll(PROTOCOLS_ALL_ESTABLISHED), [
    {
      name: 'peer_10_99_0_2',
      protocolState: 'up',
      bgpState: 'Established',
      since: '14:06:22.770',
      neighborAddress: '10.99.0.2',
      neighborAs: 64512,
      localAs: 64512,
      gracefulRestartActive: false,
      imported: 1,
      exported: 1,
    },
  ]);
});

test('show protocols all: a peer whose BIRD died is Active, with its error and graceful restart', () => {
  const [s] = parseShowProtocolsAll(PROTOCOLS_ALL_PEER_DOWN);
  assert.equal(s?.protocolState, 'start');
  assert.equal(s?.bgpState, 'Active');
  assert.equal(s?.lastError, 'Socket: Connection closed');
  assert.equal(s?.gracefulRestartActive, true);
  assert.equal(s?.imported, 1, 'the stale routes are kept');
});

test('show route and show route all: the same routes', () => {
  const want = [
    { prefix: '10.244.1.0/24', type: 'blackhole', protocol: 'weft_own', primary: true },
    {
      prefix: '10.244.2.0/24',
      type: 'unicast',
      protocol: 'peer_10_99_0_2',
      primary: true,
      via: '10.99.0.2',
      iface: 'v0',
    },
  ];
  assert.deepEqual(parseShowRoute(ROUTE), want);
  assert.deepEqual(parseShowRoute(ROUTE_ALL), want);
});

test('show route: a second route for a prefix (no prefix on its line) and a dynamic session name', () => {
  const text = [
    'Table master4:',
    '10.244.3.0/24        unicast [seg0_1 14:10:01.100 from 10.99.0.1] * (100) [i]',
    '\tvia 10.99.0.1 on r0',
    '                     unicast [seg1_1 14:10:02.200 from 10.99.1.3] (100) [i]',
    '\tvia 10.99.1.3 on r1',
    '',
  ].join('\n');
  assert.deepEqual(parseShowRoute(text), [
    { prefix: '10.244.3.0/24', type: 'unicast', protocol: 'seg0_1', primary: true, via: '10.99.0.1', iface: 'r0' },
    { prefix: '10.244.3.0/24', type: 'unicast', protocol: 'seg1_1', primary: false, via: '10.99.1.3', iface: 'r1' },
  ]);
});

test('empty and unrelated output parse to nothing', () => {
  assert.deepEqual(parseShowProtocolsAll(''), []);
  assert.deepEqual(parseShowRoute('BIRD 2.0.12 ready.\nTable master4:\n'), []);
});
