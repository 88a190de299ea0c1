/**
 * weft's bridge plugin: DEL, CHECK, GC/STATUS, refusals and ADD rollback, against the real kernel
 * in namespaces with the prefix weft-brl- (the traffic tests live in bridge.test.ts). Every
 * failure case proves that nothing was left behind: no veth, no reservation, no nft table.
 */

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Netns, ipJson, must, mustInNs } from './support/netns.js';
import {
  makeNode,
  makePod,
  masqElements,
  nftTables,
  reservations,
  run,
  vethNames,
  type NodeCtx,
} from './support/bridge.js';

const fx = new Netns('weft-brl-');
after(() => fx.cleanup());

const IPAMS = ['host-local', 'weft-host-local'] as const;

function config(
  ctx: NodeCtx,
  ipam: string,
  extra: Record<string, unknown> = {},
  ipamExtra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: 'lcnet',
    type: 'weft-bridge',
    bridge: 'cni0',
    isDefaultGateway: true,
    ipMasq: true,
    ipam: {
      type: ipam,
      ranges: [[{ subnet: '10.246.0.0/24' }], [{ subnet: 'fd00:246::/64' }]],
      dataDir: ctx.dataDir,
      ...ipamExtra,
    },
    ...extra,
  };
}

/** Nothing of the attachment is left on the node. */
function assertClean(ctx: NodeCtx, why: string): void {
  assert.deepEqual(vethNames(ctx.node), [], `${why}: veth left`);
  assert.deepEqual(reservations(ctx, 'lcnet'), [], `${why}: reservation left`);
  assert.deepEqual(nftTables(ctx.node), [], `${why}: nft table left`);
}

