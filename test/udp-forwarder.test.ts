/**
 * The udp backend's forwarder (src/adapters/udp-forwarder.ts and its worker) against the real
 * kernel: two "nodes" (namespaces weft-udpk-a and -b joined by a veth underlay), each with a
 * TUN device opened by the native module and a forwarder thread of this test process. Real
 * traffic crosses (ping and TCP between the nodes' TUN addresses), a destination no peer owns is
 * dropped and counted, a datagram from a host that is not a peer is dropped (and the same bytes
 * from the peer are delivered), and a port in use fails the start with EADDRINUSE before any
 * device exists.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ForwarderStartError, UdpForwarder } from '../src/adapters/udp-forwarder.js';
import { Netns, inNs, ipJson, mustInNs, requireRoot } from './support/netns.js';
import { roundTrip, serve } from './support/traffic.js';
import type { Daemon } from '../src/adapters/daemon.js';
import { waitFor } from './support/cluster.js';

const fx = new Netns('weft-udpk-');
const PORT = 8285;
const nodes = [
  { name: 'a', ip: '10.98.0.1', subnet: '10.244.1.0/24', tunIp: '10.244.1.0' },
  { name: 'b', ip: '10.98.0.2', subnet: '10.244.2.0/24', tunIp: '10.244.2.0' },
] as const;
const ns: Record<string, string> = {};
const forwarders: Record<string, UdpForwarder> = {};
let echo: Daemon | undefined;

/** An ICMP echo request from src to dst as raw IPv4 bytes (hex), checksums left zero (the receiver's problem). */
function icmpEchoHex(src: string, dst: string): string {
  const p = Buffer.alloc(28);
  p[0] = 0x45;
  p.writeUInt16BE(28, 2);
  p[8] = 64;
  p[9] = 1;
  Buffer.from(src.split('.').map(Number)).copy(p, 12);
  Buffer.from(dst.split('.').map(Number)).copy(p, 16);
  p[20] = 8;
  return p.toString('hex');
}

/** Sends one datagram with `hex` as payload from `from` (an address of `where`) to to:PORT. */
function sendDatagram(where: string, from: string, to: string, hex: string): void {
  const script = `const s=require('dgram').createSocket('udp4');s.bind({address:'${from}'},()=>s.send(Buffer.from('${hex}','hex'),${PORT},'${to}',()=>s.close()))`;
  mustInNs(where, [process.execPath, '-e', script]);
}

