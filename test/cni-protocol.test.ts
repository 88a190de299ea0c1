/**
 * The CNI protocol end to end, with the real plugin executables in real namespaces:
 * every supported cniVersion gets a result of its own shape, VERSION lists them all, and every
 * kind of bad input gets the spec's error code, a non-zero exit, and leaves nothing behind
 * (no interface, no reservation, no nftables object).
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Netns, ipJson, nftObjects } from './support/netns.js';
import { invoke, makeBinDir, mustAdd } from './support/cni.js';
import { SUPPORTED_VERSIONS } from '../src/core/cni/version.js';

const fx = new Netns('weft-proto-');
let node = '';
let pod = '';
let binDir = '';
let dataDir = '';

function bridgeConf(version: string, ipam: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: version,
    name: 'protonet',
    type: 'weft-bridge',
    bridge: 'cni0',
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'weft-host-local', subnet: '10.88.0.0/24', dataDir, routes: [{ dst: '0.0.0.0/0' }], ...ipam },
  };
}

/** Interface names in the node namespace other than lo and the bridge. */
function nodeLinks(): string[] {
  return ipJson<Array<{ ifname: string }>>(node, ['link', 'show'])
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo' && !n.startsWith('cni'))
    .sort();
}

/** Reservation files (not the lock or last_reserved_ip bookkeeping) for one network. */
function reservations(network: string): string[] {
  const dir = join(dataDir, network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'))
    .sort();
}

before(() => {
  node = fx.add('node');
  pod = fx.add('pod');
  binDir = makeBinDir(fx.tmpDir('bin'));
  dataDir = fx.tmpDir('ipam');
});
after(() => fx.cleanup());

describe('VERSION', () => {
  for (const plugin of ['weft-bridge', 'weft-host-local', 'weft-loopback', 'weft-portmap']) {
    test(`${plugin} lists every supported version`, () => {
      const r = invoke({ nodeNs: node, binDir, plugin, command: 'VERSION', config: { cniVersion: '1.0.0' } });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.json, { cniVersion: '1.0.0', supportedVersions: [...SUPPORTED_VERSIONS] });
    });
  }
});

