// Unit tests for the `weft get bgp` tables: sessions (with the reason a session is down, and a
// speaker whose BIRD does not answer) and learnt routes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bgpRouteRows, bgpSessionRows, type BgpSpeakerStatus } from './bgp-view.js';

const status: BgpSpeakerStatus[] = [
  {
    speaker: 'n1',
    sessions: [
      {
        name: 'peer_10_99_0_2',
        protocolState: 'up',
        bgpState: 'Established',
        since: '14:06:22.770',
        neighborAddress: '10.99.0.2',
        neighborAs: 64512,
        gracefulRestartActive: false,
        imported: 1,
      },
      {
        name: 'peer_10_99_0_3',
        protocolState: 'start',
        bgpState: 'Active',
        since: '14:06:28.552',
        neighborAddress: '10.99.0.3',
        neighborAs: 64512,
        lastError: 'Socket: Connection closed',
        gracefulRestartActive: true,
        imported: 1,
      },
    ],
    learnt: [
      {
        prefix: '10.244.2.0/24',
        type: 'unicast',
        protocol: 'peer_10_99_0_2',
        primary: true,
        via: '10.99.0.2',
        iface: 'eth0',
      },
    ],
  },
  { speaker: 'n2', sessions: [], learnt: [], error: 'Unable to connect to server control socket' },
  { speaker: 'n3', sessions: [], learnt: [] },
];

test('sessions: one row each, the down one with graceful restart and its error; a silent BIRD and no sessions said', () => {
  const t = bgpSessionRows(status);
  assert.deepEqual(t.header, ['node', 'session', 'neighbor', 'as', 'state', 'since', 'routes']);
  assert.deepEqual(t.rows, [
    ['n1', 'peer_10_99_0_2', '10.99.0.2', '64512', 'Established', '14:06:22.770', '1'],
    [
      'n1',
      'peer_10_99_0_3',
      '10.99.0.3',
      '64512',
      'Active (graceful restart) (Socket: Connection closed)',
      '14:06:28.552',
      '1',
    ],
    ['n2', '-', '-', '-', 'UNKNOWN (Unable to connect to server control socket)', '-', '-'],
    ['n3', '(none)', '-', '-', '-', '-', '-'],
  ]);
});

test('routes: one row per learnt route', () => {
  assert.deepEqual(bgpRouteRows(status).rows, [['n1', '10.244.2.0/24', '10.99.0.2', 'eth0', 'peer_10_99_0_2', 'yes']]);
});
