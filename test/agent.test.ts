/**
 * `weft agent` as real processes, one inside each node namespace of a three-node cluster on one
 * L2 segment, sharing the embedded store: every pod reaches every other pod across nodes on
 * vxlan and host-gw, the kernel state is what the backends describe, the backend follows a
 * change of the stored config across a restart without re-creating pods, a stopped node's routes
 * go within the lease TTL, a bad net-conf changes nothing, and cleanup removes only weft's state.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, CLI, waitFor, type Pod } from './support/cluster.js';
import { inNs, ipJson, nftObjects, requireRoot, sh } from './support/netns.js';
import { ping, roundTrip, serve } from './support/traffic.js';
import type { Daemon } from '../src/adapters/daemon.js';

requireRoot();
const work = `/tmp/weft-agent-test-${process.pid}`;
const cluster = new Cluster('weft-ag-', work);
const storeFile = join(work, 'store.db');
const store = ['--store', 'embedded', '--store-file', storeFile];
const timing = ['--lease-ttl', '4s', '--renew-margin', '2s', '--resync', '2s'];
const servers: Daemon[] = [];
let pods: Pod[] = [];

function netConf(backend: Record<string, unknown>): string {
  const path = join(work, `net-conf-${String(backend.Type)}.json`);
  writeFileSync(path, JSON.stringify({ Network: '10.244.0.0/16', Backend: backend }));
  return path;
}

function putNetConf(file: string): void {
  const r = sh([process.execPath, CLI, 'net-conf', 'put', ...store, '-f', file]);
  assert.equal(r.status, 0, r.stderr);
}

async function startAll(): Promise<void> {
  for (const n of cluster.nodes) cluster.startAgent(n, store, timing);
  for (const n of cluster.nodes) await waitFor(`subnet.env on ${n.name}`, () => cluster.subnetEnv(n), 20_000);
  // Each node has routes to both peers once its peers' leases are seen.
  for (const n of cluster.nodes) {
    await waitFor(`routes to peers on ${n.name}`, () => (ipJson(n.ns, ['route', 'show', 'proto', '119']).length >= cluster.nodes.length - 1 ? true : undefined), 20_000);
  }
}

async function stopAll(): Promise<void> {
  for (const n of cluster.nodes) await cluster.stopAgent(n);
}

/** Routes, neighbours, FDB and leases of every node, for a failure message. */
function dumpState(): string {
  const out: string[] = [];
  for (const n of cluster.nodes) {
    out.push(`== ${n.name} ${n.ip}`, inNs(n.ns, ['ip', 'route']).stdout, inNs(n.ns, ['ip', 'neigh']).stdout, inNs(n.ns, ['bridge', 'fdb', 'show', 'dev', 'weft.1']).stdout, inNs(n.ns, ['ip', '-br', 'addr']).stdout);
  }
  for (const n of cluster.nodes) out.push(`-- ${n.name} agent (exit ${n.agent?.child.exitCode}):`, ...(n.agent?.log.slice(-8) ?? []));
  out.push(sh(['sqlite3', storeFile, 'select subnet, public_ip, expires_at from leases']).stdout, `now ${Date.now()}`);
  out.push(...pods.map((p) => `${p.name} ${p.ip} on ${p.node.name}`));
  return out.join('\n');
}

