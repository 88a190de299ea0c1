/**
 * The backends against the real kernel, with real traffic (namespaces prefixed weft-be-; the root
 * namespace is never touched). Three nodes on one underlay segment, each with one pod, get their
 * backend state from the reconciler run in-process per node namespace (Iproute2Netlink with the
 * node's netns path), and the tests prove: pods reach each other across nodes with vxlan and with
 * host-gw; the kernel holds exactly the described devices, routes, neighbours and FDB entries; a
 * second reconcile changes nothing, even under a running ping stream; a peer's removal takes only
 * its entries; backend switches leave nothing of the old backend; teardown leaves nothing of
 * weft. A second lab with a node behind a router covers host-gw's per-peer error and DirectRouting.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeExec } from '../src/adapters/exec.js';
import { Iproute2Netlink } from '../src/adapters/netlink-iproute2.js';
import { BackendReconciler, type ReconcileSummary } from '../src/agent/backend-reconciler.js';
import { planBackend, vtepMacFor } from '../src/core/backend/plan.js';
import type { BackendNetConf, PeerLease } from '../src/core/backend/state.js';
import { WEFT_ROUTE_PROTOCOL } from '../src/core/names.js';
import {
  backendNode,
  buildLab,
  leaseOf,
  netConf,
  pingAsync,
  pingMatrix,
  type Lab,
  type LabNode,
} from './support/backend-lab.js';
import { Netns, ipJson, mustInNs } from './support/netns.js';

const fx = new Netns('weft-be-');
after(() => fx.cleanup());

const exec = new NodeExec();
const reconcilerFor = (x: LabNode) => new BackendReconciler(new Iproute2Netlink(exec, { netns: x.path }));

type Json = Record<string, unknown>;
const PROTO = String(WEFT_ROUTE_PROTOCOL);
const weftRoutes = (x: LabNode) =>
  ipJson<Json[]>(x.ns, ['route', 'show', 'proto', PROTO]).map(
    (r) =>
      `${String(r.dst)} via ${String(r.gateway)} dev ${String(r.dev)}${(r.flags as string[]).includes('onlink') ? ' onlink' : ''}`,
  );
const vxlanLinks = (x: LabNode) => ipJson<Json[]>(x.ns, ['-d', 'link', 'show', 'type', 'vxlan']);
const neighbours = (x: LabNode, dev: string) =>
  ipJson<Json[]>(x.ns, ['neigh', 'show', 'dev', dev]).map(
    (n) => `${String(n.dst)} ${String(n.lladdr)} ${(n.state as string[]).join(',')}`,
  );
const fdb = (x: LabNode, dev: string) => {
  const out = mustInNs(x.ns, ['bridge', '-j', 'fdb', 'show', 'dev', dev]).trim();
  return (out ? (JSON.parse(out) as Json[]) : []).map(
    (e) => `${String(e.mac)} dst ${String(e.dst)} ${String(e.state)}`,
  );
};
/** Links, IPv4 routes (IPv6 link-local ones come and go with DAD) and permanent neighbours: for "nothing else changed". */
const snapshot = (x: LabNode) => ({
  links: ipJson<Json[]>(x.ns, ['-d', 'link', 'show'])
    .map((l) => `${String(l.ifindex)} ${String(l.ifname)} ${String(l.mtu)} ${String(l.address)}`)
    .sort(),
  routes: ipJson<Json[]>(x.ns, ['-4', 'route', 'show', 'table', 'all'])
    .map((r) => JSON.stringify(r))
    .sort(),
  weftNeigh: ipJson<Json[]>(x.ns, ['neigh', 'show', 'nud', 'permanent'])
    .map((n) => JSON.stringify(n))
    .sort(),
});

/** Plans and reconciles every node with every other node as peer; returns each node's summary. */
async function reconcileAll(
  lab: Lab,
  conf: BackendNetConf,
  leases = lab.nodes.map((x) => leaseOf(x, conf.backend.type, conf.backend.vni)),
): Promise<ReconcileSummary[]> {
  return Promise.all(
    lab.nodes.map((x) => reconcilerFor(x).reconcile(planBackend({ node: backendNode(x), conf, peers: leases }))),
  );
}

async function assertAllPodsPing(lab: Lab): Promise<void> {
  assert.deepEqual(await pingMatrix(lab.nodes), [], 'every pod pings every other pod');
}

