// Unit tests for bridge CHECK: prevResult against observed links and routes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CniResult } from '../cni/result.js';
import type { LinkState } from '../../ports/links.js';
import { checkAttachment, hostVethOf, type ObservedAttachment } from './check.js';

const names = { bridge: 'cni0', hostVeth: 'veth12345678', ifname: 'eth0', netns: '/run/netns/p' };
const prev: CniResult = {
  cniVersion: '1.0.0',
  interfaces: [
    { name: 'cni0' },
    { name: 'veth12345678' },
    { name: 'eth0', mac: 'AA:bb:cc:dd:ee:ff', sandbox: '/run/netns/p' },
  ],
  ips: [
    { address: '10.0.0.5/24', interface: 2 },
    { address: 'fd00:0::5/64', interface: 2 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
};
const link = (o: Partial<LinkState>): LinkState => ({
  name: '',
  index: 1,
  mtu: 1500,
  mac: '',
  up: true,
  promisc: false,
  addresses: [],
  ...o,
});
const good = (): ObservedAttachment => ({
  bridge: link({ name: 'cni0', kind: 'bridge', index: 2 }),
  hostVeth: link({ name: 'veth12345678', kind: 'veth', master: 'cni0', index: 7 }),
  container: link({
    name: 'eth0',
    kind: 'veth',
    peerIndex: 7,
    mac: 'aa:bb:cc:dd:ee:ff',
    addresses: [
      { cidr: '10.0.0.5/24', family: 4, tentative: false, dadFailed: false },
      { cidr: 'fd00::5/64', family: 6, tentative: false, dadFailed: false },
    ],
  }),
  podRoutes: [{ dst: '0.0.0.0/0', gateway: '10.0.0.1' }],
});

test('a healthy attachment has no problems', () => {
  assert.deepEqual(checkAttachment(names, prev, good()), []);
  assert.equal(hostVethOf(prev, 'cni0'), 'veth12345678');
});

test('each kind of drift is reported', () => {
  const rows: Array<[string, (o: ObservedAttachment) => void, RegExp]> = [
    ['host veth deleted', (o) => delete o.hostVeth, /host veth veth12345678 does not exist/],
    ['bridge deleted', (o) => delete o.bridge, /bridge cni0 does not exist/],
    ['veth not enslaved', (o) => delete o.hostVeth!.master, /not enslaved/],
    ['container gone', (o) => delete o.container, /eth0 does not exist/],
    ['MAC changed', (o) => (o.container!.mac = '02:00:00:00:00:01'), /MAC/],
    ['address removed', (o) => o.container!.addresses.pop(), /lacks address fd00::5\/64/],
    ['route removed', (o) => (o.podRoutes = []), /no route to 0\.0\.0\.0\/0 via 10\.0\.0\.1/],
    ['wrong peer', (o) => (o.container!.peerIndex = 99), /not the peer/],
  ];
  for (const [name, mutate, want] of rows) {
    const o = good();
    mutate(o);
    const problems = checkAttachment(names, prev, o);
    assert.ok(
      problems.some((p) => want.test(p)),
      `${name}: ${problems.join('; ')}`,
    );
  }
});
