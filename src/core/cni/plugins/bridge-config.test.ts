// Unit tests for the bridge config: reference defaults, field validation (code 7 naming the
// field), unsupported features (code 2) and MAC precedence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CniError } from '../errors.js';
import { bridgeDelFieldsOf, parseBridgeConfig } from './bridge-config.js';

const base = { cniVersion: '0.3.1', name: 'mynet', type: 'bridge' };

function fails(raw: Record<string, unknown>, code: number, field: RegExp, args: Array<[string, string]> = []): void {
  assert.throws(
    () => parseBridgeConfig(raw, args),
    (e: unknown) => e instanceof CniError && e.code === code && field.test(e.message),
    JSON.stringify(raw),
  );
}

test('the seed config gets the reference defaults', () => {
  const c = parseBridgeConfig({
    ...base,
    bridge: 'cni0',
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', subnet: '10.244.0.0/16' },
  });
  assert.deepEqual(c, {
    network: 'mynet',
    bridge: 'cni0',
    isGateway: true,
    isDefaultGateway: false,
    forceAddress: false,
    ipMasq: true,
    hairpinMode: false,
    promiscMode: false,
    enableDad: false,
    disableContainerInterface: false,
    ipamType: 'host-local',
    awaitPolicy: false,
    notes: [],
  });
});

test('defaults: cni0, L2-only with ipam {} or none, isDefaultGateway implies isGateway', () => {
  assert.equal(parseBridgeConfig({ ...base }).bridge, 'cni0');
  assert.equal(parseBridgeConfig({ ...base, ipam: {} }).ipamType, undefined);
  const c = parseBridgeConfig({ ...base, isDefaultGateway: true, mtu: 1450, ipam: { type: 'x' } });
  assert.equal(c.isGateway, true);
  assert.equal(c.mtu, 1450);
  assert.equal(parseBridgeConfig({ ...base, mtu: 0 }).mtu, undefined);
});

test('invalid fields are code 7 naming the field', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['mtu as string', { mtu: 'x' }, /mtu/],
    ['mtu too small', { mtu: 10 }, /mtu/],
    ['bridge name too long', { bridge: 'a-very-long-bridge-name' }, /bridge/],
    ['isGateway not boolean', { isGateway: 'yes' }, /isGateway/],
    ['hairpin with promisc', { hairpinMode: true, promiscMode: true }, /hairpin/],
    ['bad ipMasqBackend', { ipMasqBackend: 'pf' }, /ipMasqBackend/],
    ['bad runtimeConfig.mac', { runtimeConfig: { mac: 'zz' } }, /runtimeConfig\.mac/],
    [
      'disableContainerInterface with IPAM',
      { disableContainerInterface: true, ipam: { type: 'host-local' } },
      /disableContainerInterface/,
    ],
  ];
  for (const [, extra, field] of cases) fails({ ...base, ...extra }, 7, field);
});

test('unsupported features are code 2; their "off" values are accepted', () => {
  fails({ ...base, vlan: 100 }, 2, /vlan/);
  fails({ ...base, vlanTrunk: [{ id: 5 }] }, 2, /vlanTrunk/);
  // Without IPAM there is no address to check against: refused. With IPAM the pod guard does it.
  fails({ ...base, macspoofchk: true }, 2, /macspoofchk/);
  assert.equal(parseBridgeConfig({ ...base, macspoofchk: true, ipam: { type: 'host-local' } }).ipamType, 'host-local');
  fails({ ...base, portIsolation: true }, 2, /portIsolation/);
  assert.doesNotThrow(() =>
    parseBridgeConfig({ ...base, vlan: 0, vlanTrunk: [], macspoofchk: false, preserveDefaultVlan: true }),
  );
});

test('MAC: runtimeConfig beats args.cni beats CNI_ARGS', () => {
  const args: Array<[string, string]> = [
    ['IgnoreUnknown', '1'],
    ['MAC', '02:00:00:00:00:01'],
  ];
  assert.equal(parseBridgeConfig({ ...base }, args).mac, '02:00:00:00:00:01');
  assert.equal(
    parseBridgeConfig({ ...base, args: { cni: { mac: '02:00:00:00:00:02' } } }, args).mac,
    '02:00:00:00:00:02',
  );
  assert.equal(
    parseBridgeConfig(
      { ...base, args: { cni: { mac: '02:00:00:00:00:02' } }, runtimeConfig: { mac: '02:00:00:00:00:0A' } },
      args,
    ).mac,
    '02:00:00:00:00:0a',
  );
  fails({ ...base }, 4, /MAC/, [['MAC', 'nope']]);
});

test('iptables backend is accepted with a note', () => {
  assert.equal(parseBridgeConfig({ ...base, ipMasqBackend: 'iptables' }).notes.length, 1);
});

test('DEL reads its fields leniently', () => {
  assert.deepEqual(bridgeDelFieldsOf({ mtu: 'garbage', ipam: { type: 'host-local' } }), {
    ipamType: 'host-local',
    bridge: 'cni0',
  });
  assert.deepEqual(bridgeDelFieldsOf({ bridge: 'br9', ipam: {} }), { bridge: 'br9' });
});
