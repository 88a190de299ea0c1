/**
 * The etcd LeaseStore against a real etcd (Debian's etcd-server) that this test starts on free
 * loopback ports: the LeaseStore contract, Flannel's key layout byte for byte, a watch that resumes
 * from its revision after a broken connection (and lists again when that revision was compacted),
 * an idle watch that costs etcd no request, and TLS with client certificates. No root and no
 * namespace needed.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdServer } from './support/etcd.js';
import { systemClock } from '../src/adapters/clock.js';
import { EtcdLeaseStore } from '../src/adapters/lease-store-etcd.js';
import { runLeaseStoreContract } from '../src/testkit/lease-store-contract.js';
import type { LeaseEvent, LeaseStore } from '../src/ports/lease-store.js';

const etcd = new EtcdServer();
let raw: Etcd3;
let prefixes = 0;
const freshPrefix = () => `/weft-test-${process.pid}-${++prefixes}/coreos.com/network`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

before(async () => {
  await etcd.start();
  raw = new Etcd3({ hosts: etcd.clientUrl });
});
after(async () => {
  raw.close();
  await etcd.destroy();
});

runLeaseStoreContract('etcd', { unitMs: 1_000, patienceMs: 6_000, stepMs: 50, expirySlackMs: 1_000 }, async () => {
  const prefix = freshPrefix();
  const clients: LeaseStore[] = [];
  const open = async () => {
    const c = new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, clock: systemClock });
    clients.push(c);
    return c;
  };
  return {
    store: await open(),
    open,
    now: () => Date.now(),
    pass: sleep,
    cleanup: async () => {
      for (const c of clients) await c.close();
      await raw.delete().prefix(prefix.split('/coreos.com')[0]!);
    },
  };
});

async function waitFor(what: string, check: () => boolean, ms = 8_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const describe = (e: LeaseEvent) =>
  e.type === 'added' ? `added ${e.lease.subnet} ${e.lease.publicIp}` : `removed ${e.subnet}`;

test("Flannel's key layout: config and subnet keys as flanneld writes and reads them, each subnet on an etcd lease", async () => {
  const prefix = freshPrefix();
  const store = new EtcdLeaseStore({ endpoints: [`${etcd.clientUrl}/`], prefix: `${prefix}/`, clock: systemClock });
  try {
    await store.putConfig('{"Network":"10.244.0.0/16"}');
    assert.equal(await raw.get(`${prefix}/config`).string(), '{"Network":"10.244.0.0/16"}');
    await store.acquire(
      '10.244.3.0/24',
      {
        publicIp: '10.99.0.3',
        backendType: 'vxlan',
        backendData: { VNI: 1, VtepMAC: '0e:77:0a:63:00:03' },
        nodeName: 'n3',
      },
      30_000,
    );
    const key = `${prefix}/subnets/10.244.3.0-24`;
    assert.equal(
      await raw.get(key).string(),
      '{"PublicIP":"10.99.0.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:77:0a:63:00:03"},"NodeName":"n3"}',
    );
    const kv = (await raw.get(key).exec()).kvs[0]!;
    const ttl = await raw.leaseClient.leaseTimeToLive({ ID: kv.lease });
    assert.equal(ttl.grantedTTL, '30');
    // A lease as flanneld writes it (no NodeName, host-gw with no backend data) reads back.
    await raw
      .put(`${prefix}/subnets/10.244.4.0-24`)
      .value('{"PublicIP":"10.99.0.4","PublicIPv6":null,"BackendType":"host-gw","BackendData":null}');
    // Something under subnets/ that is not a lease is not one.
    await raw.put(`${prefix}/subnets/junk`).value('not json');
    assert.deepEqual(
      (await store.listLeases()).map((l) => [
        l.subnet,
        l.publicIp,
        l.backendType,
        JSON.stringify(l.backendData),
        l.nodeName ?? '-',
      ]),
      [
        ['10.244.3.0/24', '10.99.0.3', 'vxlan', '{"VNI":1,"VtepMAC":"0e:77:0a:63:00:03"}', 'n3'],
        ['10.244.4.0/24', '10.99.0.4', 'host-gw', '{}', '-'],
      ],
    );
  } finally {
    await store.close();
  }
});

test('--etcd-endpoints: bad URLs are refused by name', () => {
  assert.throws(() => new EtcdLeaseStore({ endpoints: [], prefix: '/p', clock: systemClock }), /at least one URL/);
  assert.throws(
    () => new EtcdLeaseStore({ endpoints: ['127.0.0.1:2379'], prefix: '/p', clock: systemClock }),
    /"127.0.0.1:2379" is not an http\(s\):\/\/host:port URL/,
  );
});

test('an etcd that is down: calls fail within the deadline, naming the action and the endpoint', async () => {
  const store = new EtcdLeaseStore({
    endpoints: ['http://127.0.0.1:1'],
    prefix: '/p',
    clock: systemClock,
    timeoutMs: 500,
  });
  try {
    const t0 = Date.now();
    await assert.rejects(store.listLeases(), /etcd list \/p\/subnets\/ \(at http:\/\/127\.0\.0\.1:1\)/);
    assert.ok(Date.now() - t0 < 5_000, `failed after ${Date.now() - t0} ms`);
  } finally {
    await store.close();
  }
});

/** A TCP relay to etcd that the test can cut (every connection dropped, no new ones) and restore. */
class Relay {
  private server: Server | undefined;
  private readonly open = new Set<Socket>();
  port = 0;
  constructor(private readonly target: URL) {}
  async up(): Promise<void> {
    const server = createServer((inside) => {
      const outside = connect({ host: this.target.hostname, port: Number(this.target.port) });
      for (const s of [inside, outside]) {
        this.open.add(s);
        s.on('close', () => this.open.delete(s));
        s.on('error', () => {
          inside.destroy();
          outside.destroy();
        });
      }
      inside.pipe(outside).pipe(inside);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
    this.server = server;
  }
  async cut(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const c of this.open) c.destroy();
    await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }
}

test('watch across a broken connection: reports the change made meanwhile from its revision, and lists again after a compaction', async () => {
  const prefix = freshPrefix();
  const relay = new Relay(new URL(etcd.clientUrl));
  await relay.up();
  const watching = new EtcdLeaseStore({
    endpoints: [`http://127.0.0.1:${relay.port}`],
    prefix,
    clock: systemClock,
    timeoutMs: 500,
  });
  const writer = new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, clock: systemClock });
  const events: string[] = [];
  const errors: string[] = [];
  const attrs = (ip: string) => ({ publicIp: ip, backendType: 'vxlan', backendData: { VNI: 1 } });
  try {
    await writer.acquire('10.244.1.0/24', attrs('10.99.0.1'), 60_000);
    const w = await watching.watch(
      (e) => events.push(describe(e)),
      (err) => errors.push(err.message),
    );
    await writer.acquire('10.244.2.0/24', attrs('10.99.0.2'), 60_000);
    await waitFor('the first event', () => events.length === 1);

    // 1. Cut: a change while the watch cannot see etcd, then the connection returns.
    await relay.cut();
    await waitFor('the watch to notice the cut', () => errors.length === 1);
    await writer.acquire('10.244.3.0/24', attrs('10.99.0.3'), 60_000);
    await writer.revoke('10.244.1.0/24');
    await relay.up();
    await waitFor('the changes made during the cut', () => events.length === 3);
    assert.deepEqual(events, [
      'added 10.244.2.0/24 10.99.0.2',
      'added 10.244.3.0/24 10.99.0.3',
      'removed 10.244.1.0/24',
    ]);

    // 2. Cut again, and compact etcd's history past the watch's revision while it is away:
    // the watch cannot resume, lists again and reports the difference.
    await relay.cut();
    await waitFor('the watch to notice the second cut', () => errors.length === 2);
    await writer.revoke('10.244.2.0/24');
    await writer.acquire('10.244.4.0/24', attrs('10.99.0.4'), 60_000);
    await writer.acquire('10.244.5.0/24', attrs('10.99.0.5'), 60_000);
    await writer.revoke('10.244.5.0/24');
    const rev = (await raw.get('anything').exec()).header.revision;
    await raw.kv.compact({ revision: rev, physical: true });
    await relay.up();
    await waitFor('the difference after the compaction', () => events.length === 5);
    assert.deepEqual(events.slice(3).sort(), ['added 10.244.4.0/24 10.99.0.4', 'removed 10.244.2.0/24']);
    assert.ok(
      errors.some((e) => /compacted or refused: listing again/.test(e)),
      `the cancelled watch was reported: ${errors.join(' | ')}`,
    );

    // 3. And it watches on.
    await writer.acquire('10.244.6.0/24', attrs('10.99.0.6'), 60_000);
    await waitFor('an event after the relist', () => events.length === 6);
    assert.equal(events[5], 'added 10.244.6.0/24 10.99.0.6');
    // A marker written after it: a duplicate of any earlier event would arrive before the marker's.
    await writer.acquire('10.244.7.0/24', attrs('10.99.0.7'), 60_000);
    await waitFor('the marker event', () => events.length >= 7);
    assert.equal(events.length, 7, `no duplicate: ${events.join(', ')}`);
    assert.equal(events[6], 'added 10.244.7.0/24 10.99.0.7');
    await w.stop();
  } finally {
    await watching.close();
    await writer.close();
    await relay.cut();
  }
});