/** Tears every node down and checks that only weft's devices and routes went. */
async function assertTeardown(lab: Lab): Promise<void> {
  // Routes that are neither weft's (proto 119) nor on a weft device (the kernel's local route
  // for the VTEP address goes with the device).
  const nonWeft = (x: LabNode) =>
    ipJson<Json[]>(x.ns, ['-4', '-d', 'route', 'show', 'table', 'all'])
      .filter((r) => String(r.protocol) !== PROTO && !String(r.dev).startsWith('weft.'))
      .map((r) => JSON.stringify(r))
      .sort();
  const links = (x: LabNode) => snapshot(x).links.filter((l) => !l.includes(' weft.'));
  const before = lab.nodes.map((x) => ({ routes: nonWeft(x), links: links(x) }));
  for (const x of lab.nodes) {
    const s = await reconcilerFor(x).teardown();
    assert.ok(s.changes.length > 0);
    assert.deepEqual(vxlanLinks(x), []);
    assert.deepEqual(weftRoutes(x), []);
    assert.deepEqual((await reconcilerFor(x).teardown()).changes, [], 'a second teardown finds nothing');
  }
  assert.deepEqual(
    lab.nodes.map((x) => ({ routes: nonWeft(x), links: links(x) })),
    before,
    'non-weft routes and links are untouched',
  );
}

