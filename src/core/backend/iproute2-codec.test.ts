// Unit tests for the backends' iproute2 dialect: batch lines rendered from changes, and `ip -j`
// / `bridge -j` listings (recorded from iproute2 6.1) parsed into the actual state.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseFdb,
  parseNeighbours,
  parseRoutes,
  parseVxlanDevices,
  renderBatches,
  splitBatchOutput,
} from './iproute2-codec.js';
import type { BackendChange } from './state.js';

describe('render', () => {
  test('every change kind, ip and bridge lines apart, in order', () => {
    const changes: BackendChange[] = [
      { kind: 'delete-device', name: 'weft.2', reason: 'old VNI' },
      {
        kind: 'create-device',
        device: {
          name: 'weft.1',
          vni: 1,
          port: 8472,
          local: '10.99.0.1',
          underlay: 'eth0',
          mtu: 1450,
          mac: '0e:77:0a:63:00:01',
          address: '10.244.1.0/32',
        },
        reason: 'missing',
      },
      { kind: 'set-device', name: 'weft.1', mtu: 1400, mac: '0e:77:0a:63:00:01', up: true },
      { kind: 'delete-address', dev: 'weft.1', cidr: '10.244.7.0/32' },
      { kind: 'add-neighbour', neighbour: { dev: 'weft.1', ip: '10.244.2.0', mac: '0e:77:0a:63:00:02' } },
      { kind: 'delete-neighbour', neighbour: { dev: 'weft.1', ip: '10.244.3.0', mac: '0e:77:0a:63:00:03' } },
      { kind: 'delete-fdb', entry: { dev: 'weft.1', mac: '0e:77:0a:63:00:03', dst: '10.99.0.3' } },
      { kind: 'add-fdb', entry: { dev: 'weft.1', mac: '0e:77:0a:63:00:02', dst: '10.99.0.2' } },
      {
        kind: 'delete-route',
        route: { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'weft.1', onlink: true, type: 'unicast' },
      },
      { kind: 'delete-route', route: { dst: '10.244.9.0/24', onlink: false, type: 'blackhole' } },
      { kind: 'add-route', route: { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1', onlink: true } },
      { kind: 'replace-route', route: { dst: '10.244.4.0/24', via: '10.99.0.4', dev: 'eth0', onlink: false } },
    ];
    assert.deepEqual(renderBatches(changes), {
      ip: [
        'link delete weft.2',
        'link add weft.1 address 0e:77:0a:63:00:01 mtu 1450 type vxlan id 1 dstport 8472 local 10.99.0.1 dev eth0 nolearning',
        'address add 10.244.1.0/32 dev weft.1',
        'link set weft.1 up',
        'link set weft.1 mtu 1400 address 0e:77:0a:63:00:01 up',
        'address delete 10.244.7.0/32 dev weft.1',
        'neigh replace 10.244.2.0 lladdr 0e:77:0a:63:00:02 dev weft.1 nud permanent',
        'neigh delete 10.244.3.0 dev weft.1',
        'route delete 10.244.3.0/24 via 10.244.3.0 dev weft.1 proto 119 table main',
        'route delete blackhole 10.244.9.0/24 proto 119 table main',
        'route replace 10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink proto 119',
        'route replace 10.244.4.0/24 via 10.99.0.4 dev eth0 proto 119',
      ],
      bridge: [
        'fdb delete 0e:77:0a:63:00:03 dev weft.1 dst 10.99.0.3 self',
        'fdb replace 0e:77:0a:63:00:02 dev weft.1 dst 10.99.0.2 self permanent',
      ],
    });
  });

  test('a name that would break the batch line is refused', () => {
    assert.throws(() => renderBatches([{ kind: 'delete-device', name: 'weft.1 # x', reason: '' }]), /cannot be used/);
  });
});

describe('parse', () => {
  const link = JSON.stringify([
    {
      ifindex: 8,
      ifname: 'weft.1',
      flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
      mtu: 1450,
      address: '0E:11:22:33:44:55',
      linkinfo: {
        info_kind: 'vxlan',
        info_data: { id: 1, local: '10.99.0.1', link: 'd0', port: 8472, learning: false },
      },
      addr_info: [
        { family: 'inet', local: '10.244.1.0', prefixlen: 32 },
        { family: 'inet6', local: 'fe80::c11:22ff:fe33:4455', prefixlen: 64 },
      ],
    },
    {
      ifindex: 9,
      ifname: 'vxlan0',
      mtu: 1450,
      address: '0e:00:00:00:00:01',
      linkinfo: { info_kind: 'vxlan', info_data: { id: 2, port: 4789 } },
    },
  ]);

  test('VXLAN devices: weft-prefixed only, IPv4 addresses only, learning read', () => {
    assert.deepEqual(parseVxlanDevices(link), [
      {
        name: 'weft.1',
        vni: 1,
        port: 8472,
        local: '10.99.0.1',
        underlay: 'd0',
        learning: false,
        mtu: 1450,
        mac: '0e:11:22:33:44:55',
        up: true,
        addresses: ['10.244.1.0/32'],
      },
    ]);
  });

  test('routes: onlink flag, type, /32 and default forms', () => {
    const out =
      '[{"dst":"10.244.2.0/24","gateway":"10.244.2.0","dev":"weft.1","flags":["onlink"]},{"type":"blackhole","dst":"10.244.9.9","flags":[]},{"dst":"default","gateway":"10.99.0.254","dev":"eth0","flags":[]}]';
    assert.deepEqual(parseRoutes(out), [
      { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'weft.1', onlink: true, type: 'unicast' },
      { dst: '10.244.9.9/32', onlink: false, type: 'blackhole' },
      { dst: '0.0.0.0/0', via: '10.99.0.254', dev: 'eth0', onlink: false, type: 'unicast' },
    ]);
  });

  test('neighbours on weft devices only, permanence read', () => {
    const out =
      '[{"dst":"10.244.2.0","dev":"weft.1","lladdr":"0e:00:00:00:00:02","state":["PERMANENT"]},{"dst":"10.244.9.0","dev":"weft.1","state":["FAILED"]},{"dst":"10.99.0.2","dev":"eth0","lladdr":"aa:bb:cc:dd:ee:ff","state":["REACHABLE"]}]';
    assert.deepEqual(parseNeighbours(out, new Set(['weft.1'])), [
      { dev: 'weft.1', ip: '10.244.2.0', mac: '0e:00:00:00:00:02', permanent: true },
      { dev: 'weft.1', ip: '10.244.9.0', mac: '', permanent: false },
    ]);
  });

  test('FDB: permanent entries with a destination', () => {
    const out =
      '[{"mac":"0e:00:00:00:00:02","dst":"10.99.0.2","flags":["self"],"state":"permanent"},{"mac":"33:33:00:00:00:01","flags":["self"],"state":"permanent"}]';
    assert.deepEqual(parseFdb(out, 'weft.1'), [{ dev: 'weft.1', mac: '0e:00:00:00:00:02', dst: '10.99.0.2' }]);
  });

  test('empty output is an empty list; garbage names the listing', () => {
    assert.deepEqual(parseRoutes(''), []);
    assert.throws(() => parseRoutes('Error: nope'), /ip -j route show proto 119: output is not JSON/);
  });

  test('batch output: one JSON line per command, or a clear error', () => {
    assert.deepEqual(splitBatchOutput('[]\n[{"a":1}]\n', ['x', 'y']), ['[]', '[{"a":1}]']);
    assert.throws(() => splitBatchOutput('[]\n', ['x', 'y']), /expected 2 JSON lines, got 1/);
  });
});
