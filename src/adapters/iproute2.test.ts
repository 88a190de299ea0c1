// Unit tests for the `ip -batch` lines the iproute2 adapter writes (no kernel needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderChange } from './iproute2.js';

test('changes render to ip batch lines', () => {
  const rows: Array<[Parameters<typeof renderChange>[0], string]> = [
    [{ op: 'add-bridge', name: 'cni0', mtu: 1450 }, 'link add name cni0 mtu 1450 type bridge'],
    [
      {
        op: 'add-veth',
        name: 'veth0abc',
        peer: 'eth0',
        peerNetns: '/run/netns/p1',
        mtu: 1450,
        peerMac: '02:00:00:00:00:01',
      },
      'link add name veth0abc mtu 1450 type veth peer name eth0 mtu 1450 address 02:00:00:00:00:01 netns /run/netns/p1',
    ],
    [{ op: 'set-master', name: 'veth0abc', master: 'cni0' }, 'link set dev veth0abc master cni0'],
    [{ op: 'set-hairpin', name: 'veth0abc', on: true }, 'link set dev veth0abc type bridge_slave hairpin on'],
    [{ op: 'set-addrgenmode', name: 'eth0', mode: 'none' }, 'link set dev eth0 addrgenmode none'],
    [
      { op: 'add-address', dev: 'eth0', cidr: '10.0.0.5/24', nodad: true },
      'address add 10.0.0.5/24 broadcast + dev eth0',
    ],
    [{ op: 'add-address', dev: 'eth0', cidr: 'fd00::5/64', nodad: true }, 'address add fd00::5/64 dev eth0 nodad'],
    [
      { op: 'replace-route', dev: 'eth0', route: { dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400 } },
      'route replace 0.0.0.0/0 via 10.0.0.1 dev eth0 mtu 1400',
    ],
    [{ op: 'del-link', name: 'veth0abc' }, 'link del dev veth0abc'],
  ];
  for (const [change, want] of rows) assert.equal(renderChange(change), want);
});

test('tokens that would break the batch line are refused', () => {
  assert.throws(
    () => renderChange({ op: 'add-veth', name: 'v', peer: 'eth0', peerNetns: '/run/netns/a b' }),
    /netns path/,
  );
  assert.throws(() => renderChange({ op: 'del-link', name: '' }), /link/);
});
