// Unit tests for the portmap config: reference configs accepted unchanged, errors naming the
// field, ignored/rejected reference options, and picking the pod's addresses from prevResult.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CniError } from '../errors.js';
import type { CniResult } from '../result.js';
import { formatIpNet } from '../../net/ip.js';
import { networkNameOf, parsePortmapConfig, podAddressesOf } from './portmap-config.js';

const base = { cniVersion: '1.0.0', name: 'mynet', type: 'portmap', capabilities: { portMappings: true } };
const withMappings = (portMappings: unknown, extra: Record<string, unknown> = {}) => ({
  ...base,
  ...extra,
  runtimeConfig: { portMappings },
});

test('a reference config parses with the reference defaults', () => {
  const c = parsePortmapConfig(
    withMappings([
      { hostPort: 8080, containerPort: 80, protocol: 'TCP' },
      { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '192.168.1.1' },
      { hostPort: 9, containerPort: 9 },
    ]),
  );
  assert.equal(c.network, 'mynet');
  assert.equal(c.snat, true);
  assert.equal(c.masqAll, false);
  assert.deepEqual(
    c.mappings.map((m) => [m.hostPort, m.containerPort, m.protocol, m.hostIp?.family]),
    [
      [8080, 80, 'tcp', undefined],
      [53, 53, 'udp', 4],
      [9, 9, 'tcp', undefined],
    ],
  );
  assert.deepEqual(c.notes, []);
  assert.deepEqual(parsePortmapConfig(base).mappings, [], 'no runtimeConfig: no mappings');
  assert.deepEqual(
    parsePortmapConfig(withMappings([{ hostPort: 1, containerPort: 1, hostIP: '' }])).mappings[0]?.hostIp,
    undefined,
    'hostIP "" is unset',
  );
});

test('bad input is code 7 naming the field', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'hostPort 0',
      withMappings([{ hostPort: 0, containerPort: 80 }]),
      /runtimeConfig\.portMappings\[0\]\.hostPort: must be 1-65535/,
    ],
    [
      'hostPort too big',
      withMappings([
        { hostPort: 80, containerPort: 80 },
        { hostPort: 70000, containerPort: 80 },
      ]),
      /runtimeConfig\.portMappings\[1\]\.hostPort: must be 1-65535/,
    ],
    [
      'hostPort a string',
      withMappings([{ hostPort: '80', containerPort: 80 }]),
      /portMappings\[0\]\.hostPort: must be a number/,
    ],
    [
      'containerPort fractional',
      withMappings([{ hostPort: 80, containerPort: 80.5 }]),
      /portMappings\[0\]\.containerPort: must be an integer/,
    ],
    ['containerPort missing', withMappings([{ hostPort: 80 }]), /portMappings\[0\]\.containerPort/],
    [
      'unknown protocol',
      withMappings([{ hostPort: 80, containerPort: 80, protocol: 'icmp' }]),
      /portMappings\[0\]\.protocol: must be one of tcp, udp, sctp/,
    ],
    [
      'bad hostIP',
      withMappings([{ hostPort: 80, containerPort: 80, hostIP: '10.0.0.300' }]),
      /portMappings\[0\]\.hostIP: invalid IP address "10\.0\.0\.300"/,
    ],
    ['portMappings not a list', withMappings({ hostPort: 80 }), /runtimeConfig\.portMappings: must be a list/],
    ['snat not a boolean', { ...base, snat: 'yes' }, /snat: must be a boolean/],
    ['markMasqBit out of range', { ...base, markMasqBit: 32 }, /markMasqBit: must be 0-31/],
    [
      'markMasqBit with externalSetMarkChain',
      { ...base, markMasqBit: 13, externalSetMarkChain: 'KUBE-MARK-MASQ' },
      /markMasqBit: cannot be set together with externalSetMarkChain/,
    ],
    ['unknown backend', { ...base, backend: 'ebpf' }, /backend: must be "iptables" or "nftables"/],
  ];
  for (const [name, config, message] of cases) {
    assert.throws(
      () => parsePortmapConfig(config),
      (err: unknown) => err instanceof CniError && err.code === 7 && message.test(err.message),
      name,
    );
  }
});

test('iptables conditions are refused with code 2; mark options are accepted and noted', () => {
  assert.throws(
    () => parsePortmapConfig({ ...base, conditionsV4: ['-s', '1.2.3.4'] }),
    (err: unknown) => err instanceof CniError && err.code === 2 && /conditionsV4/.test(err.message),
  );
  assert.throws(
    () => parsePortmapConfig({ ...base, conditionsV6: ['!', '-d', '::1'] }),
    (err: unknown) => err instanceof CniError && err.code === 2 && /conditionsV6/.test(err.message),
  );
  assert.deepEqual(parsePortmapConfig({ ...base, conditionsV4: [], conditionsV6: null }).notes, []);
  assert.equal(parsePortmapConfig({ ...base, markMasqBit: 13 }).notes.length, 1);
  assert.match(
    parsePortmapConfig({ ...base, externalSetMarkChain: 'KUBE-MARK-MASQ' }).notes[0] ?? '',
    /KUBE-MARK-MASQ/,
  );
  const c = parsePortmapConfig({ ...base, snat: false, masqAll: true, backend: 'nftables' });
  assert.equal(c.snat, false);
  assert.equal(c.masqAll, true);
});

test('DEL and GC read only the network name', () => {
  assert.equal(networkNameOf({ name: 'n1', runtimeConfig: { portMappings: 'garbage' } }), 'n1');
  assert.equal(networkNameOf({}), '');
});

test('pod addresses come from sandbox interfaces, the first of each family', () => {
  const result = (r: Omit<CniResult, 'cniVersion'>): CniResult => ({ cniVersion: '1.0.0', ...r });
  const cases: Array<[string, CniResult, string[]]> = [
    [
      'bridge result: host bridge and veth skipped, pod eth0 taken',
      result({
        interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/var/run/netns/p' }],
        ips: [
          { address: '10.244.0.5/24', gateway: '10.244.0.1', interface: 2 },
          { address: 'fd00::5/64', interface: 2 },
        ],
      }),
      ['10.244.0.5/24', 'fd00::5/64'],
    ],
    [
      'an address on the host bridge is not the pod',
      result({ interfaces: [{ name: 'cni0' }], ips: [{ address: '10.244.0.1/24', interface: 0 }] }),
      [],
    ],
    ['no interface index: taken', result({ ips: [{ address: '10.1.2.3/32' }] }), ['10.1.2.3/32']],
    [
      'first of each family wins; CNI_IFNAME preferred',
      result({
        interfaces: [
          { name: 'net1', sandbox: '/p' },
          { name: 'eth0', sandbox: '/p' },
        ],
        ips: [
          { address: '10.9.0.2/24', interface: 0 },
          { address: '10.244.0.5/24', interface: 1 },
          { address: '10.244.0.6/24', interface: 1 },
        ],
      }),
      ['10.244.0.5/24'],
    ],
    ['no ips: nothing to do', result({ interfaces: [{ name: 'eth0', sandbox: '/p' }] }), []],
  ];
  for (const [name, r, want] of cases) assert.deepEqual(podAddressesOf(r, 'eth0').map(formatIpNet), want, name);
});
