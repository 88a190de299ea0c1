/**
 * The udp backend (src/agent/backends/udp.ts) against the real kernel, one backend object per
 * node namespace of this test process (test/support/backend-lab.ts: node 1 on segment A, node 2
 * on segment B behind a router, each with a pod): pods ping across the router through weft0 and
 * the forwarders; the device has MTU underlay - 28 and the subnet's .0/32, the one route has
 * weft's protocol; a second sync changes nothing; a port in use fails naming Backend.Port and
 * leaves a vxlan backend's state exactly as it was, which the next sync (port free) replaces; a
 * device deleted under the backend ends the forwarder, the backend reports it, and the next sync
 * starts a new one; stop takes the device and its route with the forwarder.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { NodeExec } from '../src/adapters/exec.js';
import { Iproute2Netlink } from '../src/adapters/netlink-iproute2.js';
import { PromMetrics } from '../src/adapters/metrics-prom.js';
import { JsonLogger } from '../src/adapters/json-logger.js';
import { systemClock } from '../src/adapters/clock.js';
import { UdpForwarder } from '../src/adapters/udp-forwarder.js';
import { bindSocketsInNetns, closeFd } from '../src/adapters/netns-native.js';
import { BackendReconciler } from '../src/agent/backend-reconciler.js';
import { UdpBackend, UdpBackendConfigError } from '../src/agent/backends/udp.js';
import { planBackend } from '../src/core/backend/plan.js';
import type { BackendNetConf } from '../src/core/backend/state.js';
import { backendNode, buildLab, leaseOf, netConf, pingAsync, type Lab, type LabNode } from './support/backend-lab.js';
import { Netns, inNs, ipJson, requireRoot } from './support/netns.js';
import { waitFor } from './support/cluster.js';

const fx = new Netns('weft-udpb-');
const exec = new NodeExec();
const conf: BackendNetConf = {
  network: '10.244.0.0/16',
  backend: { type: 'udp', vni: 1, port: 8285, directRouting: false },
};
let lab: Lab;
const backends = new Map<LabNode, UdpBackend>();
const logLines: string[] = [];

type Json = Record<string, unknown>;
const weftRoutes = (x: LabNode) =>
  ipJson<Json[]>(x.ns, ['route', 'show', 'proto', '119']).map(
    (r) => `${String(r.dst)}${r.gateway ? ` via ${String(r.gateway)}` : ''} dev ${String(r.dev)}`,
  );
const links = (x: LabNode) => ipJson<Json[]>(x.ns, ['link', 'show']).map((l) => String(l.ifname));

/** Descriptors of this process open on /dev/net/tun. */
function tunDescriptors(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === '/dev/net/tun';
    } catch {
      return false; // the descriptor readdir itself used, closed by now
    }
  }).length;
}

function backendFor(x: LabNode): UdpBackend {
  const b = new UdpBackend({
    exec,
    netlink: new Iproute2Netlink(exec, { netns: x.path }),
    metrics: new PromMetrics(),
    log: new JsonLogger((line) => logLines.push(line)),
    clock: systemClock,
    startForwarder: (o) => UdpForwarder.start(o),
    netns: x.path,
  });
  backends.set(x, b);
  return b;
}

const syncAll = () =>
  Promise.all(
    lab.nodes.map((x) =>
      backends.get(x)!.sync({ node: backendNode(x), conf, peers: lab.nodes.map((p) => leaseOf(p, 'udp')) }),
    ),
  );

