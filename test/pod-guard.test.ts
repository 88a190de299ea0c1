/**
 * Issue 16, items 1, 2, 3 and 5: a pod cannot forge its source address, answer ARP for another
 * pod, talk IPv6 past an IPv4 policy, smuggle packets in VXLAN frames of its own, or be reached
 * before its node has programmed its policy. One
 * 3-node lab (vxlan, embedded store), namespace pg:
 *
 *   n1: victim (admits only friend), attacker, witness      n2: friend      n3: far (attacker)
 *
 * Every attack is sent for real from inside a pod (hping3 raw sockets, arping, link-local
 * addresses the pod gives itself), and every "it did not arrive" sits next to a control that
 * shows the same measurement does see the packet when it is legitimate, or the guard's counter
 * that dropped it.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { requireRoot, sh } from './support/netns.js';
import { CLI, TestLab } from './support/lab.js';
import { writeFileSync } from 'node:fs';

const NS = 'pg';
const CONNECT = join(dirname(CLI), '..', 'lab', 'connect.js');
const COUNT_TABLE = 'weft-pgcount';

const pod = (name: string, node: string, app: string) =>
  `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: ${NS}, labels: { app: ${app} } }\n` +
  `spec: { nodeName: ${node}, containers: [{ name: s, ports: [{ containerPort: 80 }] }] }\n`;

const CLUSTER = [
  `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n`,
  pod('victim', 'n1', 'victim'),
  pod('attacker', 'n1', 'attacker'),
  pod('witness', 'n1', 'witness'),
  pod('friend', 'n2', 'friend'),
  pod('far', 'n3', 'attacker'),
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: only-friend, namespace: ${NS} }\n` +
    'spec:\n  podSelector: { matchLabels: { app: victim } }\n  policyTypes: [Ingress]\n' +
    '  ingress: [{ from: [{ podSelector: { matchLabels: { app: friend } } }] }]\n',
].join('---\n');

describe('the pod guard on a 3-node lab (vxlan)', { timeout: 600_000 }, () => {
  requireRoot();
  const lab = new TestLab('tpg');
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  const record = () =>
    JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8')) as {
      supervisorPid?: number;
      nodes: Array<{ name: string; ns: string; ip: string; agentPid?: number }>;
    };
  const nodeNs = (name: string) => record().nodes.find((n) => n.name === name)!.ns;

  const ipOf = (name: string): string => {
    const p = lab.pods().find((x) => x.metadata.namespace === NS && x.metadata.name === name);
    if (!p?.status.podIP || p.status.phase !== 'Running') throw new Error(`pod ${NS}/${name} is not running yet`);
    return p.status.podIP;
  };
  const inPod = (name: string, argv: string[]) => lab.weft(['exec', '-n', NS, name, '--', ...argv]);
  const mustInPod = (name: string, argv: string[]): string => {
    const r = inPod(name, argv);
    if (r.status !== 0) throw new Error(`in pod ${name}: ${argv.join(' ')}: exit ${r.status}\n${r.stderr}`);
    return r.stdout;
  };
  const inNode = (node: string, argv: string[]) => {
    const r = sh(['ip', 'netns', 'exec', nodeNs(node), ...argv]);
    if (r.status !== 0) throw new Error(`on ${node}: ${argv.join(' ')}: exit ${r.status}\n${r.stderr}`);
    return r.stdout;
  };
  const macOf = (name: string) =>
    (JSON.parse(mustInPod(name, ['ip', '-j', 'link', 'show', 'eth0'])) as Array<{ address: string }>)[0]!.address;
  const connects = (from: string, ip: string, port = 80) =>
    inPod(from, [process.execPath, CONNECT, 'tcp', ip, String(port), '800']).status === 0;

  async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      try {
        if (ok()) return;
      } catch (err) {
        if (Date.now() > end) throw err;
      }
      if (Date.now() > end) throw new Error(`wait for ${what}: not true after ${ms} ms`);
      await sleep(200);
    }
  }

  /** Packets counted in the victim's own namespace by the rule for UDP port `port` from `source`. */
  const arrived = (port: number): number => {
    const listing = mustInPod('victim', ['nft', '-j', 'list', 'table', 'inet', COUNT_TABLE]);
    const objects = (JSON.parse(listing) as { nftables: Array<Record<string, unknown>> }).nftables;
    for (const o of objects) {
      const r = o.rule as { comment?: string; expr: Array<Record<string, unknown>> } | undefined;
      if (r?.comment !== `port ${port}`) continue;
      const c = r.expr.find((e) => 'counter' in e) as { counter: { packets: number } } | undefined;
      return c?.counter.packets ?? 0;
    }
    throw new Error(`no counting rule for port ${port}`);
  };

  /** The packets counted by the guard rule of `node` whose comment matches `comment`. */
  const guardDrops = (node: string, comment: RegExp): number => {
    const objects = (
      JSON.parse(inNode(node, ['nft', '-j', 'list', 'chain', 'bridge', 'weft-guard', 'from-pod'])) as {
        nftables: Array<Record<string, unknown>>;
      }
    ).nftables;
    let n = 0;
    for (const o of objects) {
      const r = o.rule as { comment?: string; expr: Array<Record<string, unknown>> } | undefined;
      if (!r?.comment || !comment.test(r.comment)) continue;
      const c = r.expr.find((e) => 'counter' in e) as { counter: { packets: number } } | undefined;
      n += c?.counter.packets ?? 0;
    }
    return n;
  };

  /** Five UDP datagrams to victim:port with the IPv4 source `source`, written by hping3 in pod `from`. */
  const forge = (from: string, source: string, port: number) => {
    // hping3 exits 1 when nothing answers, which is what a dropped datagram looks like: what
    // matters is that it sent its five.
    const r = inPod(from, [
      'hping3',
      '--udp',
      '--spoof',
      source,
      '--destport',
      String(port),
      '--count',
      '5',
      '--interval',
      'u20000',
      ipOf('victim'),
    ]);
    assert.match(r.stdout + r.stderr, /5 packets transmitted/, `hping3 in ${from} sent five:\n${r.stderr}`);
  };

  before(async () => {
    lab.up();
    lab.must(['apply', '-f', lab.file('cluster.yaml', CLUSTER)]);
    await until('every pod running', () => ['victim', 'attacker', 'witness', 'friend', 'far'].every((p) => !!ipOf(p)));
    const friend = ipOf('friend');
    const rules = [7001, 7002, 7003, 7004, 7005]
      .map((p) => `ip saddr ${friend} udp dport ${p} counter comment "port ${p}"`)
      .join('; ');
    mustInPod('victim', [
      'nft',
      `add table inet ${COUNT_TABLE}; add chain inet ${COUNT_TABLE} in { type filter hook input priority -10; policy accept; }; ` +
        rules
          .split('; ')
          .map((r) => `add rule inet ${COUNT_TABLE} in ${r}`)
          .join('; '),
    ]);
    // friend's real traffic reaches victim (the policy admits it): the measurement sees packets.
    await until('friend connects to victim', () => connects('friend', ipOf('victim')));
  });
  after(() => {
    lab.down();
  });

  test("forged IPv4 sources are dropped at the sender's port, same node and across nodes; the real sender gets through", () => {
    const friend = ipOf('friend');
    forge('friend', friend, 7003);
    assert.equal(arrived(7003), 5, 'control: friend sending as itself with hping3 is counted 5 times');
    const before = guardDrops('n1', /IPv4 source/) + guardDrops('n3', /IPv4 source/);
    forge('attacker', friend, 7001);
    forge('far', friend, 7002);
    assert.equal(arrived(7001), 0, 'attacker on the same node, forging friend');
    assert.equal(arrived(7002), 0, 'far on another node, forging friend');
    const dropped = guardDrops('n1', /IPv4 source/) + guardDrops('n3', /IPv4 source/) - before;
    assert.ok(dropped >= 10, `the guard dropped the ten forged datagrams (counted ${dropped})`);
    // And the policy still holds for the real addresses.
    assert.equal(connects('attacker', ipOf('victim')), false);
    assert.equal(connects('friend', ipOf('victim')), true);
  });

  test("a pod cannot claim another pod's address over ARP: a neighbour keeps the right MAC", async () => {
    const victim = ipOf('victim');
    const victimMac = macOf('victim');
    // The policy drops witness's ping, but the ARP exchange before it fills witness's neighbour table.
    inPod('witness', ['ping', '-c', '1', '-W', '1', victim]);
    const neigh = () =>
      (
        JSON.parse(mustInPod('witness', ['ip', '-j', 'neigh', 'show', victim, 'dev', 'eth0'])) as Array<{
          lladdr?: string;
        }>
      )[0]?.lladdr;
    assert.equal(neigh(), victimMac);
    await sleep(1200); // past the neighbour table's locktime, so an honest update would be taken
    const before = guardDrops('n1', /forged ARP/);
    mustInPod('attacker', ['ip', 'addr', 'add', `${victim}/32`, 'dev', 'eth0']);
    try {
      const unsolicited = inPod('attacker', ['arping', '-U', '-c', '3', '-w', '3', '-I', 'eth0', '-s', victim, victim]);
      const replies = inPod('attacker', ['arping', '-A', '-c', '3', '-w', '3', '-I', 'eth0', '-s', victim, victim]);
      assert.match(unsolicited.stdout + unsolicited.stderr, /Sent 3 probe/, 'arping sent its gratuitous requests');
      assert.match(replies.stdout + replies.stderr, /Sent 3 probe/, 'arping sent its unsolicited replies');
    } finally {
      inPod('attacker', ['ip', 'addr', 'del', `${victim}/32`, 'dev', 'eth0']);
    }
    await sleep(300);
    assert.equal(neigh(), victimMac, "witness still maps victim's address to victim's MAC");
    assert.ok(guardDrops('n1', /forged ARP/) - before >= 6, 'the guard dropped the six forged ARP frames');
  });

  test('pods of the IPv4 cluster have no IPv6 address, and IPv6 they give themselves goes nowhere', () => {
    for (const p of ['attacker', 'witness'])
      assert.equal(
        mustInPod(p, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0']).trim(),
        '',
        `${p} has no IPv6 address`,
      );
    mustInPod('attacker', ['ip', 'addr', 'add', 'fe80::a/64', 'dev', 'eth0', 'nodad']);
    mustInPod('witness', ['ip', 'addr', 'add', 'fe80::b/64', 'dev', 'eth0', 'nodad']);
    try {
      const before = guardDrops('n1', /IPv6 source/);
      const ping = inPod('attacker', ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '1', 'fe80::b%eth0']);
      assert.notEqual(ping.status, 0, `link-local ping must fail:\n${ping.stdout}`);
      assert.ok(guardDrops('n1', /IPv6 source/) - before >= 3, 'the guard dropped the IPv6 frames');
      // Control: the same two pods talk over IPv4 (nothing isolates them).
      mustInPod('attacker', ['ping', '-c', '1', '-W', '2', ipOf('witness')]);
    } finally {
      inPod('attacker', ['ip', 'addr', 'del', 'fe80::a/64', 'dev', 'eth0']);
      inPod('witness', ['ip', 'addr', 'del', 'fe80::b/64', 'dev', 'eth0']);
    }
  });

  /**
   * A VXLAN datagram's payload: the 8-byte header with `vni`, then an Ethernet frame to `dstMac`
   * holding IPv4/UDP from `src` to `dst`:`port` (IPv4 checksum computed, UDP checksum 0).
   */
  function vxlanPayload(vni: number, dstMac: string, src: string, dst: string, port: number): Buffer {
    const data = Buffer.from('weft vxlan forgery');
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(40000, 0);
    udp.writeUInt16BE(port, 2);
    udp.writeUInt16BE(8 + data.length, 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + udp.length + data.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    Buffer.from(src.split('.').map(Number)).copy(ip, 12);
    Buffer.from(dst.split('.').map(Number)).copy(ip, 16);
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    ip.writeUInt16BE(~sum & 0xffff, 10);
    const mac = (m: string) => Buffer.from(m.split(':').map((h) => Number.parseInt(h, 16)));
    const eth = Buffer.concat([mac(dstMac), mac('02:00:00:00:00:99'), Buffer.from([0x08, 0x00])]);
    const header = Buffer.from([0x08, 0, 0, 0, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0]);
    return Buffer.concat([header, eth, ip, udp, data]);
  }

  test("VXLAN frames from pods are not decapsulated (to their own node, or routed on to another); a peer node's are", () => {
    const n1 = record().nodes.find((n) => n.name === 'n1')!;
    const dev = (
      JSON.parse(inNode('n1', ['ip', '-j', '-d', 'link', 'show', 'type', 'vxlan'])) as Array<{
        ifname: string;
        address: string;
        linkinfo: { info_data: { id: number; port: number } };
      }>
    )[0]!;
    const payload = vxlanPayload(dev.linkinfo.info_data.id, dev.address, ipOf('friend'), ipOf('victim'), 7004);
    const file = lab.file('vxlan.bin', '');
    writeFileSync(file, payload);
    const send = (argv: string[]) => [
      ...argv,
      'hping3',
      '--udp',
      '--destport',
      String(dev.linkinfo.info_data.port),
      '--file',
      file,
      '--data',
      String(payload.length),
      '--count',
      '5',
      '--interval',
      'u20000',
      n1.ip,
    ];
    // Control: n3 (a peer) sending the same frame to n1 gets its inner packet delivered to victim.
    const peer = sh(send(['ip', 'netns', 'exec', nodeNs('n3')]));
    assert.match(peer.stdout + peer.stderr, /5 packets transmitted/);
    assert.equal(arrived(7004), 5, 'control: the frame from a peer node is decapsulated and delivered');
    // From a pod on n1 to its own node, and from a pod on n3 to n1: nothing is delivered.
    const payload2 = vxlanPayload(dev.linkinfo.info_data.id, dev.address, ipOf('friend'), ipOf('victim'), 7005);
    writeFileSync(file, payload2);
    for (const from of ['attacker', 'far']) {
      const r = inPod(from, send([]));
      assert.match(r.stdout + r.stderr, /5 packets transmitted/, `${from} sent its frames`);
    }
    assert.equal(arrived(7005), 0, 'no frame from a pod was decapsulated');
  });

  test('fail closed: a pod made while its node has no agent is reachable by nobody until the agent has programmed its policy', async () => {
    const { supervisorPid, nodes } = record();
    const agentPid = nodes.find((n) => n.name === 'n1')!.agentPid!;
    assert.ok(supervisorPid && agentPid);
    // The supervisor would restart the agent at once: hold it, then take n1's agent away.
    process.kill(supervisorPid, 'SIGSTOP');
    try {
      process.kill(agentPid, 'SIGKILL');
      lab.must(['apply', '-f', lab.file('late.yaml', pod('late', 'n1', 'victim'))]);
      await until('late running', () => !!ipOf('late'));
      const late = ipOf('late');
      const pending = () => inNode('n1', ['nft', '-j', 'list', 'set', 'bridge', 'weft-guard', 'pending-v4']);
      assert.match(pending(), new RegExp(`"${late.replace(/\./g, '\\.')}"`), 'late waits in the pending set');
      // Nobody gets in while the agent is away: not the pod the policy lets in, not the others.
      for (const from of ['friend', 'far', 'attacker', 'witness'])
        assert.equal(connects(from, late), false, `${from} must not reach late while n1 has no agent`);
      // And late reaches nobody.
      assert.equal(connects('late', ipOf('witness')), false, 'late must not reach out either');
    } finally {
      process.kill(supervisorPid, 'SIGCONT');
    }
    // The supervisor restarts the agent; it programs the policy and lets late out: the policy
    // then decides, as for any pod.
    await until('friend reaches late', () => connects('friend', ipOf('late')), 60_000);
    assert.equal(connects('far', ipOf('late')), false, 'far is still refused by the policy');
    assert.equal(connects('late', ipOf('witness')), true, 'late reaches out');
    assert.doesNotMatch(
      inNode('n1', ['nft', '-j', 'list', 'set', 'bridge', 'weft-guard', 'pending-v4']),
      new RegExp(`"${ipOf('late').replace(/\./g, '\\.')}"`),
    );
  });
});