describe('DEL and CHECK', () => {
  for (const ipam of IPAMS) {
    test(`with ${ipam}: CHECK passes after ADD, fails after the host veth is deleted by hand; DEL cleans up, twice`, () => {
      const ctx = makeNode(fx, ipam === 'host-local' ? 'dr' : 'dw');
      const pod = makePod(ctx, `${ipam === 'host-local' ? 'dr' : 'dw'}-a`);
      const conf = config(ctx, ipam);
      const added = run(ctx, 'weft-bridge', 'ADD', conf, pod);
      assert.equal(added.status, 0, added.stdout);
      const result = added.json as Record<string, unknown>;
      assert.equal(reservations(ctx, 'lcnet').length, 2);
      assert.equal((masqElements(ctx.node) ?? []).length, 4);
      // isDefaultGateway: default routes of both families via the bridge.
      const r6 = ipJson<Array<{ dst: string; gateway?: string }>>(pod.ns, ['-6', 'route', 'show']);
      assert.ok(
        r6.some((r) => r.dst === 'default' && r.gateway === 'fd00:246::1'),
        JSON.stringify(r6),
      );

      const checked = run(ctx, 'weft-bridge', 'CHECK', { ...conf, prevResult: result }, pod);
      assert.equal(checked.status, 0, checked.stdout);

      const hostVeth = (result.interfaces as Array<{ name: string }>)[1]?.name ?? '';
      mustInNs(ctx.node, ['ip', 'link', 'del', hostVeth]);
      const broken = run(ctx, 'weft-bridge', 'CHECK', { ...conf, prevResult: result }, pod);
      assert.notEqual(broken.status, 0);
      assert.equal(broken.json?.code, 103);
      assert.match(String(broken.json?.msg), new RegExp(`host veth ${hostVeth} does not exist`));

      const noPrev = run(ctx, 'weft-bridge', 'CHECK', conf, pod);
      assert.equal(noPrev.json?.code, 7);
      assert.match(String(noPrev.json?.msg), /prevResult/);

      for (const round of ['first', 'second']) {
        const del = run(ctx, 'weft-bridge', 'DEL', conf, pod);
        assert.equal(del.status, 0, `${round} DEL: ${del.stdout}`);
        assertClean(ctx, `${round} DEL`);
      }
    });
  }

  test('DEL succeeds when the pod namespace is gone, or CNI_NETNS is empty, and still releases everything', () => {
    const ctx = makeNode(fx, 'gone');
    const a = makePod(ctx, 'gone-a');
    const b = makePod(ctx, 'gone-b');
    const conf = config(ctx, 'host-local');
    assert.equal(run(ctx, 'weft-bridge', 'ADD', conf, a).status, 0);
    assert.equal(run(ctx, 'weft-bridge', 'ADD', conf, b).status, 0);
    must(['ip', 'netns', 'del', a.ns]);
    assert.equal(run(ctx, 'weft-bridge', 'DEL', conf, a).status, 0);
    const del = run(ctx, 'weft-bridge', 'DEL', conf, b, '');
    assert.equal(del.status, 0, del.stdout);
    assertClean(ctx, 'DEL without netns');
  });

  test('DEL reports every failure it met and still does the rest', () => {
    const ctx = makeNode(fx, 'delerr');
    const pod = makePod(ctx, 'delerr-a');
    const conf = config(ctx, 'host-local');
    assert.equal(run(ctx, 'weft-bridge', 'ADD', conf, pod).status, 0);
    // The IPAM plugin has vanished from CNI_PATH: DEL must still remove the veth and the masquerade.
    const del = run(
      ctx,
      'weft-bridge',
      'DEL',
      { ...conf, ipam: { ...(conf.ipam as object), type: 'no-such-ipam' } },
      pod,
    );
    assert.notEqual(del.status, 0);
    assert.match(String(del.json?.msg), /no-such-ipam/);
    assert.deepEqual(vethNames(ctx.node), []);
    assert.deepEqual(nftTables(ctx.node), []);
    assert.equal(run(ctx, 'weft-bridge', 'DEL', conf, pod).status, 0);
    assertClean(ctx, 'DEL after a failed DEL');
  });

  test('GC delegates to IPAM (stale reservations go); STATUS succeeds', () => {
    const ctx = makeNode(fx, 'gc');
    const pod = makePod(ctx, 'gc-a');
    const conf = { ...config(ctx, 'weft-host-local'), cniVersion: '1.1.0' };
    assert.equal(run(ctx, 'weft-bridge', 'ADD', conf, pod).status, 0);
    assert.equal(reservations(ctx, 'lcnet').length, 2);
    const gc = run(ctx, 'weft-bridge', 'GC', { ...conf, 'cni.dev/valid-attachments': [] });
    assert.equal(gc.status, 0, gc.stdout);
    assert.deepEqual(reservations(ctx, 'lcnet'), []);
    const status = run(ctx, 'weft-bridge', 'STATUS', conf);
    assert.equal(status.status, 0, status.stdout);
    assert.equal(run(ctx, 'weft-bridge', 'STATUS', { ...conf, ipam: { type: 'nope' } }).json?.code, 50);
    assert.equal(run(ctx, 'weft-bridge', 'DEL', conf, pod).status, 0);
    assertClean(ctx, 'after GC');
  });
});

