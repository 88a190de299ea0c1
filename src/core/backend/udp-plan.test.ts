// Unit tests for the udp backend's plan: the device (MTU underlay - 28, the subnet's .0/32), the one
// route into it, the forwarder's table, peers it cannot serve, and the device diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffTunDevice, planUdp, type TunDeviceState } from './udp-plan.js';
import type { BackendNetConf, BackendNode, PeerLease } from './state.js';
import { BackendPlanError, planBackend } from './plan.js';
import { parseTunDevice, renderBatches } from './iproute2-codec.js';

const node: BackendNode = {
  subnet: '10.244.1.0/24',
  publicIp: '10.99.0.1',
  underlay: { name: 'eth0', cidr: '10.99.0.1/24', mtu: 1500 },
};
const conf: BackendNetConf = {
  network: '10.244.0.0/16',
  backend: { type: 'udp', vni: 1, port: 8285, directRouting: false },
};
const peer = (n: number, publicIp: string, backendType = 'udp', nodeName?: string): PeerLease => ({
  subnet: `10.244.${n}.0/24`,
  publicIp,
  backendType,
  backendData: {},
  ...(nodeName ? { nodeName } : {}),
});

test('the device, the route and the table for two peers, one across a router', () => {
  const plan = planUdp({ node, conf, peers: [peer(3, '10.99.1.3'), peer(2, '10.99.0.2'), peer(1, '10.99.0.1')] });
  assert.deepEqual(plan.tun, { name: 'weft0', mtu: 1472, address: '10.244.1.0/32' });
  assert.deepEqual(plan.desired.routes, [{ dst: '10.244.0.0/16', dev: 'weft0', onlink: false }]);
  assert.equal(plan.desired.device, undefined, 'no VXLAN device: a vxlan leftover is deleted by the diff');
  assert.equal(plan.desired.podMtu, 1472);
  assert.deepEqual(plan.entries, [
    { subnet: '10.244.2.0/24', publicIp: '10.99.0.2' },
    { subnet: '10.244.3.0/24', publicIp: '10.99.1.3' },
  ]);
  assert.equal(plan.ownSubnet, '10.244.1.0/24');
  assert.equal(plan.port, 8285);
  assert.deepEqual(plan.desired.errors, []);
});

test('peers it cannot serve become errors naming them; the others are served', () => {
  const plan = planUdp({
    node,
    conf,
    peers: [
      peer(2, '10.99.0.2', 'vxlan', 'n2'),
      peer(3, '10.99.0.3'),
      { ...peer(4, '10.99.0.4'), subnet: '10.245.4.0/24' },
    ],
  });
  assert.deepEqual(plan.entries, [{ subnet: '10.244.3.0/24', publicIp: '10.99.0.3' }]);
  assert.deepEqual(
    plan.desired.errors.map((e) => e.message),
    [
      'udp: peer 10.99.0.2 (subnet 10.244.2.0/24) of node n2 runs the vxlan backend, which has no forwarder on port 8285; not routed',
      'peer 10.99.0.4 (subnet 10.245.4.0/24): subnet is outside the network 10.244.0.0/16',
    ],
  );
});

test('bad node or port input is a BackendPlanError; planBackend refuses udp', () => {
  assert.throws(
    () => planUdp({ node, conf: { ...conf, backend: { ...conf.backend, port: 70000 } }, peers: [] }),
    (e: unknown) => e instanceof BackendPlanError && /backend Port 70000 is outside 1\.\.65535/.test(e.message),
  );
  assert.throws(
    () => planUdp({ node: { ...node, publicIp: 'n1' }, conf, peers: [] }),
    /node publicIp "n1" is not an IPv4 address/,
  );
  assert.throws(() => planBackend({ node, conf, peers: [] }), /planned by planUdp/);
});

test('diffTunDevice: MTU, up and the one address, only what differs', () => {
  const want = { name: 'weft0', mtu: 1472, address: '10.244.1.0/32' };
  const fresh: TunDeviceState = { name: 'weft0', mtu: 1500, up: false, addresses: [] };
  const rows: [string, TunDeviceState, string[]][] = [
    ['a fresh device', fresh, ['link set weft0 mtu 1472 up', 'address add 10.244.1.0/32 dev weft0']],
    ['already right', { ...fresh, mtu: 1472, up: true, addresses: ['10.244.1.0/32'] }, []],
    [
      'a stale address (the node got another subnet)',
      { ...fresh, mtu: 1472, up: true, addresses: ['10.244.9.0/32'] },
      ['address delete 10.244.9.0/32 dev weft0', 'address add 10.244.1.0/32 dev weft0'],
    ],
    ['down only', { ...fresh, mtu: 1472, addresses: ['10.244.1.0/32'] }, ['link set weft0 up']],
  ];
  for (const [name, have, lines] of rows) assert.deepEqual(renderBatches(diffTunDevice(want, have)).ip, lines, name);
});

test('codec: a route without a gateway, and the TUN listing', () => {
  const plan = planUdp({ node, conf, peers: [] });
  assert.deepEqual(renderBatches([{ kind: 'add-route', route: plan.desired.routes[0]! }]).ip, [
    'route replace 10.244.0.0/16 dev weft0 proto 119',
  ]);
  const listing = JSON.stringify([
    {
      ifname: 'weft0',
      flags: ['POINTOPOINT', 'NOARP', 'UP', 'LOWER_UP'],
      mtu: 1472,
      addr_info: [
        { family: 'inet', local: '10.244.1.0', prefixlen: 32 },
        { family: 'inet6', local: 'fe80::1', prefixlen: 64 },
      ],
    },
  ]);
  assert.deepEqual(parseTunDevice(listing, 'weft0'), {
    name: 'weft0',
    mtu: 1472,
    up: true,
    addresses: ['10.244.1.0/32'],
  });
  assert.equal(parseTunDevice('[]', 'weft0'), undefined);
});