function allPairsTalk(): void {
  try {
    for (const a of pods) {
      for (const b of pods) {
        if (a === b) continue;
        ping(a.ns, b.ip, 1);
        assert.match(roundTrip(a.ns, 'tcp', b.ip, 80), new RegExp(`weft ${b.name} 80`));
        assert.match(roundTrip(a.ns, 'udp', b.ip, 80), /payload-udp-80/);
      }
    }
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${dumpState()}`);
  }
}

before(async () => {
  await cluster.build(3);
});
after(async () => {
  for (const s of servers) await s.stop();
  await cluster.destroy();
});

describe('weft agent on three nodes (embedded store)', () => {
  test('a malformed net-conf: exit non-zero naming the field; nothing changes on the node or in the store', () => {
    const n = cluster.nodes[0]!;
    const cases: Array<[string, RegExp]> = [
      ['{"Network":"10.244.0.0/33"}', /Network: invalid CIDR/],
      ['{"Network":"10.244.0.0/16","SubnetLen":8}', /SubnetLen: 8 is too small/],
      ['{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}', /Backend\.Type: must be "vxlan" or "host-gw"/],
      ['{"Network":"10.244.0.0/16","Backend":{"VNI":16777216}}', /Backend\.VNI: must be between 0 and 16777215/],
    ];
    const linksBefore = ipJson(n.ns, ['link', 'show']).length;
    for (const [text, re] of cases) {
      const file = join(work, 'bad.json');
      writeFileSync(file, text);
      const r = inNs(n.ns, [process.execPath, CLI, 'agent', ...store, '--net-conf', file, '--iface', 'eth0', '--run-dir', n.runDir, '--cni-conf-dir', n.cniConfDir], { timeoutMs: 20_000 });
      assert.notEqual(r.status, 0, text);
      assert.match(r.stderr, re);
      const get = sh([process.execPath, CLI, 'net-conf', 'get', ...store]);
      assert.notEqual(get.status, 0, 'no config was stored');
      assert.match(get.stderr, /no network config is stored/);
    }
    assert.equal(ipJson(n.ns, ['link', 'show']).length, linksBefore, 'no link made');
    assert.equal(existsSync(join(n.runDir, 'subnet.env')), false, 'no subnet.env written');
    assert.deepEqual(nftObjects(n.ns).filter((o) => 'table' in o), [], 'no nft table made');
  });

  test('vxlan: distinct subnets, kernel state as described, every pod reaches every other', async () => {
    putNetConf(netConf({ Type: 'vxlan', VNI: 1, Port: 8472 }));
    await startAll();
    const subnets = cluster.nodes.map((n) => /FLANNEL_SUBNET=(\S+)/.exec(cluster.subnetEnv(n) ?? '')?.[1]);
    assert.equal(new Set(subnets).size, 3, `distinct subnets: ${subnets.join(' ')}`);
    for (const n of cluster.nodes) {
      assert.match(cluster.subnetEnv(n)!, /FLANNEL_NETWORK=10\.244\.0\.0\/16\nFLANNEL_SUBNET=10\.244\.\d+\.1\/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true/);
      const [dev] = ipJson<Array<{ mtu: number; address: string; linkinfo: { info_kind: string; info_data: Record<string, unknown> } }>>(n.ns, ['-d', 'link', 'show', 'weft.1']);
      assert.ok(dev, `weft.1 exists on ${n.name}`);
      assert.equal(dev.linkinfo.info_kind, 'vxlan');
      assert.equal(dev.linkinfo.info_data.id, 1);
      assert.equal(dev.linkinfo.info_data.port, 8472);
      assert.equal(dev.linkinfo.info_data.local, n.ip);
      assert.equal(dev.linkinfo.info_data.learning, false);
      assert.equal(dev.mtu, 1450);
      const routes = ipJson<Array<{ dst: string; gateway: string; dev: string; flags: string[] }>>(n.ns, ['route', 'show', 'proto', '119']);
      const fdb = JSON.parse(inNs(n.ns, ['bridge', '-j', 'fdb', 'show', 'dev', 'weft.1']).stdout) as Array<{ mac: string; dst?: string }>;
      const neigh = ipJson<Array<{ dst: string; lladdr: string; state: string[] }>>(n.ns, ['neigh', 'show', 'dev', 'weft.1']);
      for (const peer of cluster.nodes.filter((p) => p !== n)) {
        const peerSubnet = /FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1\/24/.exec(cluster.subnetEnv(peer)!)![1];
        const r = routes.find((x) => x.dst === `${peerSubnet}.0/24`);
        assert.ok(r, `${n.name} routes ${peerSubnet}.0/24`);
        assert.equal(r.dev, 'weft.1');
        assert.equal(r.gateway, `${peerSubnet}.0`);
        assert.ok(r.flags.includes('onlink'));
        const nb = neigh.find((x) => x.dst === `${peerSubnet}.0`);
        assert.ok(nb && nb.state.includes('PERMANENT'), `${n.name} has a permanent neighbour for ${peer.name}'s VTEP`);
        assert.ok(fdb.some((f) => f.mac === nb.lladdr && f.dst === peer.ip), `${n.name} FDB maps ${nb.lladdr} to ${peer.ip}`);
      }
    }
    pods = [];
    for (const n of cluster.nodes) pods.push(await cluster.addPod(n, `p${n.name}`));
    for (const p of pods) servers.push(await serve(p.ns, p.name, ['tcp:80', 'udp:80']));
    for (const p of pods) assert.ok(p.ip.startsWith(/FLANNEL_SUBNET=(\d+\.\d+\.\d+)/.exec(cluster.subnetEnv(p.node)!)![1]!), `${p.name} got an address from its node's subnet`);
    allPairsTalk();
    // /healthz answers ok and metrics count the peers.
    const health = inNs(cluster.nodes[0]!.ns, [process.execPath, '-e', "fetch('http://127.0.0.1:9777/healthz').then(async r => { console.log(r.status, await r.text()); return fetch('http://127.0.0.1:9777/metrics') }).then(r => r.text()).then(t => console.log(t))"]);
    assert.match(health.stdout, /^200 ok/);
    assert.match(health.stdout, /weft_peers 2/);
  });

  test('backend switch vxlan → host-gw by the stored config and a restart: pods keep working, nothing of vxlan left', async () => {
    await stopAll();
    putNetConf(netConf({ Type: 'host-gw' }));
    await startAll();
    for (const n of cluster.nodes) {
      await waitFor(`no vxlan device on ${n.name}`, () => (ipJson(n.ns, ['link', 'show', 'type', 'vxlan']).length === 0 ? true : undefined));
      const routes = await waitFor(`two host-gw routes on ${n.name}`, () => {
        const rs = ipJson<Array<{ dst: string; gateway: string; dev: string }>>(n.ns, ['route', 'show', 'proto', '119']);
        return rs.length === 2 && rs.every((r) => r.dev === 'eth0') ? rs : undefined;
      });
      for (const r of routes) {
        assert.equal(r.dev, 'eth0');
        assert.ok(cluster.nodes.some((p) => p.ip === r.gateway), `${r.dst} via a peer's address`);
      }
    }
    allPairsTalk();
  });

  test('a stopped node: within the lease TTL its routes disappear from the others, nothing else changes', async () => {
    const gone = cluster.nodes[2]!;
    const goneSubnet = /FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1/.exec(cluster.subnetEnv(gone)!)![1] + '.0/24';
    await cluster.stopAgent(gone, 'SIGKILL');
    const started = Date.now();
    for (const n of cluster.nodes.slice(0, 2)) {
      await waitFor(`${n.name} drops the route to ${goneSubnet}`, () => (ipJson<Array<{ dst: string }>>(n.ns, ['route', 'show', 'proto', '119']).some((r) => r.dst === goneSubnet) ? undefined : true), 15_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${n.name} agent log:\n${n.agent?.log.slice(-15).join('\n')}\nstore: ${sh(['sqlite3', storeFile, 'select subnet, public_ip, expires_at from leases']).stdout} now ${Date.now()}\nprocesses: ${sh(['pgrep', '-af', 'weft-ag']).stdout}`);
      });
      assert.equal(ipJson(n.ns, ['route', 'show', 'proto', '119']).length, 1, 'the other peer keeps its route');
    }
    assert.ok(Date.now() - started < 4_000 + 3_000, 'gone within the TTL (4 s) plus one poll');
    ping(pods[0]!.ns, pods[1]!.ip, 1);
  });

  test('cleanup removes the agent\'s device, routes, nft table and files, and nothing else', async () => {
    const n = cluster.nodes[0]!;
    await cluster.stopAgent(n);
    const linksBefore = ipJson<Array<{ ifname: string }>>(n.ns, ['link', 'show']).map((l) => l.ifname);
    const r = inNs(n.ns, [process.execPath, CLI, 'agent', 'cleanup', '--run-dir', n.runDir, '--cni-conf-dir', n.cniConfDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(ipJson(n.ns, ['route', 'show', 'proto', '119']), []);
    assert.equal(nftObjects(n.ns).some((o) => o.table?.name === 'weft-agent-masq'), false, `cleanup said: ${r.stdout}; tables now: ${inNs(n.ns, ['nft', 'list', 'tables']).stdout}`);
    assert.equal(existsSync(join(n.runDir, 'subnet.env')), false);
    assert.equal(existsSync(join(n.cniConfDir, '10-weft.conflist')), false);
    assert.deepEqual(ipJson<Array<{ ifname: string }>>(n.ns, ['link', 'show']).map((l) => l.ifname), linksBefore, 'host-gw has no device: no link removed');
    assert.ok(ipJson(n.ns, ['route', 'show', 'default']).length === 1, 'the node\'s own default route stays');
  });
});
