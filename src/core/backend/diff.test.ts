// Unit tests for the backend diff: nothing for what is already right (restart safety), exact
// deletes of what is no longer wanted, device recreate vs in-place modify, backend switches and
// teardown, and the kernel's flush-on-MAC-change behaviour.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeChange, diffBackend } from './diff.js';
import { planBackend, vtepMacFor } from './plan.js';
import {
  emptyActual,
  noBackend,
  type ActualBackendState,
  type BackendNetConf,
  type BackendNode,
  type DesiredBackendState,
  type PeerLease,
} from './state.js';

const node: BackendNode = {
  subnet: '10.244.1.0/24',
  publicIp: '10.99.0.1',
  underlay: { name: 'eth0', cidr: '10.99.0.1/24', mtu: 1500 },
};
const conf = (type: 'vxlan' | 'host-gw', extra: Partial<BackendNetConf['backend']> = {}): BackendNetConf => ({
  network: '10.244.0.0/16',
  backend: { type, vni: 1, port: 8472, directRouting: false, ...extra },
});
const peer = (n: number): PeerLease => ({
  subnet: `10.244.${n}.0/24`,
  publicIp: `10.99.0.${n}`,
  backendType: 'vxlan',
  backendData: { VNI: 1, VtepMAC: vtepMacFor(`10.99.0.${n}`) },
});

const vx = (...ns: number[]) => planBackend({ node, conf: conf('vxlan'), peers: ns.map(peer) });
const hg = (...ns: number[]) => planBackend({ node, conf: conf('host-gw'), peers: ns.map(peer) });

/** What the kernel would show after applying `d` exactly (as the Netlink adapter reads it). */
function actualOf(d: DesiredBackendState): ActualBackendState {
  const a = emptyActual();
  if (d.device) {
    const { address, ...dev } = d.device;
    a.devices.push({ ...dev, learning: false, up: true, addresses: [address] });
  }
  a.routes = d.routes.map((r) => ({ ...r, type: 'unicast' }));
  a.neighbours = d.neighbours.map((n) => ({ ...n, permanent: true }));
  a.fdb = d.fdb.map((e) => ({ ...e }));
  return a;
}

const text = (d: DesiredBackendState, a: ActualBackendState) => diffBackend(d, a).map(describeChange);

describe('restart safety: what is right yields no change', () => {
  const rows: Array<[string, DesiredBackendState]> = [
    ['vxlan, two peers', vx(2, 3)],
    ['vxlan, no peers', vx()],
    ['host-gw, two peers', hg(2, 3)],
    ['no backend', noBackend()],
  ];
  for (const [name, d] of rows) test(name, () => assert.deepEqual(diffBackend(d, actualOf(d)), []));

  test("kernel entries that are not weft's are ignored (non-permanent neighbour for an unwanted address)", () => {
    const d = vx(2);
    const a = actualOf(d);
    a.neighbours.push({ dev: 'weft.1', ip: '10.244.9.0', mac: '00:00:00:00:00:00', permanent: false });
    assert.deepEqual(diffBackend(d, a), []);
  });
});

describe('from nothing', () => {
  test('vxlan: create the device, then neighbours, FDB, routes', () => {
    assert.deepEqual(text(vx(2), emptyActual()), [
      'create device weft.1 (vni 1, port 8472, local 10.99.0.1, dev eth0, mtu 1450, mac 0e:77:0a:63:00:01): missing',
      'add-neighbour 10.244.2.0 lladdr 0e:77:0a:63:00:02 dev weft.1',
      'add-fdb 0e:77:0a:63:00:02 dst 10.99.0.2 dev weft.1',
      'add-route 10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink',
    ]);
  });
  test('host-gw: routes only', () => {
    assert.deepEqual(text(hg(2, 3), emptyActual()), [
      'add-route 10.244.2.0/24 via 10.99.0.2 dev eth0',
      'add-route 10.244.3.0/24 via 10.99.0.3 dev eth0',
    ]);
  });
});

describe('peer changes touch exactly that peer', () => {
  test('a removed peer: its route, neighbour and FDB entry go, nothing else', () => {
    assert.deepEqual(text(vx(2), actualOf(vx(2, 3))), [
      'delete-neighbour 10.244.3.0 lladdr 0e:77:0a:63:00:03 dev weft.1',
      'delete-fdb 0e:77:0a:63:00:03 dst 10.99.0.3 dev weft.1',
      'delete-route 10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink',
    ]);
  });
  test('an added peer: only its entries', () => {
    assert.deepEqual(text(hg(2, 3), actualOf(hg(2))), ['add-route 10.244.3.0/24 via 10.99.0.3 dev eth0']);
  });
  test('a peer that moved to another public IP and MAC: replace neighbour, swap FDB, keep the route', () => {
    const moved: PeerLease = {
      ...peer(2),
      publicIp: '10.99.0.22',
      backendData: { VNI: 1, VtepMAC: vtepMacFor('10.99.0.22') },
    };
    const d = planBackend({ node, conf: conf('vxlan'), peers: [moved] });
    assert.deepEqual(text(d, actualOf(vx(2))), [
      'replace-neighbour 10.244.2.0 lladdr 0e:77:0a:63:00:16 dev weft.1',
      'delete-fdb 0e:77:0a:63:00:02 dst 10.99.0.2 dev weft.1',
      'add-fdb 0e:77:0a:63:00:16 dst 10.99.0.22 dev weft.1',
    ]);
  });
  test('an FDB entry with an extra destination loses only the extra one', () => {
    const a = actualOf(vx(2));
    a.fdb.push({ dev: 'weft.1', mac: '0e:77:0a:63:00:02', dst: '10.99.0.77' });
    assert.deepEqual(text(vx(2), a), ['delete-fdb 0e:77:0a:63:00:02 dst 10.99.0.77 dev weft.1']);
  });
  test('a wrong route for a wanted destination is replaced; a second one for it deleted', () => {
    const a = actualOf(hg(2));
    a.routes = [
      { dst: '10.244.2.0/24', via: '10.99.0.9', dev: 'eth0', onlink: false, type: 'unicast' },
      { dst: '10.244.2.0/24', dev: 'eth0', onlink: false, type: 'blackhole' },
    ];
    assert.deepEqual(text(hg(2), a), [
      'delete-route 10.244.2.0/24 dev eth0',
      'replace-route 10.244.2.0/24 via 10.99.0.2 dev eth0',
    ]);
  });
});

