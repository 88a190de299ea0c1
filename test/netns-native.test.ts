/**
 * weft's native module (native/netns) against the real kernel, in namespaces of this test's own
 * (prefix weft-nsk-): namespaces it makes are real, named and have lo up; sockets it makes live in
 * the pod's namespace and answer real traffic there (the pod ports the lab serves); the calling
 * process stays in its own namespace; and a failure leaves nothing behind.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, readlinkSync } from 'node:fs';
import { promisify } from 'node:util';
import { bindSocketsInNetns, closeFd, createNetns, openTun, readPackets } from '../src/adapters/netns-native.js';
import { servePodPorts, type ServedPorts } from '../src/adapters/pod-ports.js';
import { Netns, inNs, ipJson, must, mustInNs, sh } from './support/netns.js';

const fx = new Netns('weft-nsk-');
let ns = '';

/** "tcp:47101"-style keys of the sockets listening (TCP) or bound (UDP) inside `where`. */
function boundPorts(where: string): string[] {
  const out = mustInNs(where, ['ss', '-H', '-l', '-n', '-t', '-u']);
  return out
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const cols = l.trim().split(/\s+/);
      return `${cols[0]}:${(cols[4] ?? '').split(':').pop()}`;
    })
    .sort();
}

/** Runs argv inside `where` without blocking this process, which serves the sockets under test. */
async function inNsAsync(where: string, argv: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', where, ...argv], {
    timeout: 10_000,
    encoding: 'utf8',
  });
  return stdout;
}

/** Whether anything in this process's own namespace is bound to the UDP port (read-only look). */
function boundHere(port: number): boolean {
  return must(['ss', '-H', '-l', '-n', '-u', 'sport', '=', `:${port}`]).trim() !== '';
}

