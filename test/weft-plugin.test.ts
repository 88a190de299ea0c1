/**
 * The `weft` plugin's own portmap step (src/cni/plugins/weft.ts, `portmap` in its config, as the
 * agent's conflist has it) against the real kernel, with real traffic. Namespaces (prefix
 * weft-wp-): ext ──veth── node (eth0 192.168.81.1/24) ── cni0 ── pods. Every plugin runs inside
 * the node namespace; the pods run the lab's port server; the client is in ext.
 *
 * What it shows: with hostPort mappings from the runtime a pod is reachable on the node's port
 * after ADD and no longer after DEL; without mappings no portmap state is made at all (the step
 * is skipped); a hostPort conflict fails the ADD and leaves no veth and no address behind.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Daemon } from '../src/adapters/daemon.js';
import { Netns, inNs, ipJson, must } from './support/netns.js';
import { invoke, makeBinDir, mustAdd } from './support/cni.js';
import { canReach, roundTrip, serve } from './support/traffic.js';

const fx = new Netns('weft-wp-');
const NODE_IP = '192.168.81.1';
let node = '';
let ext = '';
let binDir = '';
let runDir = '';
let ipamDir = '';
let lockDir = '';
const servers: Daemon[] = [];

/** The weft plugin's entry of the conflist the agent writes, with the runtime's mappings. */
function weftConfig(mappings?: unknown[]): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'wpnet',
    type: 'weft',
    capabilities: { portMappings: true },
    subnetFile: join(runDir, 'subnet.env'),
    dataDir: join(runDir, 'cni'),
    delegate: {
      type: 'weft-bridge',
      bridge: 'cni0',
      hairpinMode: true,
      isDefaultGateway: true,
      ipam: { type: 'weft-host-local', dataDir: ipamDir },
    },
    portmap: { type: 'weft-portmap', snat: true },
    ...(mappings ? { runtimeConfig: { portMappings: mappings } } : {}),
  };
}

function weft(command: 'ADD' | 'DEL', containerId: string, podNs: string, mappings?: unknown[], prevResult?: unknown) {
  return invoke({
    nodeNs: node,
    binDir,
    plugin: 'weft',
    command,
    config: { ...weftConfig(mappings), ...(prevResult ? { prevResult } : {}) },
    containerId,
    netns: fx.path(podNs),
    envOverrides: { WEFT_LOCK_DIR: lockDir },
  });
}

function portmapTable(): string | undefined {
  const r = inNs(node, ['nft', 'list', 'table', 'inet', 'weft-portmap']);
  return r.status === 0 ? r.stdout : undefined;
}

/** Addresses host-local holds (its files named after the address), in the network's directory. */
function leasedAddresses(): string[] {
  try {
    return readdirSync(join(ipamDir, 'wpnet')).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  } catch {
    return [];
  }
}

function hostVeths(): string[] {
  return ipJson<Array<{ ifname: string }>>(node, ['link', 'show', 'type', 'veth'])
    .map((l) => l.ifname)
    .filter((n) => n !== 'eth0');
}

describe('the weft plugin runs portmap itself', () => {
  before(() => {
    binDir = makeBinDir(fx.tmpDir('bin'));
    runDir = fx.tmpDir('run');
    ipamDir = fx.tmpDir('ipam');
    lockDir = fx.tmpDir('lock');
    writeFileSync(
      join(runDir, 'subnet.env'),
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.81.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n',
    );
    node = fx.add('node');
    ext = fx.add('ext');
    must(['ip', '-n', node, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'ext0', 'netns', ext]);
    must(['ip', '-n', node, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'eth0']);
    must(['ip', '-n', ext, 'addr', 'add', '192.168.81.2/24', 'dev', 'ext0']);
    must(['ip', '-n', node, 'link', 'set', 'eth0', 'up']);
    must(['ip', '-n', ext, 'link', 'set', 'ext0', 'up']);
  });
  after(async () => {
    for (const s of servers) await s.stop();
    fx.cleanup();
  });

  test('without mappings the portmap step is skipped: no portmap table is made', async () => {
    const pod = fx.add('plain');
    const result = mustAdd({
      nodeNs: node,
      binDir,
      plugin: 'weft',
      config: weftConfig(),
      containerId: 'wp-plain',
      netns: fx.path(pod),
      envOverrides: { WEFT_LOCK_DIR: lockDir },
    });
    assert.match(String((result.ips as Array<{ address: string }>)[0]?.address), /^10\.244\.81\.\d+\/24$/);
    assert.equal(portmapTable(), undefined);
    const del = weft('DEL', 'wp-plain', pod, undefined, result);
    assert.equal(del.status, 0, del.stdout + del.stderr);
    assert.deepEqual(leasedAddresses(), []);
  });

  test("with a hostPort mapping the pod answers on the node's port, and not after DEL", async () => {
    const pod = fx.add('web');
    servers.push(await serve(pod, 'web', ['tcp:7000']));
    const mappings = [{ hostPort: 18090, containerPort: 7000, protocol: 'tcp' }];
    const add = weft('ADD', 'wp-web', pod, mappings);
    assert.equal(add.status, 0, add.stdout + add.stderr);
    assert.match(roundTrip(ext, 'tcp', NODE_IP, 18090), /^weft web 7000 from /);
    assert.match(portmapTable() ?? '', /18090/);
    const del = weft('DEL', 'wp-web', pod, mappings, add.json);
    assert.equal(del.status, 0, del.stdout + del.stderr);
    assert.equal(canReach(ext, 'tcp', NODE_IP, 18090, 500), false, 'hostPort gone after DEL');
    assert.doesNotMatch(portmapTable() ?? '', /18090/);
    assert.deepEqual(hostVeths(), []);
    assert.deepEqual(leasedAddresses(), []);
  });

  test('a hostPort conflict fails the ADD and leaves no veth and no address', () => {
    const a = fx.add('first');
    const b = fx.add('second');
    const mappings = [{ hostPort: 18091, containerPort: 7000, protocol: 'tcp' }];
    const first = weft('ADD', 'wp-first', a, mappings);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    const leased = leasedAddresses();
    const veths = hostVeths();
    const second = weft('ADD', 'wp-second', b, mappings);
    assert.notEqual(second.status, 0);
    assert.match(String(second.json?.msg), /18091/);
    assert.deepEqual(leasedAddresses(), leased, "the second pod's address was given back");
    assert.deepEqual(hostVeths(), veths, "the second pod's veth was removed");
    const del = weft('DEL', 'wp-first', a, mappings, first.json);
    assert.equal(del.status, 0, del.stdout + del.stderr);
  });
});