describe('the device', () => {
  test('MTU drift is fixed in place; neighbours survive', () => {
    const a = actualOf(vx(2));
    a.devices[0]!.mtu = 1400;
    assert.deepEqual(text(vx(2), a), ['set device weft.1 mtu 1450']);
  });
  test('a MAC change or a down device flushes neighbours in the kernel, so they are written again', () => {
    const a = actualOf(vx(2));
    a.devices[0]!.mac = '0e:00:00:00:00:99';
    assert.deepEqual(text(vx(2), a), [
      'set device weft.1 address 0e:77:0a:63:00:01',
      'add-neighbour 10.244.2.0 lladdr 0e:77:0a:63:00:02 dev weft.1',
    ]);
    const b = actualOf(vx(2));
    b.devices[0]!.up = false;
    b.routes = []; // the kernel drops routes over a down device
    b.neighbours = [];
    assert.deepEqual(text(vx(2), b), [
      'set device weft.1 up',
      'add-neighbour 10.244.2.0 lladdr 0e:77:0a:63:00:02 dev weft.1',
      'add-route 10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink',
    ]);
  });
  test('a stale address (old lease) is swapped for the new one', () => {
    const a = actualOf(vx());
    a.devices[0]!.addresses = ['10.244.7.0/32'];
    assert.deepEqual(text(vx(), a), [
      'delete-address 10.244.7.0/32 dev weft.1',
      'add-address 10.244.1.0/32 dev weft.1',
    ]);
  });
  const recreateRows: Array<[string, (d: ActualBackendState['devices'][number]) => void, string]> = [
    ['port', (d) => (d.port = 4789), 'port 4789 → 8472'],
    ['local', (d) => (d.local = '10.99.0.100'), 'local 10.99.0.100 → 10.99.0.1'],
    ['underlay', (d) => delete d.underlay, 'dev none → eth0'],
    ['learning', (d) => (d.learning = true), 'learning on → off'],
  ];
  for (const [name, mutate, reason] of recreateRows) {
    test(`a different ${name} cannot be changed in place: delete and create, then every entry again`, () => {
      const a = actualOf(vx(2));
      mutate(a.devices[0]!);
      assert.deepEqual(text(vx(2), a), [
        `delete device weft.1: ${reason}`,
        `create device weft.1 (vni 1, port 8472, local 10.99.0.1, dev eth0, mtu 1450, mac 0e:77:0a:63:00:01): ${reason}`,
        'add-neighbour 10.244.2.0 lladdr 0e:77:0a:63:00:02 dev weft.1',
        'add-fdb 0e:77:0a:63:00:02 dst 10.99.0.2 dev weft.1',
        // the old route went with the old device, so it is added, not replaced
        'add-route 10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink',
      ]);
    });
  }
  test('a new VNI: the old device goes (taking its entries), the new one comes', () => {
    const d = planBackend({
      node,
      conf: conf('vxlan', { vni: 2 }),
      peers: [{ ...peer(2), backendData: { VNI: 2, VtepMAC: vtepMacFor('10.99.0.2') } }],
    });
    const changes = text(d, actualOf(vx(2)));
    assert.deepEqual(changes.slice(0, 2), [
      "delete device weft.1: not the vxlan backend's device weft.2",
      'create device weft.2 (vni 2, port 8472, local 10.99.0.1, dev eth0, mtu 1450, mac 0e:77:0a:63:00:01): missing',
    ]);
    assert.ok(
      !changes.some((c) => c.startsWith('delete-') && c.includes('weft.1')),
      'no deletes of entries on the deleted device',
    );
  });
});

describe('backend switches and teardown', () => {
  test('vxlan → host-gw: the device goes with everything on it; routes become direct', () => {
    assert.deepEqual(text(hg(2, 3), actualOf(vx(2, 3))), [
      'delete device weft.1: the host-gw backend uses no VXLAN device',
      'add-route 10.244.2.0/24 via 10.99.0.2 dev eth0',
      'add-route 10.244.3.0/24 via 10.99.0.3 dev eth0',
    ]);
  });
  test('host-gw → vxlan: the device comes, the direct routes are replaced', () => {
    const changes = text(vx(2), actualOf(hg(2)));
    assert.equal(changes[0]?.startsWith('create device weft.1'), true);
    assert.equal(changes.at(-1), 'replace-route 10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink');
  });
  test('teardown: device and weft routes on other devices, nothing more', () => {
    const mixed = planBackend({
      node,
      conf: conf('vxlan', { directRouting: true }),
      peers: [
        peer(2),
        { ...peer(4), publicIp: '10.98.0.4', backendData: { VNI: 1, VtepMAC: vtepMacFor('10.98.0.4') } },
      ],
    });
    assert.deepEqual(text(noBackend(), actualOf(mixed)), [
      'delete device weft.1: tearing the backend down',
      'delete-route 10.244.2.0/24 via 10.99.0.2 dev eth0',
    ]);
  });
});