describe('three nodes on one segment', () => {
  let lab: Lab;
  before(() => {
    lab = buildLab(
      fx,
      '',
      [1, 2, 3].map((n) => ({ n, segment: 'A' as const })),
    );
  });
  const node = (n: number) => lab.nodes[n - 1]!;

  test('vxlan: pods ping across nodes; device, routes, neighbours and FDB as described', async () => {
    const summaries = await reconcileAll(lab, netConf('vxlan'));
    assert.deepEqual(
      summaries.map((s) => s.peerErrors),
      [[], [], []],
    );
    await assertAllPodsPing(lab);

    const n1 = node(1);
    const [dev] = vxlanLinks(n1);
    const info = (dev?.linkinfo as Json).info_data as Json;
    assert.equal(dev?.ifname, 'weft.1');
    assert.equal(dev?.mtu, 1450);
    assert.equal(dev?.address, vtepMacFor('10.99.0.1'));
    assert.deepEqual(
      { id: info.id, port: info.port, local: info.local, link: info.link, learning: info.learning },
      { id: 1, port: 8472, local: '10.99.0.1', link: 'eth0', learning: false },
    );
    assert.ok((dev?.flags as string[]).includes('UP'));
    const addrs = ipJson<Json[]>(n1.ns, ['-4', 'address', 'show', 'dev', 'weft.1']).flatMap((l) =>
      (l.addr_info as Json[]).map((a) => `${String(a.local)}/${String(a.prefixlen)}`),
    );
    assert.deepEqual(addrs, ['10.244.1.0/32']);
    assert.deepEqual(weftRoutes(n1), [
      '10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink',
      '10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink',
    ]);
    assert.deepEqual(neighbours(n1, 'weft.1').sort(), [
      `10.244.2.0 ${vtepMacFor('10.99.0.2')} PERMANENT`,
      `10.244.3.0 ${vtepMacFor('10.99.0.3')} PERMANENT`,
    ]);
    assert.deepEqual(fdb(n1, 'weft.1').sort(), [
      `${vtepMacFor('10.99.0.2')} dst 10.99.0.2 permanent`,
      `${vtepMacFor('10.99.0.3')} dst 10.99.0.3 permanent`,
    ]);
  });

  test('reconciling again changes nothing: the change list is empty and the device is the same one', async () => {
    const before = lab.nodes.map(snapshot);
    const again = await reconcileAll(lab, netConf('vxlan'));
    assert.deepEqual(
      again.map((s) => s.changes),
      [[], [], []],
    );
    assert.deepEqual(lab.nodes.map(snapshot), before);
  });

  test('a reconcile in the middle of a ping stream (an agent restart) loses no packet', async () => {
    const stream = pingAsync(node(1).pod, node(3).podIp, ['-i', '0.05', '-c', '60', '-W', '1']);
    const reverse = pingAsync(node(2).pod, node(1).podIp, ['-i', '0.05', '-c', '60', '-W', '1']);
    await new Promise((r) => setTimeout(r, 1000));
    // A restarted agent: fresh reconcilers (they hold no state anyway), a fresh plan from leases.
    const summaries = await reconcileAll(lab, netConf('vxlan'));
    for (const r of await Promise.all([stream, reverse])) assert.match(r.output, / 0% packet loss/, r.output);
    assert.deepEqual(
      summaries.map((s) => s.changes.length),
      [0, 0, 0],
    );
  });

  test('removing a peer removes exactly its route, neighbour and FDB entry', async () => {
    const n1 = node(1);
    const before = snapshot(n1);
    const fdbBefore = fdb(n1, 'weft.1');
    const without3 = [node(1), node(2)].map((x) => leaseOf(x, 'vxlan'));
    const s = await reconcilerFor(n1).reconcile(
      planBackend({ node: backendNode(n1), conf: netConf('vxlan'), peers: without3 }),
    );
    assert.deepEqual(s.described, [
      `delete-neighbour 10.244.3.0 lladdr ${vtepMacFor('10.99.0.3')} dev weft.1`,
      `delete-fdb ${vtepMacFor('10.99.0.3')} dst 10.99.0.3 dev weft.1`,
      'delete-route 10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink',
    ]);
    const after = snapshot(n1);
    assert.deepEqual(after.links, before.links, 'no link changed');
    assert.deepEqual(
      before.routes.filter((r) => !after.routes.includes(r)).map((r) => (JSON.parse(r) as Json).dst),
      ['10.244.3.0/24'],
    );
    assert.ok(
      after.routes.every((r) => before.routes.includes(r)),
      'no route added',
    );
    assert.deepEqual(
      before.weftNeigh.filter((r) => !after.weftNeigh.includes(r)).map((r) => (JSON.parse(r) as Json).dst),
      ['10.244.3.0'],
    );
    assert.deepEqual(
      fdbBefore.filter((e) => !fdb(n1, 'weft.1').includes(e)),
      [`${vtepMacFor('10.99.0.3')} dst 10.99.0.3 permanent`],
    );
    assert.equal(fdb(n1, 'weft.1').length, 1);
    // and back: the peer returns, everyone pings again
    await reconcileAll(lab, netConf('vxlan'));
    await assertAllPodsPing(lab);
  });

  test('drift is repaired with exactly the missing pieces (and a MAC change re-writes the flushed neighbours)', async () => {
    const n2 = node(2);
    const plan = () =>
      planBackend({ node: backendNode(n2), conf: netConf('vxlan'), peers: lab.nodes.map((x) => leaseOf(x, 'vxlan')) });
    mustInNs(n2.ns, ['ip', 'route', 'del', '10.244.1.0/24', 'proto', PROTO]);
    mustInNs(n2.ns, ['ip', 'link', 'set', 'weft.1', 'mtu', '1400']);
    mustInNs(n2.ns, ['bridge', 'fdb', 'del', vtepMacFor('10.99.0.3'), 'dev', 'weft.1', 'dst', '10.99.0.3', 'self']);
    assert.deepEqual((await reconcilerFor(n2).reconcile(plan())).described, [
      'set device weft.1 mtu 1450',
      `add-fdb ${vtepMacFor('10.99.0.3')} dst 10.99.0.3 dev weft.1`,
      'add-route 10.244.1.0/24 via 10.244.1.0 dev weft.1 onlink',
    ]);
    // The kernel flushes a device's neighbours, permanent ones too, when its MAC changes.
    mustInNs(n2.ns, ['ip', 'link', 'set', 'weft.1', 'address', '0e:00:00:00:00:99']);
    assert.deepEqual(neighbours(n2, 'weft.1'), []);
    assert.deepEqual((await reconcilerFor(n2).reconcile(plan())).described, [
      `set device weft.1 address ${vtepMacFor('10.99.0.2')}`,
      `add-neighbour 10.244.1.0 lladdr ${vtepMacFor('10.99.0.1')} dev weft.1`,
      `add-neighbour 10.244.3.0 lladdr ${vtepMacFor('10.99.0.3')} dev weft.1`,
    ]);
    await assertAllPodsPing(lab);
  });

  test('vxlan → host-gw → vxlan: each switch leaves nothing of the old backend, pods ping in each', async () => {
    const toHostGw = await reconcileAll(lab, netConf('host-gw'));
    assert.ok(toHostGw.every((s) => s.described[0]?.startsWith('delete device weft.1')));
    for (const x of lab.nodes) {
      assert.deepEqual(vxlanLinks(x), [], `${x.ns}: no VXLAN device under host-gw`);
      const others = lab.nodes.filter((o) => o !== x);
      assert.deepEqual(
        weftRoutes(x),
        others.map((o) => `${o.subnet} via ${o.publicIp} dev eth0`),
      );
    }
    await assertAllPodsPing(lab);
    assert.deepEqual(
      (await reconcileAll(lab, netConf('host-gw'))).map((s) => s.changes),
      [[], [], []],
      'host-gw is stable too',
    );

    await reconcileAll(lab, netConf('vxlan'));
    for (const x of lab.nodes) {
      assert.equal(vxlanLinks(x).length, 1);
      assert.ok(
        weftRoutes(x).every((r) => r.endsWith('dev weft.1 onlink')),
        `${x.ns}: no host-gw route left: ${weftRoutes(x).join('; ')}`,
      );
      assert.equal(weftRoutes(x).length, 2);
    }
    await assertAllPodsPing(lab);
  });

  test('a VNI change replaces weft.1 by weft.2; a port change recreates it (not changeable in place); pods ping after each', async () => {
    await reconcileAll(lab, netConf('vxlan', { vni: 2 }));
    for (const x of lab.nodes)
      assert.deepEqual(
        vxlanLinks(x).map((l) => l.ifname),
        ['weft.2'],
      );
    await assertAllPodsPing(lab);
    const summaries = await reconcileAll(lab, netConf('vxlan', { vni: 2, port: 4789 }));
    assert.deepEqual(
      summaries.map((s) => s.described[0]),
      Array(3).fill('delete device weft.2: port 8472 → 4789'),
    );
    for (const x of lab.nodes) assert.equal(((vxlanLinks(x)[0]?.linkinfo as Json).info_data as Json).port, 4789);
    await assertAllPodsPing(lab);
  });

  test('teardown removes every weft device and route, and nothing else; cross-node traffic stops', async () => {
    await assertTeardown(lab);
    const r = await pingAsync(node(1).pod, node(2).podIp, ['-c', '1', '-W', '1']);
    assert.equal(r.ok, false, "no route to the other node's pods any more");
  });
});