/** etcd's count of gRPC messages received (every unary call is one; a stream counts each message). */
async function grpcMessages(): Promise<number> {
  const text = await (await fetch(`${etcd.clientUrl}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^grpc_server_msg_received_total\{[^}]*\} (\S+)$/gm)) sum += Number(m[1]);
  return sum;
}

test('idle: five watching stores with renewals due later cost etcd no request', async () => {
  const prefix = freshPrefix();
  const stores = Array.from(
    { length: 5 },
    () => new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, clock: systemClock }),
  );
  try {
    for (const [i, s] of stores.entries())
      await s.acquire(
        `10.244.${i + 1}.0/24`,
        { publicIp: `10.99.0.${i + 1}`, backendType: 'vxlan', backendData: {} },
        60_000,
      );
    const events: LeaseEvent[] = [];
    for (const s of stores) await s.watch((e) => events.push(e));
    const before = await grpcMessages();
    await sleep(3_000);
    const during = (await grpcMessages()) - before;
    assert.equal(during, 0, `etcd received ${during} messages in 3 s of idle watching`);
    assert.deepEqual(events, []);
    // A renewal is one keepalive (plus the read of the key), and no watcher hears of it.
    const t0 = await grpcMessages();
    await stores[0]!.renew('10.244.1.0/24', { publicIp: '10.99.0.1', backendType: 'vxlan', backendData: {} }, 60_000);
    assert.ok((await grpcMessages()) - t0 <= 3, 'renew: a range, a keepalive stream and its one message');
    await sleep(300);
    assert.deepEqual(events, []);
  } finally {
    for (const s of stores) await s.close();
  }
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl in `dir`. */
function makeCerts(dir: string) {
  const f = (n: string) => join(dir, n);
  const ssl = (args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  };
  ssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=weft-test-ca',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
  ]);
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    ssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=weft-test-${who}`,
      '-keyout',
      f(`${who}.key`),
      '-out',
      f(`${who}.csr`),
    ]);
    ssl([
      'x509',
      '-req',
      '-in',
      f(`${who}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      f(`${who}.ext`),
      '-out',
      f(`${who}.crt`),
    ]);
  }
  return {
    ca: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
  };
}

test("TLS as flanneld's --etcd-cafile/certfile/keyfile: leases over https with a client certificate; none is refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-etcd-tls-'));
  const c = makeCerts(dir);
  const secure = new EtcdServer({
    tls: {
      certFile: c.serverCert,
      keyFile: c.serverKey,
      caFile: c.ca,
      clientCertFile: c.clientCert,
      clientKeyFile: c.clientKey,
    },
  });
  await secure.start();
  const prefix = freshPrefix();
  const store = new EtcdLeaseStore({
    endpoints: [secure.clientUrl],
    prefix,
    clock: systemClock,
    tls: { caFile: c.ca, certFile: c.clientCert, keyFile: c.clientKey },
  });
  const anonymous = new EtcdLeaseStore({
    endpoints: [secure.clientUrl],
    prefix,
    clock: systemClock,
    timeoutMs: 1_000,
    tls: { caFile: c.ca },
  });
  try {
    assert.match(secure.clientUrl, /^https:/);
    await store.acquire('10.244.1.0/24', { publicIp: '10.99.0.1', backendType: 'vxlan', backendData: {} }, 30_000);
    assert.deepEqual(
      (await store.listLeases()).map((l) => l.subnet),
      ['10.244.1.0/24'],
    );
    await assert.rejects(anonymous.listLeases(), /etcd list/);
    assert.throws(
      () =>
        new EtcdLeaseStore({
          endpoints: [secure.clientUrl],
          prefix,
          clock: systemClock,
          tls: { caFile: join(dir, 'missing.crt') },
        }),
      /etcd TLS: read --etcd-cafile .*missing\.crt/,
    );
  } finally {
    await store.close();
    await anonymous.close();
    await secure.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