describe('bad input changes nothing', () => {
  const rows: Array<{
    name: string;
    code: number;
    msg: RegExp;
    conf?: (ctx: NodeCtx) => Record<string, unknown>;
    netns?: string;
  }> = [
    { name: 'non-existent CNI_NETNS', code: 3, msg: /does not exist/, netns: '/var/run/netns/weft-brl-never-made' },
    {
      name: 'missing IPAM plugin',
      code: 7,
      msg: /failed to find plugin "no-such-ipam"/,
      conf: (ctx) => config(ctx, 'no-such-ipam'),
    },
    { name: 'invalid mtu', code: 7, msg: /mtu/, conf: (ctx) => config(ctx, 'host-local', { mtu: 'big' }) },
    {
      name: 'hairpin with promisc',
      code: 7,
      msg: /hairpin/,
      conf: (ctx) => config(ctx, 'host-local', { hairpinMode: true, promiscMode: true }),
    },
    { name: 'vlan', code: 2, msg: /vlan: unsupported field/, conf: (ctx) => config(ctx, 'host-local', { vlan: 10 }) },
    {
      name: 'IPAM refuses its config',
      code: 0,
      msg: /./,
      conf: (ctx) => config(ctx, 'host-local', {}, { ranges: [[{ subnet: 'not-a-cidr' }]] }),
    },
  ];
  for (const row of rows) {
    test(`${row.name} → ${row.code ? `code ${row.code}` : 'error'}, non-zero exit, nothing left`, () => {
      const label = `bad${rows.indexOf(row)}`;
      const ctx = makeNode(fx, label);
      const pod = makePod(ctx, `${label}-p`);
      const conf = row.conf ? row.conf(ctx) : config(ctx, 'host-local');
      const r = run(ctx, 'weft-bridge', 'ADD', conf, pod, row.netns);
      assert.notEqual(r.status, 0);
      if (row.code) assert.equal(r.json?.code, row.code, r.stdout);
      assert.match(String(r.json?.msg), row.msg);
      assertClean(ctx, row.name);
      assert.deepEqual(
        ipJson<Array<{ ifname: string }>>(pod.ns, ['link', 'show']).map((l) => l.ifname),
        ['lo'],
      );
    });
  }
});

describe('ADD rolls back what it made', () => {
  test('a failure after IPAM (bridge name taken by a non-bridge) releases the reservation', () => {
    const ctx = makeNode(fx, 'rb1');
    const pod = makePod(ctx, 'rb1-p');
    // A veth pair (the dummy module may be missing) squats on the bridge's name.
    mustInNs(ctx.node, ['ip', 'link', 'add', 'cni0', 'type', 'veth', 'peer', 'name', 'squat0']);
    const r = run(ctx, 'weft-bridge', 'ADD', config(ctx, 'host-local'), pod);
    assert.equal(r.json?.code, 7, r.stdout);
    assert.match(String(r.json?.msg), /"cni0" already exists but is a veth, not a bridge/);
    assert.deepEqual(vethNames(ctx.node).sort(), ['cni0', 'squat0']);
    assert.deepEqual(reservations(ctx, 'lcnet'), []);
    assert.deepEqual(nftTables(ctx.node), []);
  });

  for (const ipam of IPAMS) {
    test(`with ${ipam}: a failure inside the pod (unreachable route gateway) deletes the veth and releases the addresses`, () => {
      const ctx = makeNode(fx, ipam === 'host-local' ? 'rb2' : 'rb3');
      const pod = makePod(ctx, `${ipam === 'host-local' ? 'rb2' : 'rb3'}-p`);
      const conf = config(ctx, ipam, {}, { routes: [{ dst: '10.99.0.0/16', gw: '192.0.2.1' }] });
      const r = run(ctx, 'weft-bridge', 'ADD', conf, pod);
      assert.notEqual(r.status, 0);
      assert.match(String(r.json?.msg), /configure eth0/);
      assertClean(ctx, 'pod route failure');
      assert.deepEqual(
        ipJson<Array<{ ifname: string }>>(pod.ns, ['link', 'show']).map((l) => l.ifname),
        ['lo'],
      );
      assert.equal(masqElements(ctx.node), undefined);
    });
  }

  test('a second ADD of the same attachment is refused and leaves the first intact', () => {
    const ctx = makeNode(fx, 'dup');
    const pod = makePod(ctx, 'dup-p');
    const conf = config(ctx, 'host-local');
    const first = run(ctx, 'weft-bridge', 'ADD', conf, pod);
    assert.equal(first.status, 0);
    const again = run(ctx, 'weft-bridge', 'ADD', conf, pod);
    assert.notEqual(again.status, 0);
    assert.match(String(again.json?.msg), /already exists/);
    assert.equal(run(ctx, 'weft-bridge', 'CHECK', { ...conf, prevResult: first.json }, pod).status, 0);
    assert.equal(reservations(ctx, 'lcnet').length, 2);
    assert.equal(run(ctx, 'weft-bridge', 'DEL', conf, pod).status, 0);
    assertClean(ctx, 'after duplicate ADD');
  });
});
