/**
 * weft's bridge plugin against the real kernel, with real traffic. Namespaces (prefix weft-br-):
 *
 *   ext ──veth── node (ext0 192.168.91.1/24) ── cni0 ── pod-a, pod-b, ...
 *
 * Every plugin runs inside the node namespace, as on a real host; pods are their own namespaces.
 * Rows run with both IPAM plugins (the reference host-local and weft's), and the interop rows mix
 * weft's and the reference bridge with each other's host-local.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Netns, ipJson, must, mustInNs } from './support/netns.js';
import { invoke } from './support/cni.js';
import {
  linkNames,
  makeNode,
  makePod,
  masqElements,
  nftTables,
  ping,
  podIp,
  reservations,
  run,
  runAsync,
  startServer,
  tcpClient,
  vethNames,
  type NodeCtx,
} from './support/bridge.js';

const fx = new Netns('weft-br-');
after(() => fx.cleanup());

const IPAMS = ['host-local', 'weft-host-local'] as const;

function config(
  ctx: NodeCtx,
  opts: { ipam: string; dual?: boolean; network?: string; extra?: Record<string, unknown> },
): Record<string, unknown> {
  const ranges = [[{ subnet: '10.244.1.0/24' }], ...(opts.dual ? [[{ subnet: 'fd00:244:1::/64' }]] : [])];
  const routes = [{ dst: '0.0.0.0/0' }, ...(opts.dual ? [{ dst: '::/0' }] : [])];
  return {
    cniVersion: '1.0.0',
    name: opts.network ?? 'brnet',
    type: 'weft-bridge',
    bridge: 'cni0',
    isGateway: true,
    ipMasq: true,
    ipam: { type: opts.ipam, ranges, routes, dataDir: ctx.dataDir },
    ...opts.extra,
  };
}

function add(ctx: NodeCtx, plugin: string, conf: unknown, pod: ReturnType<typeof makePod>): Record<string, unknown> {
  const r = run(ctx, plugin, 'ADD', conf, pod);
  assert.equal(r.status, 0, `ADD ${pod.ns}: ${r.stdout} ${r.stderr}`);
  assert.ok(r.json);
  return r.json;
}

async function withServer<T>(ns: string, mode: 'echo' | 'whoami', fn: () => T): Promise<T> {
  const server: ChildProcess = await startServer(ns, mode);
  try {
    return fn();
  } finally {
    server.kill();
  }
}

describe('two pods on one node talk over the bridge', () => {
  for (const ipam of IPAMS) {
    for (const dual of [false, true]) {
      test(`${dual ? 'dual-stack' : 'IPv4'} with ${ipam}: ping each other and the gateway, TCP carries data`, async () => {
        const label = `${dual ? 'd' : '4'}${ipam === 'host-local' ? 'r' : 'w'}`;
        const ctx = makeNode(fx, label);
        const a = makePod(ctx, `${label}-a`);
        const b = makePod(ctx, `${label}-b`);
        const conf = config(ctx, { ipam, dual });
        const ra = add(ctx, 'weft-bridge', conf, a);
        const rb = add(ctx, 'weft-bridge', conf, b);

        // Result shape: [bridge, host veth, container veth with sandbox], ips on index 2, MACs filled.
        const ifaces = ra.interfaces as Array<{ name: string; mac?: string; sandbox?: string }>;
        assert.deepEqual(ifaces.map((i) => i.name).slice(0, 1), ['cni0']);
        assert.equal(ifaces[2]?.name, 'eth0');
        assert.equal(ifaces[2]?.sandbox, a.path);
        for (const i of ifaces) assert.match(i.mac ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
        for (const ip of ra.ips as Array<{ interface: number; gateway: string }>) assert.equal(ip.interface, 2);
        const podMac = ipJson<Array<{ address: string }>>(a.ns, ['link', 'show', 'eth0'])[0]?.address;
        assert.equal(ifaces[2]?.mac, podMac);
        const hostVeth = ipJson<Array<{ master?: string }>>(ctx.node, ['link', 'show', ifaces[1]?.name ?? '']);
        assert.equal(hostVeth[0]?.master, 'cni0');

        ping(a.ns, podIp(rb, 4));
        ping(b.ns, podIp(ra, 4));
        ping(a.ns, '10.244.1.1');
        assert.equal(await withServer(b.ns, 'echo', () => tcpClient(a.ns, podIp(rb, 4), 'echo')), 'ok');
        if (dual) {
          ping(a.ns, podIp(rb, 6));
          ping(a.ns, 'fd00:244:1::1');
          assert.equal(await withServer(a.ns, 'echo', () => tcpClient(b.ns, podIp(ra, 6), 'echo')), 'ok');
          assert.equal(mustInNs(ctx.node, ['sysctl', '-n', 'net.ipv6.conf.all.forwarding']).trim(), '1');
        }
        assert.equal(mustInNs(ctx.node, ['sysctl', '-n', 'net.ipv4.ip_forward']).trim(), '1');
        for (const p of [a, b]) assert.equal(run(ctx, 'weft-bridge', 'DEL', conf, p).status, 0);
        assert.deepEqual(vethNames(ctx.node), []);
        assert.deepEqual(reservations(ctx, 'brnet'), []);
        assert.equal(masqElements(ctx.node), undefined);
      });
    }
  }
});

describe('ipMasq', () => {
  test('table and tagged elements after ADD, traffic leaving the subnet is masqueraded, DEL removes only its own', async () => {
    const ctx = makeNode(fx, 'mq');
    const ext = fx.add('mq-ext');
    must(['ip', 'link', 'add', 'ext0', 'netns', ctx.node, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ext]);
    mustInNs(ctx.node, ['ip', 'addr', 'add', '192.168.91.1/24', 'dev', 'ext0']);
    mustInNs(ctx.node, ['ip', 'link', 'set', 'ext0', 'up']);
    mustInNs(ext, ['ip', 'addr', 'add', '192.168.91.2/24', 'dev', 'eth0']);
    mustInNs(ext, ['ip', 'link', 'set', 'eth0', 'up']);
    const a = makePod(ctx, 'mq-a');
    const b = makePod(ctx, 'mq-b');
    const conf = config(ctx, { ipam: 'host-local', dual: true });
    const ra = add(ctx, 'weft-bridge', conf, a);
    const rb = add(ctx, 'weft-bridge', conf, b);

    const els = masqElements(ctx.node) ?? [];
    assert.equal(els.length, 8, els.join('\n'));
    assert.equal(els.filter((e) => e.endsWith(`[${a.containerId}/eth0]`)).length, 4);
    assert.ok(els.some((e) => e.startsWith('pods-v4') && e.includes(podIp(ra, 4))));
    assert.deepEqual(nftTables(ctx.node), ['bridge weft-guard', 'inet weft-masq']);

    // The outside host sees the node's address, not the pod's; pod to pod keeps its source.
    assert.equal(await withServer(ext, 'whoami', () => tcpClient(a.ns, '192.168.91.2', 'whoami')), '192.168.91.1');
    assert.equal(await withServer(b.ns, 'whoami', () => tcpClient(a.ns, podIp(rb, 4), 'whoami')), podIp(ra, 4));

    assert.equal(run(ctx, 'weft-bridge', 'DEL', conf, a).status, 0);
    const left = masqElements(ctx.node) ?? [];
    assert.equal(left.length, 4, left.join('\n'));
    assert.ok(left.every((e) => e.endsWith(`[${b.containerId}/eth0]`)));
    assert.equal(run(ctx, 'weft-bridge', 'DEL', conf, b).status, 0);
    assert.equal(masqElements(ctx.node), undefined);
    assert.deepEqual(nftTables(ctx.node), []);
  });
});

describe('concurrency', () => {
  test('six parallel ADDs on a node without a bridge all succeed (bridge creation race), then parallel DELs clean up', async () => {
    const ctx = makeNode(fx, 'cc');
    const pods = Array.from({ length: 6 }, (_, i) => makePod(ctx, `cc-${i}`));
    const conf = config(ctx, { ipam: 'host-local', dual: true });
    const adds = await Promise.all(pods.map((p) => runAsync(ctx, 'weft-bridge', 'ADD', conf, p)));
    for (const r of adds) assert.equal(r.status, 0, r.stdout);
    assert.equal(vethNames(ctx.node).length, 6);
    assert.equal((masqElements(ctx.node) ?? []).length, 24);
    const cni0 = ipJson<Array<{ addr_info: Array<{ local: string }> }>>(ctx.node, ['addr', 'show', 'cni0'])[0];
    assert.deepEqual(
      cni0?.addr_info.map((x) => x.local).filter((x) => !x.startsWith('fe80')),
      ['10.244.1.1', 'fd00:244:1::1'],
    );
    const dels = await Promise.all(pods.map((p) => runAsync(ctx, 'weft-bridge', 'DEL', conf, p)));
    for (const r of dels) assert.equal(r.status, 0, r.stdout);
    assert.deepEqual(vethNames(ctx.node), []);
    assert.equal(masqElements(ctx.node), undefined);
    assert.deepEqual(reservations(ctx, 'brnet'), []);
  });
});

describe('compatibility', () => {
  test('the seed config (reference bridge config, 0.3.1) works unchanged with type weft-bridge', () => {
    const ctx = makeNode(fx, 'seed');
    const pod = makePod(ctx, 'seed-a');
    const seed = {
      cniVersion: '0.3.1',
      name: 'mynet',
      type: 'weft-bridge',
      bridge: 'cni0',
      isGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', subnet: '10.244.0.0/16', routes: [{ dst: '0.0.0.0/0' }], dataDir: ctx.dataDir },
    };
    const r = add(ctx, 'weft-bridge', seed, pod);
    assert.equal(r.cniVersion, '0.3.1');
    assert.deepEqual(r.ips, [{ version: '4', interface: 2, address: '10.244.0.2/16', gateway: '10.244.0.1' }]);
    assert.deepEqual(r.routes, [{ dst: '0.0.0.0/0' }]);
    const routes = ipJson<Array<{ dst: string; gateway?: string }>>(pod.ns, ['route', 'show']);
    assert.ok(
      routes.some((x) => x.dst === 'default' && x.gateway === '10.244.0.1'),
      JSON.stringify(routes),
    );
    ping(pod.ns, '10.244.0.1');
    assert.equal(run(ctx, 'weft-bridge', 'DEL', seed, pod).status, 0);
    assert.deepEqual(reservations(ctx, 'mynet'), []);
    assert.deepEqual(nftTables(ctx.node), []);
  });

  test('interop: reference bridge with weft-host-local, weft-bridge with reference host-local, pods talk', async () => {
    const ctx = makeNode(fx, 'io');
    const a = makePod(ctx, 'io-a');
    const b = makePod(ctx, 'io-b');
    // Two networks on two bridges, one wired by each implementation, routed by the node.
    const refConf = {
      ...config(ctx, { ipam: 'weft-host-local', network: 'refnet' }),
      type: 'bridge',
      bridge: 'cni1',
      ipam: { type: 'weft-host-local', subnet: '10.245.0.0/24', routes: [{ dst: '0.0.0.0/0' }], dataDir: ctx.dataDir },
    };
    const weftConf = config(ctx, { ipam: 'host-local', network: 'weftnet' });
    const ra = add(ctx, 'bridge', refConf, a);
    const rb = add(ctx, 'weft-bridge', weftConf, b);
    assert.equal(reservations(ctx, 'refnet').length, 1);
    assert.equal(reservations(ctx, 'weftnet').length, 1);
    ping(a.ns, podIp(rb, 4));
    assert.equal(await withServer(a.ns, 'echo', () => tcpClient(b.ns, podIp(ra, 4), 'echo')), 'ok');
    assert.equal(run(ctx, 'bridge', 'DEL', refConf, a).status, 0);
    assert.equal(run(ctx, 'weft-bridge', 'DEL', weftConf, b).status, 0);
    assert.deepEqual(reservations(ctx, 'refnet'), []);
    assert.deepEqual(reservations(ctx, 'weftnet'), []);
    assert.ok(!linkNames(ctx.node).some((n) => n.startsWith('veth')));
  });
});

describe('options', () => {
  test('mtu, hairpinMode, MAC from CNI_ARGS and enabledad (IPv6 DAD waited for) are applied', () => {
    const ctx = makeNode(fx, 'opt');
    const pod = makePod(ctx, 'opt-a');
    const conf = config(ctx, {
      ipam: 'host-local',
      dual: true,
      extra: { mtu: 1400, hairpinMode: true, enabledad: true },
    });
    const r = run(ctx, 'weft-bridge', 'ADD', conf, pod);
    assert.equal(r.status, 0, r.stdout);
    const ifaces = (r.json?.interfaces ?? []) as Array<{ name: string }>;
    const detail = (ns: string, dev: string) =>
      ipJson<
        Array<{
          mtu: number;
          address: string;
          linkinfo?: { info_slave_data?: { hairpin?: boolean } };
          addr_info?: Array<{ local: string; tentative?: boolean }>;
        }>
      >(ns, ['-d', 'addr', 'show', dev])[0];
    assert.equal(detail(ctx.node, 'cni0')?.mtu, 1400);
    assert.equal(detail(ctx.node, ifaces[1]?.name ?? '')?.mtu, 1400);
    assert.equal(detail(ctx.node, ifaces[1]?.name ?? '')?.linkinfo?.info_slave_data?.hairpin, true);
    const eth0 = detail(pod.ns, 'eth0');
    assert.equal(eth0?.mtu, 1400);
    // DAD ran (no nodad) and ADD returned only after it finished.
    const v6 = eth0?.addr_info?.find((a) => a.local.startsWith('fd00:'));
    assert.ok(v6 && !v6.tentative, JSON.stringify(eth0?.addr_info));
    assert.equal(run(ctx, 'weft-bridge', 'DEL', conf, pod).status, 0);

    const macPod = makePod(ctx, 'opt-b');
    const withMac = invokeWithArgs(ctx, conf, macPod, 'IgnoreUnknown=1;K8S_POD_NAME=x;MAC=02:42:ac:11:00:07');
    assert.equal(withMac.status, 0, withMac.stdout);
    assert.equal(detail(macPod.ns, 'eth0')?.address, '02:42:ac:11:00:07');
    assert.equal(run(ctx, 'weft-bridge', 'DEL', conf, macPod).status, 0);
  });

  test('promiscMode sets the bridge promiscuous; ipam {} gives an L2-only attachment with no addresses', () => {
    const ctx = makeNode(fx, 'l2');
    const pod = makePod(ctx, 'l2-a');
    const conf = {
      cniVersion: '1.0.0',
      name: 'l2net',
      type: 'weft-bridge',
      bridge: 'br-l2',
      promiscMode: true,
      ipam: {},
    };
    const r = run(ctx, 'weft-bridge', 'ADD', conf, pod);
    assert.equal(r.status, 0, r.stdout);
    assert.equal(r.json?.ips, undefined);
    const br = ipJson<Array<{ flags: string[] }>>(ctx.node, ['link', 'show', 'br-l2'])[0];
    assert.ok(br?.flags.includes('PROMISC'), JSON.stringify(br));
    const eth0 = ipJson<Array<{ flags: string[]; addr_info: Array<{ family: string }> }>>(pod.ns, [
      'addr',
      'show',
      'eth0',
    ])[0];
    assert.ok(eth0?.flags.includes('UP'));
    assert.deepEqual(
      eth0?.addr_info.filter((a) => a.family === 'inet'),
      [],
    );
    assert.equal(run(ctx, 'weft-bridge', 'DEL', conf, pod).status, 0);
    assert.deepEqual(vethNames(ctx.node), []);
  });

  test('awaitPolicy (the agent enforces IPv4 policy) refuses a pod IPAM gives an IPv6 address, leaving nothing behind', () => {
    const ctx = makeNode(fx, 'aw');
    const pod = makePod(ctx, 'aw-a');
    const conf = config(ctx, { ipam: 'host-local', dual: true, extra: { awaitPolicy: true } });
    const r = run(ctx, 'weft-bridge', 'ADD', conf, pod);
    assert.equal(r.status, 1, r.stdout);
    assert.equal(r.json?.code, 7);
    assert.match(String(r.json?.msg), /IPv6 address fd00:244:1::.*IPv4 only \(awaitPolicy\)/);
    assert.deepEqual(vethNames(ctx.node), []);
    assert.deepEqual(reservations(ctx, 'brnet'), []);
    assert.deepEqual(nftTables(ctx.node), []);
    // IPv4 only, the same config is fine, and the pod starts pending.
    const v4 = config(ctx, { ipam: 'host-local', extra: { awaitPolicy: true } });
    const ok = add(ctx, 'weft-bridge', v4, pod);
    const ip = podIp(ok, 4);
    const pending = mustInNs(ctx.node, ['nft', 'list', 'set', 'bridge', 'weft-guard', 'pending-v4']);
    assert.ok(pending.includes(ip), pending);
    assert.equal(run(ctx, 'weft-bridge', 'DEL', v4, pod).status, 0);
    assert.deepEqual(nftTables(ctx.node), []);
  });
});

function invokeWithArgs(ctx: NodeCtx, conf: unknown, pod: ReturnType<typeof makePod>, args: string) {
  return invoke({
    nodeNs: ctx.node,
    binDir: ctx.binDir,
    plugin: 'weft-bridge',
    command: 'ADD',
    config: conf,
    containerId: pod.containerId,
    netns: pod.path,
    args,
    envOverrides: { WEFT_LOCK_DIR: ctx.lockDir },
  });
}