describe('udp forwarder between two namespaces', () => {
  before(async () => {
    requireRoot();
    for (const n of nodes) ns[n.name] = fx.add(n.name);
    const [a, b] = [ns.a!, ns.b!];
    mustInNs(a, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b]);
    for (const n of nodes) {
      const where = ns[n.name]!;
      mustInNs(where, ['ip', 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0']);
      mustInNs(where, ['ip', 'link', 'set', 'eth0', 'up']);
      mustInNs(where, ['ip', 'link', 'set', 'lo', 'up']);
      forwarders[n.name] = await UdpForwarder.start({
        tun: 'weft0',
        netns: fx.path(where),
        publicIp: n.ip,
        port: PORT,
      });
      // What the backend does to the device; here by hand, the forwarder alone is under test.
      mustInNs(where, ['ip', 'link', 'set', 'weft0', 'mtu', '1472', 'up']);
      mustInNs(where, ['ip', 'addr', 'add', `${n.tunIp}/32`, 'dev', 'weft0']);
      mustInNs(where, ['ip', 'route', 'add', '10.244.0.0/16', 'dev', 'weft0']);
    }
    await forwarders.a!.setRoutes(nodes[0].subnet, [{ subnet: nodes[1].subnet, publicIp: nodes[1].ip }]);
    await forwarders.b!.setRoutes(nodes[1].subnet, [{ subnet: nodes[0].subnet, publicIp: nodes[0].ip }]);
    echo = await serve(b, 'b', ['tcp:8080']);
  });
  after(async () => {
    await echo?.stop();
    for (const f of Object.values(forwarders)) await f.stop();
    fx.cleanup();
  });

  test('the TUN device is a tun without packet info, in its own namespace only', () => {
    const [link] = ipJson<Array<{ linkinfo?: { info_kind?: string; info_data?: { type?: string; pi?: boolean } } }>>(
      ns.a!,
      ['-d', 'link', 'show', 'weft0'],
    );
    assert.equal(link?.linkinfo?.info_kind, 'tun');
    assert.equal(link?.linkinfo?.info_data?.type, 'tun');
    assert.equal(link?.linkinfo?.info_data?.pi, false);
  });

  test('ping and TCP cross between the nodes through the forwarders', async () => {
    const ping = inNs(ns.a!, ['ping', '-c', '3', '-i', '0.2', '-W', '2', nodes[1].tunIp]);
    assert.equal(ping.status, 0, ping.stdout + ping.stderr);
    assert.match(roundTrip(ns.a!, 'tcp', nodes[1].tunIp, 8080), /8080 from 10\.244\.1\.0/);
    const [sa, sb] = [await forwarders.a!.stats(), await forwarders.b!.stats()];
    assert.ok(sa.sentPackets >= 3 && sa.receivedPackets >= 3, JSON.stringify(sa));
    assert.ok(sb.sentPackets >= 3 && sb.receivedPackets >= 3, JSON.stringify(sb));
  });

  test('a destination no peer owns is dropped and counted', async () => {
    const before = (await forwarders.a!.stats()).dropped['no-route'];
    const ping = inNs(ns.a!, ['ping', '-c', '2', '-i', '0.2', '-W', '1', '10.244.9.1']);
    assert.notEqual(ping.status, 0);
    assert.equal((await forwarders.a!.stats()).dropped['no-route'], before + 2);
  });

  test('a datagram from a host that is no peer is dropped; the same bytes from the peer are delivered', async () => {
    mustInNs(ns.b!, ['ip', 'addr', 'add', '10.98.0.3/24', 'dev', 'eth0']);
    const packet = icmpEchoHex(nodes[1].tunIp, nodes[0].tunIp);
    const s0 = await forwarders.a!.stats();
    sendDatagram(ns.b!, '10.98.0.3', nodes[0].ip, packet);
    await waitFor('the stranger datagram counted', async () =>
      (await forwarders.a!.stats()).dropped['unknown-sender'] === s0.dropped['unknown-sender'] + 1 ? true : undefined,
    );
    assert.equal((await forwarders.a!.stats()).receivedPackets, s0.receivedPackets);
    sendDatagram(ns.b!, nodes[1].ip, nodes[0].ip, packet);
    await waitFor('the peer datagram written to the TUN', async () =>
      (await forwarders.a!.stats()).receivedPackets === s0.receivedPackets + 1 ? true : undefined,
    );
  });

  test('a port in use fails the start with EADDRINUSE and leaves no device', async () => {
    await assert.rejects(
      UdpForwarder.start({ tun: 'weft9', netns: fx.path(ns.a!), publicIp: nodes[0].ip, port: PORT }),
      (err: unknown) => {
        assert.ok(err instanceof ForwarderStartError);
        assert.equal(err.code, 'EADDRINUSE');
        assert.match(err.message, /bind udp port 8285 on 10\.98\.0\.1 .*Address already in use/);
        return true;
      },
    );
    assert.equal(inNs(ns.a!, ['ip', 'link', 'show', 'weft9']).status, 1, 'no weft9 device');
  });

  test('stopping a forwarder removes its device', async () => {
    const f = await UdpForwarder.start({ tun: 'weft8', netns: fx.path(ns.a!), publicIp: nodes[0].ip, port: PORT + 1 });
    assert.equal(inNs(ns.a!, ['ip', 'link', 'show', 'weft8']).status, 0);
    await f.stop();
    await f.stop();
    assert.notEqual(inNs(ns.a!, ['ip', 'link', 'show', 'weft8']).status, 0);
  });
});