describe('sockets inside another network namespace', () => {
  before(() => {
    ns = fx.add('pod');
    mustInNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
  });
  after(() => fx.cleanup());

  test("TCP and UDP sockets are bound in the namespace, not in the caller's, and the caller stays home", () => {
    const home = readlinkSync('/proc/thread-self/ns/net');
    const fds = bindSocketsInNetns(fx.path(ns), [
      { protocol: 'TCP', port: 47101 },
      { protocol: 'UDP', port: 47101 },
    ]);
    try {
      assert.equal(fds.length, 2);
      assert.equal(readlinkSync('/proc/thread-self/ns/net'), home);
      assert.equal(readlinkSync('/proc/self/ns/net'), home);
      // Bound, not yet listening: TCP shows up once Node adopts and listens (next test); the UDP
      // socket is bound at once.
      assert.deepEqual(boundPorts(ns), ['udp:47101']);
      assert.equal(boundHere(47101), false, "nothing may be bound in the caller's own namespace");
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    assert.deepEqual(boundPorts(ns), []);
  });

  test('served pod ports answer real traffic inside the namespace', async () => {
    let served: ServedPorts | undefined;
    try {
      served = await servePodPorts(
        'x/a',
        [
          { protocol: 'TCP', port: 47102 },
          { protocol: 'UDP', port: 47103 },
        ],
        fx.path(ns),
      );
      assert.deepEqual(boundPorts(ns), ['tcp:47102', 'udp:47103']);
      const greeting = await inNsAsync(ns, ['bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/47102; head -1 <&3']);
      assert.equal(greeting.trim(), 'weft x/a 47102 from 127.0.0.1');
      const echo = await inNsAsync(ns, [
        process.execPath,
        '-e',
        "const d=require('dgram').createSocket('udp4');d.on('message',(m)=>{process.stdout.write(String(m));process.exit(0)});d.send('ping-47103',47103,'127.0.0.1');setTimeout(()=>process.exit(3),5000)",
      ]);
      assert.equal(echo, 'ping-47103');
    } finally {
      await served?.close();
    }
    assert.deepEqual(boundPorts(ns), []);
  });

  test('all or nothing: a port already taken fails the call and leaves no socket of it bound', async () => {
    const taken = await servePodPorts('x/b', [{ protocol: 'UDP', port: 47105 }], fx.path(ns));
    try {
      assert.throws(
        () =>
          bindSocketsInNetns(fx.path(ns), [
            { protocol: 'UDP', port: 47104 },
            { protocol: 'UDP', port: 47105 },
          ]),
        (err: Error) => {
          assert.match(
            err.message,
            /bind udp port 47105 in \/var\/run\/netns\/weft-nsk-pod\S*: Address already in use/,
          );
          return true;
        },
      );
      assert.deepEqual(boundPorts(ns), ['udp:47105'], 'the first port of the failed call must not stay bound');
      await assert.rejects(
        servePodPorts(
          'x/c',
          [
            { protocol: 'TCP', port: 47106 },
            { protocol: 'UDP', port: 47105 },
          ],
          fx.path(ns),
        ),
        /udp port 47105/,
      );
      assert.deepEqual(boundPorts(ns), ['udp:47105']);
    } finally {
      await taken.close();
    }
  });

  test('a namespace that does not exist, and bad specs, are refused with the reason', () => {
    assert.throws(
      () => bindSocketsInNetns('/var/run/netns/weft-nsk-missing', [{ protocol: 'TCP', port: 1 }]),
      /open network namespace \/var\/run\/netns\/weft-nsk-missing: No such file or directory/,
    );
    assert.throws(() => bindSocketsInNetns(fx.path(ns), []), /specs must be an array of 1 to 64/);
    assert.throws(() => bindSocketsInNetns(fx.path(ns), [{ protocol: 'TCP', port: 70000 }]), /port: 1\.\.65535/);
    assert.throws(
      () => bindSocketsInNetns('/etc/hostname', [{ protocol: 'TCP', port: 80 }]),
      /enter network namespace \/etc\/hostname: Invalid argument/,
    );
  });

  test('createNetns makes a named namespace with lo up, and refuses a name that is taken', () => {
    const home = readlinkSync('/proc/thread-self/ns/net');
    const name = 'weft-nsk-made';
    fx.names.push(name);
    createNetns(fx.path(name));
    assert.equal(readlinkSync('/proc/thread-self/ns/net'), home, 'the caller is back in its own namespace');
    assert.ok(
      must(['ip', 'netns', 'list'])
        .split('\n')
        .some((l) => l.split(' ')[0] === name),
      'ip netns list shows it',
    );
    const links = ipJson<Array<{ ifname: string; flags: string[] }>>(name, ['link', 'show']);
    assert.deepEqual(
      links.map((l) => l.ifname),
      ['lo'],
      'a new namespace has only lo',
    );
    assert.ok(links[0]!.flags.includes('UP'), 'lo is up');
    // Its lo really works: a socket bound there answers on 127.0.0.1.
    assert.equal(mustInNs(name, ['ping', '-c', '1', '-W', '2', '127.0.0.1']).includes('1 received'), true);
    assert.throws(
      () => createNetns(fx.path(name)),
      /create network namespace \/var\/run\/netns\/weft-nsk-made: File exists/,
    );
    assert.deepEqual(
      ipJson<Array<{ ifname: string }>>(name, ['link', 'show']).map((l) => l.ifname),
      ['lo'],
      'the taken one is untouched',
    );
    assert.throws(() => createNetns('/var/run/weft-nsk-no-such-dir/x'), /No such file or directory/);
  });

  test('openTun: a TUN device in the namespace only, its fd non-blocking; errors name the call and errno', () => {
    const home = readlinkSync('/proc/thread-self/ns/net');
    const fd = openTun('weft-nsk-tun', fx.path(ns));
    try {
      assert.equal(readlinkSync('/proc/thread-self/ns/net'), home, 'the caller is back in its own namespace');
      assert.equal(sh(['ip', 'link', 'show', 'weft-nsk-tun']).status, 1, 'not in the caller namespace');
      const [link] = ipJson<Array<{ linkinfo?: { info_data?: { type?: string; pi?: boolean } } }>>(ns, [
        '-d',
        'link',
        'show',
        'weft-nsk-tun',
      ]);
      assert.deepEqual([link?.linkinfo?.info_data?.type, link?.linkinfo?.info_data?.pi], ['tun', false]);
      // Non-blocking: nothing waiting is 0 packets at once, not a hang.
      assert.equal(readPackets(fd, Buffer.alloc(2 * 2048), 2048, new Int32Array(2)), 0);
      assert.throws(() => openTun('weft-nsk-tun', fx.path(ns)), /^Error: ioctl TUNSETIFF weft-nsk-tun: EBUSY/);
    } finally {
      closeFd(fd);
    }
    assert.equal(inNs(ns, ['ip', 'link', 'show', 'weft-nsk-tun']).status, 1, 'the device went with its descriptor');
    assert.throws(() => openTun('a-name-too-long-x', fx.path(ns)), /name must be 1 to 15 bytes/);
    assert.throws(
      () => openTun('weft-nsk-tun', '/var/run/netns/weft-nsk-missing'),
      /open network namespace \/var\/run\/netns\/weft-nsk-missing: ENOENT/,
    );
  });

  test('bindInNetns with an address binds that IPv4 address only', () => {
    const [fd] = bindSocketsInNetns(fx.path(ns), [{ protocol: 'UDP', port: 47110, address: '127.0.0.1' }]) as [number];
    try {
      const local = mustInNs(ns, ['ss', '-H', '-l', '-n', '-u', 'sport', '=', ':47110']).trim().split(/\s+/)[3];
      assert.equal(local, '127.0.0.1:47110');
    } finally {
      closeFd(fd);
    }
    assert.throws(
      () => bindSocketsInNetns(fx.path(ns), [{ protocol: 'UDP', port: 47110, address: '10.255.255.1' }]),
      /bind udp port 47110 on 10\.255\.255\.1 in \S+: Cannot assign requested address \(EADDRNOTAVAIL\)/,
    );
  });
});
