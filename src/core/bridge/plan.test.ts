// Unit tests for bridge attachment planning: gateways, default routes, pod routes, masquerade
// entries and bridge address reconciliation, in IPv4, IPv6 and dual-stack rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CniError } from '../cni/errors.js';
import { parseBridgeConfig } from '../cni/plugins/bridge-config.js';
import type { CniResult } from '../cni/result.js';
import { formatIpNet, parseCidr } from '../net/ip.js';
import { planAttachment, planBridgeAddresses } from './plan.js';

const cfg = (extra: Record<string, unknown> = {}) =>
  parseBridgeConfig({ cniVersion: '1.0.0', name: 'n', type: 'bridge', ipam: { type: 'host-local' }, ...extra });

const v4: CniResult = {
  cniVersion: '1.0.0',
  ips: [{ address: '10.244.0.5/24', gateway: '10.244.0.1' }],
  routes: [{ dst: '0.0.0.0/0' }],
};
const v6: CniResult = { cniVersion: '1.0.0', ips: [{ address: 'fd00::5/64' }] };
const dual: CniResult = {
  cniVersion: '1.0.0',
  ips: [{ address: '10.244.0.5/24' }, { address: 'fd00::5/64' }],
  routes: [{ dst: '10.96.0.0/12' }],
};

test('IPv4 seed: gateway on the bridge, route via the gateway, masquerade entry, ips point at index 2', () => {
  const p = planAttachment(cfg({ isGateway: true, ipMasq: true }), v4);
  assert.deepEqual(p.ips, [{ address: '10.244.0.5/24', gateway: '10.244.0.1', interface: 2 }]);
  assert.deepEqual(p.routes, [{ dst: '0.0.0.0/0' }]);
  assert.deepEqual(p.podRoutes, [{ dst: '0.0.0.0/0', gw: '10.244.0.1' }]);
  assert.deepEqual(p.bridgeAddresses.map(formatIpNet), ['10.244.0.1/24']);
  assert.deepEqual(p.forwardFamilies, [4]);
  assert.deepEqual(p.masq, [{ family: 4, address: '10.244.0.5', subnet: '10.244.0.0/24' }]);
});

test('IPv6 with isDefaultGateway: computed gateway, nodad, default route added', () => {
  const p = planAttachment(cfg({ isDefaultGateway: true }), v6);
  assert.deepEqual(p.ips, [{ address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 }]);
  assert.deepEqual(p.podAddresses, [{ cidr: 'fd00::5/64', family: 6, nodad: true }]);
  assert.deepEqual(p.routes, [{ dst: '::/0', gw: 'fd00::1' }]);
  assert.deepEqual(p.forwardFamilies, [6]);
  assert.equal(planAttachment(cfg({ isDefaultGateway: true, enabledad: true }), v6).podAddresses[0]?.nodad, false);
});

test('dual-stack: one default route per family, IPAM routes kept', () => {
  const p = planAttachment(cfg({ isDefaultGateway: true, ipMasq: true }), dual);
  assert.deepEqual(p.routes, [
    { dst: '10.96.0.0/12' },
    { dst: '0.0.0.0/0', gw: '10.244.0.1' },
    { dst: '::/0', gw: 'fd00::1' },
  ]);
  assert.deepEqual(
    p.podRoutes.map((r) => `${r.dst} via ${r.gw}`),
    ['10.96.0.0/12 via 10.244.0.1', '0.0.0.0/0 via 10.244.0.1', '::/0 via fd00::1'],
  );
  assert.deepEqual(p.forwardFamilies, [4, 6]);
  assert.equal(p.masq.length, 2);
});

test('no gateway: no bridge address, routes go straight out of the interface, connected duplicates skipped', () => {
  const p = planAttachment(cfg(), {
    cniVersion: '1.0.0',
    ips: [{ address: '10.1.0.5/24' }],
    routes: [{ dst: '10.1.0.0/24' }, { dst: '10.2.0.0/16' }],
  });
  assert.deepEqual(p.bridgeAddresses, []);
  assert.deepEqual(p.ips, [{ address: '10.1.0.5/24', interface: 2 }]);
  assert.deepEqual(p.podRoutes, [{ dst: '10.2.0.0/16' }]);
  assert.deepEqual(p.forwardFamilies, []);
});

test('refusals', () => {
  const code = (n: number) => (e: unknown) => e instanceof CniError && e.code === n;
  assert.throws(() => planAttachment(cfg(), { cniVersion: '1.0.0' }), code(102));
  assert.throws(
    () =>
      planAttachment(cfg({ isDefaultGateway: true }), { ...v4, routes: [{ dst: '0.0.0.0/0', gw: '10.244.0.254' }] }),
    code(7),
  );
  assert.throws(
    () => planAttachment(cfg({ isGateway: true }), { cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/32' }] }),
    code(102),
  );
  assert.throws(
    () => planAttachment(cfg(), { cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/24', gateway: '10.0.0.1' }] }),
    code(102),
  );
});

test('bridge addresses: keep, add, conflict, forceAddress, IPv6 coexistence', () => {
  const nets = (...s: string[]) => s.map(parseCidr);
  const show = (c: { add: unknown[]; del: unknown[] }) => ({
    add: (c.add as never[]).map(formatIpNet),
    del: (c.del as never[]).map(formatIpNet),
  });
  const rows: Array<[string, string[], string[], boolean, { add: string[]; del: string[] } | 'conflict']> = [
    ['fresh bridge', [], ['10.0.0.1/24'], false, { add: ['10.0.0.1/24'], del: [] }],
    ['already there', ['10.0.0.1/24'], ['10.0.0.1/24'], false, { add: [], del: [] }],
    ['other IPv4 address', ['10.9.0.1/24'], ['10.0.0.1/24'], false, 'conflict'],
    ['other IPv4, forced', ['10.9.0.1/24'], ['10.0.0.1/24'], true, { add: ['10.0.0.1/24'], del: ['10.9.0.1/24'] }],
    [
      'two wanted IPv4 ranges',
      ['10.0.0.1/24'],
      ['10.0.0.1/24', '10.1.0.1/24'],
      false,
      { add: ['10.1.0.1/24'], del: [] },
    ],
    ['IPv6 disjoint coexists', ['fd01::1/64', 'fe80::1/64'], ['fd00::1/64'], false, { add: ['fd00::1/64'], del: [] }],
    ['IPv6 overlapping', ['fd00::2/64'], ['fd00::1/64'], false, 'conflict'],
    [
      'dual-stack',
      ['fe80::1/64'],
      ['10.0.0.1/24', 'fd00::1/64'],
      false,
      { add: ['10.0.0.1/24', 'fd00::1/64'], del: [] },
    ],
  ];
  for (const [name, existing, wanted, force, want] of rows) {
    if (want === 'conflict') {
      assert.throws(
        () => planBridgeAddresses('cni0', nets(...existing), nets(...wanted), force),
        /already has address/,
        name,
      );
    } else {
      assert.deepEqual(show(planBridgeAddresses('cni0', nets(...existing), nets(...wanted), force)), want, name);
    }
  }
});