describe('udp backend in node namespaces', () => {
  before(() => {
    requireRoot();
    lab = buildLab(fx, 'u', [
      { n: 1, segment: 'A' },
      { n: 2, segment: 'B' },
    ]);
    for (const x of lab.nodes) backendFor(x);
  });
  after(async () => {
    for (const b of backends.values()) await b.stop();
    fx.cleanup();
  });

  test('pods ping across the router; the device, the route and the pod MTU are as planned', async () => {
    const results = await syncAll();
    for (const r of results) {
      assert.equal(r.podMtu, 1472);
      assert.deepEqual(r.guardPorts, [{ protocol: 'udp', port: 8285 }]);
      assert.deepEqual(r.peerErrors, []);
    }
    for (const x of lab.nodes) {
      const [dev] = ipJson<Json[]>(x.ns, ['-d', 'address', 'show', 'dev', 'weft0']);
      assert.equal(dev?.mtu, 1472);
      assert.deepEqual(
        (dev?.addr_info as Json[])
          .filter((a) => a.family === 'inet')
          .map((a) => `${String(a.local)}/${String(a.prefixlen)}`),
        [`10.244.${x.n}.0/32`],
      );
      assert.deepEqual(weftRoutes(x), ['10.244.0.0/16 dev weft0']);
    }
    const [a, b] = lab.nodes as [LabNode, LabNode];
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const ping = await pingAsync(from.pod, to.podIp, ['-c', '2', '-i', '0.2', '-W', '2']);
      assert.ok(ping.ok, `${from.pod} → ${to.podIp}: ${ping.output}`);
    }
    // A full-size packet fits: 1472 - 28 = 1444 bytes of ICMP payload, with DF set.
    const big = await pingAsync(a.pod, b.podIp, ['-c', '1', '-W', '2', '-M', 'do', '-s', '1444']);
    assert.ok(big.ok, big.output);
  });

  test('a second sync changes nothing', async () => {
    for (const r of await syncAll()) assert.deepEqual(r.described, []);
  });

  test('a port in use: an error naming Backend.Port, and the previous backend left exactly as it was', async () => {
    // A node that ran vxlan, now told to run udp while something holds 8285 on its address.
    const x = lab.nodes[0]!;
    await backends.get(x)!.stop();
    const fresh = backendFor(x);
    const vxlan = netConf('vxlan');
    await new BackendReconciler(new Iproute2Netlink(exec, { netns: x.path })).reconcile(
      planBackend({ node: backendNode(x), conf: vxlan, peers: lab.nodes.map((p) => leaseOf(p, 'vxlan')) }),
    );
    const before = { links: links(x), routes: weftRoutes(x) };
    assert.ok(before.links.includes('weft.1'));
    const [squatter] = bindSocketsInNetns(x.path, [{ protocol: 'UDP', port: 8285, address: x.publicIp }]) as [number];
    try {
      await assert.rejects(
        fresh.sync({ node: backendNode(x), conf, peers: lab.nodes.map((p) => leaseOf(p, 'udp')) }),
        (err: unknown) => {
          assert.ok(err instanceof UdpBackendConfigError, String(err));
          assert.match(
            err.message,
            /^net-conf: Backend\.Port: 8285\/udp is already in use on this node's address 10\.99\.0\.1 .*Address already in use.*changed nothing/,
          );
          return true;
        },
      );
      assert.deepEqual({ links: links(x), routes: weftRoutes(x) }, before);
    } finally {
      closeFd(squatter);
    }
    const r = await fresh.sync({ node: backendNode(x), conf, peers: lab.nodes.map((p) => leaseOf(p, 'udp')) });
    assert.ok(
      r.described.some((d) => d.startsWith('delete device weft.1')),
      r.described.join('\n'),
    );
    assert.ok(!links(x).includes('weft.1'));
    assert.deepEqual(weftRoutes(x), ['10.244.0.0/16 dev weft0']);
    const ping = await pingAsync(x.pod, lab.nodes[1]!.podIp, ['-c', '1', '-W', '2']);
    assert.ok(ping.ok, ping.output);
  });

  test('a device deleted under the backend: the node says so, and the next sync makes a new one', async () => {
    const x = lab.nodes[1]!;
    const b = backends.get(x)!;
    assert.equal(b.problem(), undefined);
    assert.equal(inNs(x.ns, ['ip', 'link', 'delete', 'weft0']).status, 0);
    // The forwarder's poll fails on the detached descriptor and its thread ends.
    const problem = await waitFor('the backend to report its dead forwarder', () => b.problem());
    assert.match(problem, /^the udp forwarder stopped: .*poll TUN weft0: EBADF.*; restarting it on the next sync$/);
    // The dead thread's TUN descriptor was closed for it (only the other node's is left open).
    assert.equal(tunDescriptors(), 1);
    const r = await b.sync({ node: backendNode(x), conf, peers: lab.nodes.map((p) => leaseOf(p, 'udp')) });
    assert.ok(r.described.includes('add-route 10.244.0.0/16 dev weft0'), r.described.join('\n'));
    assert.equal(b.problem(), undefined);
    const ping = await pingAsync(x.pod, lab.nodes[0]!.podIp, ['-c', '1', '-W', '2']);
    assert.ok(ping.ok, ping.output);
  });

  test("stop removes the device and its route (they live with the forwarder); cleanup's teardown finds nothing left", async () => {
    for (const x of lab.nodes) {
      await backends.get(x)!.stop();
      assert.ok(!links(x).includes('weft0'), x.ns);
      assert.deepEqual(weftRoutes(x), [], x.ns);
      const removed = await new BackendReconciler(new Iproute2Netlink(exec, { netns: x.path })).teardown();
      assert.deepEqual(removed.described, [], x.ns);
    }
    assert.ok(
      logLines.some((l) => l.includes('"msg":"udp forwarder started"')),
      'the start is logged',
    );
  });
});