describe('each cniVersion gets a result of its own shape', () => {
  for (const version of SUPPORTED_VERSIONS) {
    test(`bridge + host-local at ${version}`, () => {
      const containerId = `ver-${version.replace(/\./g, '')}`;
      const att = {
        nodeNs: node,
        binDir,
        plugin: 'weft-bridge',
        containerId,
        netns: fx.path(pod),
        ifname: 'eth0',
        config: bridgeConf(version),
      };
      const res = mustAdd(att);
      try {
        assert.equal(res.cniVersion, version);
        const ips = res.ips as Array<Record<string, unknown>>;
        const ifaces = res.interfaces as Array<Record<string, unknown>>;
        assert.equal(ips.length, 1);
        assert.match(String(ips[0]!.address), /^10\.88\.0\.\d+\/24$/);
        assert.equal(ips[0]!.gateway, '10.88.0.1');
        if (version.startsWith('0.')) assert.equal(ips[0]!.version, '4');
        else assert.equal('version' in ips[0]!, false, '1.x results carry no ips[].version');
        assert.equal(ips[0]!.interface, 2);
        assert.deepEqual(ifaces.map((i) => i.name).slice(0, 1), ['cni0']);
        assert.equal(ifaces[2]!.name, 'eth0');
        assert.equal(ifaces[2]!.sandbox, fx.path(pod));
        assert.match(String(ifaces[2]!.mac), /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
        if (version === '1.1.0') assert.equal(typeof ifaces[2]!.mtu, 'number', '1.1.0 interfaces carry mtu');
        else assert.equal('mtu' in ifaces[2]!, false, `${version} interfaces carry no mtu`);
        if (version !== '0.3.0' && version !== '0.3.1') {
          const check = invoke({ ...att, command: 'CHECK', config: { ...bridgeConf(version), prevResult: res } });
          assert.equal(check.status, 0, check.stdout + check.stderr);
        }
      } finally {
        const del = invoke({ ...att, command: 'DEL', config: { ...bridgeConf(version), prevResult: res } });
        assert.equal(del.status, 0, del.stdout + del.stderr);
      }
      assert.deepEqual(reservations('protonet'), []);
    });

    test(`loopback at ${version}`, () => {
      const att = {
        nodeNs: node,
        binDir,
        plugin: 'weft-loopback',
        containerId: 'lo-c',
        netns: fx.path(pod),
        ifname: 'lo',
        config: { cniVersion: version, name: 'lo', type: 'weft-loopback' },
      };
      const res = mustAdd(att);
      assert.equal(res.cniVersion, version);
      const ips = res.ips as Array<Record<string, unknown>>;
      assert.ok(ips.some((ip) => ip.address === '127.0.0.1/8'));
      assert.equal(
        ips.every((ip) => 'version' in ip === version.startsWith('0.')),
        true,
      );
      assert.equal(invoke({ ...att, command: 'DEL' }).status, 0);
    });
  }
});

describe('bad input: the right code, a non-zero exit, nothing left behind', () => {
  const base = () => ({
    nodeNs: node,
    binDir,
    plugin: 'weft-bridge',
    containerId: 'bad-1',
    netns: fx.path(pod),
    ifname: 'eth0',
  });
  const cases: Array<{ name: string; code: number; msg: RegExp; run: () => ReturnType<typeof invoke> }> = [
    {
      name: 'malformed JSON',
      code: 6,
      msg: /decode network config/,
      run: () => invoke({ ...base(), command: 'ADD', config: '{"cniVersion": "1.0.0", "name": ' }),
    },
    {
      name: 'unknown cniVersion',
      code: 1,
      msg: /incompatible CNI version "0\.2\.7"/,
      run: () => invoke({ ...base(), command: 'ADD', config: bridgeConf('0.2.7') }),
    },
    {
      name: 'missing CNI_CONTAINERID',
      code: 4,
      msg: /CNI_CONTAINERID must be set/,
      run: () =>
        invoke({
          ...base(),
          command: 'ADD',
          config: bridgeConf('1.0.0'),
          envOverrides: { CNI_CONTAINERID: undefined },
        }),
    },
    {
      name: 'bad CNI_IFNAME',
      code: 4,
      msg: /CNI_IFNAME: .* longer than 15/,
      run: () => invoke({ ...base(), command: 'ADD', ifname: 'much-too-long-ifname', config: bridgeConf('1.0.0') }),
    },
    {
      name: 'CNI_NETNS that does not exist',
      code: 3,
      msg: /does not exist/,
      run: () =>
        invoke({ ...base(), command: 'ADD', netns: '/var/run/netns/weft-proto-nope', config: bridgeConf('1.0.0') }),
    },
    {
      name: 'invalid CIDR',
      code: 7,
      msg: /subnet.*10\.0\.0\.0\/33/,
      run: () => invoke({ ...base(), command: 'ADD', config: bridgeConf('1.0.0', { subnet: '10.0.0.0/33' }) }),
    },
    {
      name: 'missing IPAM plugin',
      code: 7,
      msg: /failed to find plugin "weft-nope"/,
      run: () => invoke({ ...base(), command: 'ADD', config: bridgeConf('1.0.0', { type: 'weft-nope' }) }),
    },
  ];
  for (const c of cases) {
    test(`${c.name} → code ${c.code}`, () => {
      const linksBefore = nodeLinks();
      const r = c.run();
      assert.notEqual(r.status, 0);
      assert.equal(r.json?.code, c.code, r.stdout);
      assert.match(String(r.json?.msg), c.msg);
      assert.deepEqual(nodeLinks(), linksBefore, 'no interface left in the node');
      assert.deepEqual(ipJson(pod, ['link', 'show', 'type', 'veth']), [], 'no interface left in the pod');
      assert.deepEqual(reservations('protonet'), [], 'no reservation left');
      assert.deepEqual(
        nftObjects(node).filter((o) => 'table' in o),
        [],
        'no nftables table left',
      );
    });
  }

  test('an exhausted range → code 100, and the failed ADD leaves nothing', () => {
    // 10.89.0.0/30: .1 is the gateway and .3 broadcast, so .2 is the only address.
    const conf = bridgeConf('1.0.0', { subnet: '10.89.0.0/30' });
    conf.name = 'tinynet';
    // Its own bridge: cni0 already has 10.88.0.1/24, and a bridge refuses a second gateway subnet.
    conf.bridge = 'cni1';
    const pod2 = fx.add('pod2');
    const first = { ...base(), containerId: 'tiny-1', config: conf };
    mustAdd(first);
    try {
      const linksBefore = nodeLinks();
      const r = invoke({ ...base(), containerId: 'tiny-2', netns: fx.path(pod2), command: 'ADD', config: conf });
      assert.notEqual(r.status, 0);
      assert.equal(r.json?.code, 100, r.stdout);
      assert.match(String(r.json?.msg), /no IP addresses available|exhausted/i);
      assert.deepEqual(nodeLinks(), linksBefore, 'the failed ADD left no veth');
      assert.deepEqual(ipJson(pod2, ['link', 'show', 'type', 'veth']), []);
      assert.deepEqual(reservations('tinynet'), ['10.89.0.2'], 'only the first pod holds an address');
    } finally {
      assert.equal(invoke({ ...first, command: 'DEL' }).status, 0);
    }
    assert.deepEqual(reservations('tinynet'), []);
    assert.deepEqual(
      nftObjects(node).filter((o) => 'table' in o),
      [],
      'the last DEL removed the masq table',
    );
  });
});