describe('nodes on two segments joined by a router', () => {
  let lab: Lab;
  before(() => {
    lab = buildLab(fx, 'd-', [
      { n: 1, segment: 'A' },
      { n: 2, segment: 'A' },
      { n: 3, segment: 'B' },
    ]);
  });
  const node = (n: number) => lab.nodes[n - 1]!;

  test('host-gw: the off-segment peer gets the clear error; the same-segment pods still talk', async () => {
    const summaries = await reconcileAll(lab, netConf('host-gw'));
    assert.deepEqual(
      summaries[0]?.peerErrors.map((e) => e.message),
      [
        "host-gw: peer 10.98.0.3 (subnet 10.244.3.0/24) is not on this node's segment 10.99.0.0/24; not routed: use vxlan, vxlan with DirectRouting, or bgp",
      ],
    );
    assert.equal(summaries[2]?.peerErrors.length, 2);
    assert.deepEqual(weftRoutes(node(1)), ['10.244.2.0/24 via 10.99.0.2 dev eth0']);
    assert.deepEqual(weftRoutes(node(3)), []);
    assert.deepEqual(await pingMatrix([node(1), node(2)]), []);
  });

  test('DirectRouting: the same-segment peer gets a direct route, the other VXLAN; all pods ping', async () => {
    const summaries = await reconcileAll(lab, netConf('vxlan', { directRouting: true }));
    assert.deepEqual(
      summaries.map((s) => s.peerErrors),
      [[], [], []],
    );
    assert.deepEqual(weftRoutes(node(1)), [
      '10.244.2.0/24 via 10.99.0.2 dev eth0',
      '10.244.3.0/24 via 10.244.3.0 dev weft.1 onlink',
    ]);
    assert.deepEqual(neighbours(node(1), 'weft.1'), [`10.244.3.0 ${vtepMacFor('10.98.0.3')} PERMANENT`]);
    assert.deepEqual(fdb(node(1), 'weft.1'), [`${vtepMacFor('10.98.0.3')} dst 10.98.0.3 permanent`]);
    assert.deepEqual(weftRoutes(node(3)), [
      '10.244.1.0/24 via 10.244.1.0 dev weft.1 onlink',
      '10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink',
    ]);
    await assertAllPodsPing(lab);
    assert.deepEqual(
      (await reconcileAll(lab, netConf('vxlan', { directRouting: true }))).map((s) => s.changes),
      [[], [], []],
    );
  });

  test('a peer lease without a VTEP (a host-gw node) off the segment errs under vxlan; the others work', async () => {
    const leases: PeerLease[] = [leaseOf(node(1), 'vxlan'), leaseOf(node(2), 'vxlan'), leaseOf(node(3), 'host-gw')];
    const s = await reconcilerFor(node(1)).reconcile(
      planBackend({ node: backendNode(node(1)), conf: netConf('vxlan'), peers: leases }),
    );
    assert.match(
      s.peerErrors[0]?.message ?? '',
      /vxlan: peer 10\.98\.0\.3 \(subnet 10\.244\.3\.0\/24\) has no VTEP MAC/,
    );
    assert.deepEqual(weftRoutes(node(1)), ['10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink']);
    assert.deepEqual(fdb(node(1), 'weft.1'), [`${vtepMacFor('10.99.0.2')} dst 10.99.0.2 permanent`]);
  });

  test('teardown after DirectRouting: the device and the direct routes on eth0 go, nothing else', async () => {
    await reconcileAll(lab, netConf('vxlan', { directRouting: true }));
    assert.ok(weftRoutes(node(1)).some((r) => r.endsWith('dev eth0')));
    await assertTeardown(lab);
  });
});
