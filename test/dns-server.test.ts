/**
 * `weft dns` end to end without a kernel lab: the real server (UDP and TCP listener, resolver,
 * cluster feed over a cluster cache, prom-client metrics) on 127.0.0.1 with random ports, asked
 * with real DNS messages (dns-packet) over both transports; a real upstream, Debian's dnsmasq,
 * on another random port serves names outside the cluster zone, and its query log shows what
 * weft asked it (so "answered from weft's cache" is seen from the upstream's side).
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as packet from 'dns-packet';
import type { DecodedPacket, Question } from 'dns-packet';
import { FakeCluster } from '../src/testkit/cluster-source-fake.js';
import { SqliteObjectStore } from '../src/adapters/object-store-sqlite.js';
import { JsonLogger } from '../src/adapters/json-logger.js';
import { systemClock } from '../src/adapters/clock.js';
import { PromMetrics } from '../src/adapters/metrics-prom.js';
import { UdpTcpUpstream } from '../src/adapters/dns-upstream.js';
import { ClusterCache } from '../src/agent/cluster-cache.js';
import { feedKinds } from '../src/dns/cluster-feed.js';
import { startDnsServer, type RunningDnsServer } from '../src/dns/dns-server.js';
import type { EndpointSlice, K8sObject, Namespace, Service } from '../src/core/k8s/objects.js';
import { freePort } from './support/etcd.js';
import { dnsmasqArgv } from './support/dnsmasq.js';
import { waitFor } from './support/cluster.js';

/** Eight 250-byte strings: an answer of about 2 KB, over the 1232 bytes weft offers upstream. */
const BIG_TXT = Array.from({ length: 8 }, (_, i) => String.fromCharCode(97 + i).repeat(250));

let nextId = 1;
function query(q: Question, o: { edns?: number; id?: number } = {}): Buffer {
  return packet.encode({
    type: 'query',
    id: o.id ?? nextId++,
    flags: packet.RECURSION_DESIRED,
    questions: [q],
    ...(o.edns === undefined
      ? {}
      : {
          additionals: [
            {
              type: 'OPT',
              name: '.',
              udpPayloadSize: o.edns,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ],
        }),
  });
}

/**
 * Sends `msg` and then a valid query with id 0xbeef from the same socket; resolves with what came
 * back for `msg` before the valid query's answer (undefined: nothing, the message was dropped).
 * The server handles a socket's messages in order, so an answer to `msg` would come first.
 */
function udpDropped(port: number, msg: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('no answer to the query sent after the message'));
    }, 3000);
    let before: Buffer | undefined;
    s.on('message', (buf) => {
      if (buf.length >= 2 && buf.readUInt16BE(0) === 0xbeef) {
        clearTimeout(timer);
        s.close();
        resolve(before);
      } else before = buf;
    });
    s.send(msg, port, '127.0.0.1');
    s.send(query({ name: 'web.y.svc.cluster.local', type: 'A' }, { id: 0xbeef }), port, '127.0.0.1');
  });
}

/** Sends raw bytes over UDP; resolves with the answer's bytes, or undefined when none comes within 2 s. */
function udpRaw(port: number, msg: Buffer): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, 2000);
    s.on('message', (buf) => {
      clearTimeout(timer);
      s.close();
      resolve(buf);
    });
    s.send(msg, port, '127.0.0.1');
  });
}

async function udp(port: number, q: Question, o: { edns?: number } = {}): Promise<DecodedPacket & { size: number }> {
  const raw = await udpRaw(port, query(q, o));
  assert.ok(raw, `UDP answer for ${q.name} ${q.type}`);
  return { ...packet.decode(raw), size: raw.length };
}

function tcp(port: number, q: Question): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    const msg = query(q);
    const sock = connect({ host: '127.0.0.1', port });
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no TCP answer for ${q.name}`));
    }, 3000);
    sock.on('connect', () => {
      const head = Buffer.alloc(2);
      head.writeUInt16BE(msg.length);
      sock.write(Buffer.concat([head, msg]));
    });
    sock.on('data', (c) => {
      data = Buffer.concat([data, c]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(packet.decode(data.subarray(2, 2 + data.readUInt16BE(0))));
      }
    });
    sock.on('error', reject);
  });
}

const rcodeOf = (p: DecodedPacket) =>
  ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'][(p.flags ?? 0) & 0xf];
const datas = (p: DecodedPacket) =>
  (p.answers ?? []).map((a) => `${a.type} ${JSON.stringify('data' in a ? a.data : '')}`);

function ns(name: string): Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: {}, annotations: {} } };
}
function service(nsName: string, name: string, spec: Partial<Service['spec']>): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: nsName, name, labels: {}, annotations: {} },
    spec: { type: 'ClusterIP', ports: [], sessionAffinity: 'None', ...spec },
  };
}
function slice(nsName: string, svc: string, ips: string[], ready = true): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: nsName,
      name: `${svc}-abc`,
      labels: { 'kubernetes.io/service-name': svc },
      annotations: {},
    },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready } })),
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
  };
}

class Dnsmasq {
  private child: ChildProcess | undefined;
  log = '';
  port = 0;
  private readonly dir = mkdtempSync(join(tmpdir(), 'weft-dnsmasq-'));

  async start(): Promise<void> {
    this.port = await freePort();
    const [program, ...args] = dnsmasqArgv(
      '127.0.0.1',
      this.port,
      `--pid-file=${join(this.dir, 'pid')}`,
      '--log-queries',
      '--log-facility=-',
      // Local records have TTL 0 by default, which no cache may keep.
      '--local-ttl=300',
      '--address=/up.example/192.0.2.10',
      '--address=/neg.example/',
      // No shell: the strings go unquoted (dnsmasq would keep quotes as part of them).
      `--txt-record=big.example,${BIG_TXT.join(',')}`,
    );
    this.child = spawn(program!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (c: Buffer) => (this.log += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.log += c.toString()));
    await waitFor(`dnsmasq on 127.0.0.1:${this.port} (log: ${this.log})`, async () =>
      (await udpRaw(this.port, query({ name: 'up.example', type: 'A' }))) ? true : undefined,
    );
  }

  /** How many queries of this type for this name dnsmasq has logged (UDP and TCP alike). */
  asked(name: string, type: string): number {
    const want = `query[${type}] ${name.toLowerCase()} from`;
    return this.log.split('\n').filter((l) => l.toLowerCase().includes(want.toLowerCase())).length;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('weft dns server', () => {
  const store = new FakeCluster();
  const upstream = new Dnsmasq();
  const log = new JsonLogger(() => undefined);
  let cache: ClusterCache;
  let server: RunningDnsServer;
  let port: number;
  const put = (...objects: K8sObject[]) => store.commit({ put: objects, delete: [] });

  before(async () => {
    await upstream.start();
    await put(
      ns('x'),
      ns('y'),
      service('y', 'web', {
        clusterIP: '10.96.0.20',
        ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
      }),
      service('y', 'db', { clusterIP: 'None' }),
      slice('y', 'db', ['10.244.1.7', '10.244.2.8']),
      service('y', 'many', { clusterIP: 'None' }),
      slice(
        'y',
        'many',
        Array.from({ length: 100 }, (_, i) => `10.244.3.${i + 1}`),
      ),
      service('y', 'ext', { type: 'ExternalName', externalName: 'www.up.example' }),
      service('y', 'dangling', { type: 'ExternalName', externalName: 'gone.neg.example' }),
    );
    cache = new ClusterCache({ source: store.source(), kinds: feedKinds('insecure'), clock: systemClock, log });
    await cache.start();
    server = await startDnsServer({
      host: '127.0.0.1',
      port: 0,
      zone: { zone: 'cluster.local', ttl: 5, pods: 'insecure' },
      cache,
      upstream: new UdpTcpUpstream({ servers: [{ host: '127.0.0.1', port: upstream.port }] }),
      cacheLimits: { maxEntries: 50, maxBytes: 1024 * 1024, maxTtl: 3600, maxNegativeTtl: 1800 },
      metrics: new PromMetrics(),
      metricsAddr: '127.0.0.1:0',
      clock: systemClock,
      log,
    });
    port = server.port;
  });

  after(async () => {
    await server?.close();
    await cache?.stop();
    await upstream.stop();
  });

  test('cluster names over UDP and TCP: A, headless, SRV, NXDOMAIN and NODATA with the SOA', async () => {
    for (const ask of [udp, tcp]) {
      const a = await ask(port, { name: 'web.y.svc.cluster.local', type: 'A' });
      assert.deepEqual(datas(a), ['A "10.96.0.20"']);
      assert.equal(a.flag_aa, true);
      const headless = await ask(port, { name: 'db.y.svc.cluster.local', type: 'A' });
      assert.deepEqual(datas(headless), ['A "10.244.1.7"', 'A "10.244.2.8"']);
      const srv = await ask(port, { name: '_http._tcp.web.y.svc.cluster.local', type: 'SRV' });
      assert.deepEqual(datas(srv), ['SRV {"priority":0,"weight":100,"port":80,"target":"web.y.svc.cluster.local"}']);
      const nx = await ask(port, { name: 'nope.y.svc.cluster.local', type: 'A' });
      assert.equal(rcodeOf(nx), 'NXDOMAIN');
      assert.deepEqual(
        nx.authorities?.map((r) => `${r.name} ${r.type}`),
        ['cluster.local SOA'],
      );
      const nodata = await ask(port, { name: 'web.y.svc.cluster.local', type: 'AAAA' });
      assert.equal(rcodeOf(nodata), 'NOERROR');
      assert.deepEqual(nodata.answers, []);
      assert.equal(nodata.authorities?.[0]?.type, 'SOA');
    }
  });

  test('a Service created, changed or deleted is answered from the cache at once', async () => {
    const name = 'late.x.svc.cluster.local';
    assert.equal(rcodeOf(await udp(port, { name, type: 'A' })), 'NXDOMAIN');
    await put(service('x', 'late', { clusterIP: 'None' }), slice('x', 'late', ['10.244.5.5']));
    await waitFor('the new Service resolves', async () => {
      const r = await udp(port, { name, type: 'A' });
      return datas(r).join() === 'A "10.244.5.5"' ? true : undefined;
    });
    await put(slice('x', 'late', ['10.244.5.5'], false));
    // A headless Service with no ready endpoint has no name (the DNS spec's 2.4.1).
    await waitFor('the not-ready endpoint leaves the answer', async () =>
      rcodeOf(await udp(port, { name, type: 'A' })) === 'NXDOMAIN' ? true : undefined,
    );
    await put(slice('x', 'late', ['10.244.5.5', '10.244.5.6']));
    await waitFor('ready endpoints come back', async () => {
      const r = await udp(port, { name, type: 'A' });
      return datas(r).join() === 'A "10.244.5.5",A "10.244.5.6"' ? true : undefined;
    });
    await store.commit({ put: [], delete: [{ kind: 'Service', namespace: 'x', name: 'late' }] });
    await waitFor('the deleted Service stops resolving', async () =>
      rcodeOf(await udp(port, { name, type: 'A' })) === 'NXDOMAIN' ? true : undefined,
    );
  });

  test('names outside the zone are forwarded once, then answered from the cache', async () => {
    const before = upstream.asked('up.example', 'A');
    const first = await udp(port, { name: 'up.example', type: 'A' });
    assert.deepEqual(datas(first), ['A "192.0.2.10"']);
    assert.equal(first.flag_aa, false);
    const second = await tcp(port, { name: 'UP.example', type: 'A' });
    assert.deepEqual(datas(second), ['A "192.0.2.10"']);
    assert.equal(upstream.asked('up.example', 'A'), before + 1, 'the upstream saw one query');
  });

  test('a negative answer without an SOA is not cached (RFC 2308)', async () => {
    const before = upstream.asked('gone.neg.example', 'A');
    assert.equal(rcodeOf(await udp(port, { name: 'gone.neg.example', type: 'A' })), 'NXDOMAIN');
    assert.equal(rcodeOf(await udp(port, { name: 'gone.neg.example', type: 'A' })), 'NXDOMAIN');
    assert.equal(upstream.asked('gone.neg.example', 'A'), before + 2);
  });

  test("a large upstream answer: weft asks again over TCP after TC; its client gets TC over UDP and the whole answer over TCP, from weft's cache", async () => {
    const small = await udp(port, { name: 'big.example', type: 'TXT' });
    assert.equal(small.flag_tc, true, 'truncated for a 512-byte client');
    assert.ok(small.size <= 512, `${small.size} bytes`);
    const asked = upstream.asked('big.example', 'TXT');
    assert.equal(asked, 2, 'weft asked over UDP, got TC, and asked again over TCP');
    const whole = await tcp(port, { name: 'big.example', type: 'TXT' });
    assert.equal(whole.flag_tc, false);
    const txt = whole.answers?.[0];
    assert.ok(txt?.type === 'TXT');
    assert.deepEqual(
      (txt.data as Buffer[]).map((b) => b.toString()),
      BIG_TXT,
    );
    const edns = await udp(port, { name: 'big.example', type: 'TXT' }, { edns: 4096 });
    assert.equal(edns.flag_tc, false, 'an EDNS0 client offering 4096 bytes gets it whole over UDP');
    assert.ok(edns.size > 1232);
    assert.equal(upstream.asked('big.example', 'TXT'), asked, 'both from the cache');
  });

  test('the upstream client passes a question to the next server when one does not answer', async () => {
    const dead = await freePort();
    const client = new UdpTcpUpstream({
      servers: [
        { host: '127.0.0.1', port: dead },
        { host: '127.0.0.1', port: upstream.port },
      ],
      timeoutMs: 300,
    });
    const r = await client.query({ name: 'fail.over.up.example', type: 'A' });
    assert.equal(r.server, `127.0.0.1:${upstream.port}`);
    assert.deepEqual(datas(r.packet), ['A "192.0.2.10"']);
    const none = new UdpTcpUpstream({ servers: [{ host: '127.0.0.1', port: dead }], timeoutMs: 300 });
    await assert.rejects(none.query({ name: 'up.example', type: 'A' }), (e: Error) =>
      e.message.includes(`ask upstream up.example A: 127.0.0.1:${dead}: no UDP answer within 300 ms`),
    );
  });

  test('a cluster answer over the UDP limit is truncated; TCP has all of it', async () => {
    const small = await udp(port, { name: 'many.y.svc.cluster.local', type: 'A' });
    assert.equal(small.flag_tc, true);
    assert.ok(small.size <= 512);
    const edns = await udp(port, { name: 'many.y.svc.cluster.local', type: 'A' }, { edns: 1232 });
    assert.ok(edns.size <= 1232, `${edns.size} bytes`);
    const whole = await tcp(port, { name: 'many.y.svc.cluster.local', type: 'A' });
    assert.equal(whole.flag_tc, false);
    assert.equal(whole.answers?.length, 100);
  });

  test('ExternalName: CNAME, and its target resolved upstream (NXDOMAIN when it does not exist)', async () => {
    const r = await udp(port, { name: 'ext.y.svc.cluster.local', type: 'A' });
    assert.deepEqual(datas(r), ['CNAME "www.up.example"', 'A "192.0.2.10"']);
    const dangling = await udp(port, { name: 'dangling.y.svc.cluster.local', type: 'A' });
    assert.deepEqual(datas(dangling), ['CNAME "gone.neg.example"']);
    assert.equal(rcodeOf(dangling), 'NXDOMAIN', "the rcode is the chain's last name's (RFC 6604)");
  });

  test('ANY is answered minimally (RFC 8482), in the zone and outside, and never forwarded', async () => {
    const before = upstream.asked('up.example', 'ANY');
    for (const name of ['web.y.svc.cluster.local', 'up.example']) {
      const r = await udp(port, { name, type: 'ANY' as Question['type'] });
      assert.deepEqual(datas(r), ['HINFO {"cpu":"RFC8482","os":""}'], name);
    }
    assert.equal(upstream.asked('up.example', 'ANY'), before);
  });

  test('malformed and hostile messages get FORMERR or nothing, and the server keeps answering', async () => {
    const garbage = Buffer.from('this is not a DNS message at all, just bytes');
    const formerr = await udpRaw(port, garbage);
    assert.ok(formerr);
    assert.equal(rcodeOf(packet.decode(formerr)), 'FORMERR');
    assert.equal(await udpDropped(port, Buffer.from([1, 2, 3])), undefined, 'shorter than a header: dropped');
    // A header that promises five questions and has none.
    const header = Buffer.from([0, 7, 1, 0, 0, 5, 0, 0, 0, 0, 0, 0]);
    assert.equal(rcodeOf(packet.decode((await udpRaw(port, header))!)), 'FORMERR');
    // A response is never answered (two servers must not loop).
    const response = packet.encode({ type: 'response', id: 9, flags: 0, questions: [{ name: 'a', type: 'A' }] });
    assert.equal(await udpDropped(port, response), undefined);
    // A name of 300 bytes: labels of 63 bytes, more than the 255 a name may have.
    const long = Buffer.concat([
      Buffer.from([0, 8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
      ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 97)])),
      Buffer.from([0, 0, 1, 0, 1]),
    ]);
    assert.equal(rcodeOf(packet.decode((await udpRaw(port, long))!)), 'FORMERR');
    // A compression pointer to itself.
    const loop = Buffer.concat([
      Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
      Buffer.from([0xc0, 12, 0, 1, 0, 1]),
    ]);
    assert.equal(rcodeOf(packet.decode((await udpRaw(port, loop))!)), 'FORMERR');
    // Garbage over TCP, then a real query on a new connection.
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => s.end(Buffer.from([0, 5, 1, 2, 3, 4, 5, 255, 255])));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    const ok = await tcp(port, { name: 'web.y.svc.cluster.local', type: 'A' });
    assert.deepEqual(datas(ok), ['A "10.96.0.20"']);
  });

  test('a flood of random names: the cache stays within its bound and other names keep resolving', async () => {
    const names = Array.from({ length: 300 }, (_, i) => `r${i}-${Math.random().toString(36).slice(2, 8)}.up.example`);
    for (let i = 0; i < names.length; i += 50)
      await Promise.all(names.slice(i, i + 50).map((name) => udp(port, { name, type: 'A' })));
    const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    const entries = Number(/^weft_dns_cache_entries (\d+)/m.exec(text)?.[1]);
    assert.ok(entries > 0 && entries <= 50, `${entries} entries`);
    assert.deepEqual(datas(await udp(port, { name: 'web.y.svc.cluster.local', type: 'A' })), ['A "10.96.0.20"']);
  });

  test('/metrics: queries by type, rcode and source; cache hits; upstream latency', async () => {
    const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    for (const want of [
      /^weft_dns_queries_total\{type="A",rcode="NOERROR",source="cluster"\} [1-9]/m,
      /^weft_dns_queries_total\{type="A",rcode="NXDOMAIN",source="cluster"\} [1-9]/m,
      /^weft_dns_queries_total\{type="A",rcode="NOERROR",source="cache"\} [1-9]/m,
      /^weft_dns_queries_total\{type="other",rcode="FORMERR",source="local"\} [1-9]/m,
      /^weft_dns_cache_hits_total [1-9]/m,
      /^weft_dns_upstream_seconds_count\{transport="udp"\} [1-9]/m,
      /^weft_dns_upstream_seconds_count\{transport="tcp"\} [1-9]/m,
      /^weft_dns_malformed_total [1-9]/m,
    ])
      assert.match(text, want);
  });
});

describe('weft dns as a process, over a lab-style SQLite store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-dns-cli-'));
  const storeFile = join(dir, 'objects.db');
  const upstream = new Dnsmasq();
  let store: SqliteObjectStore;
  let child: ChildProcess | undefined;
  let stderr = '';
  let port = 0;

  before(async () => {
    await upstream.start();
    store = new SqliteObjectStore(storeFile, systemClock);
    await store.commit({
      put: [
        ns('y'),
        service('y', 'web', { clusterIP: '10.96.0.20', ports: [{ protocol: 'TCP', port: 80, targetPort: 80 }] }),
      ],
      delete: [],
    });
    port = await freePort();
    child = spawn(
      process.execPath,
      [
        join(import.meta.dirname, '..', 'src', 'cli', 'main.js'),
        'dns',
        '--objects-file',
        storeFile,
        '--listen',
        `127.0.0.1:${port}`,
        '--upstream',
        `127.0.0.1:${upstream.port}`,
        '--zone',
        'k8s.test',
        '--ttl',
        '30',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    await waitFor(`weft dns on 127.0.0.1:${port} (stderr: ${stderr})`, async () =>
      (await udpRaw(port, query({ name: 'web.y.svc.k8s.test', type: 'A' }))) ? true : undefined,
    );
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await store?.close();
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('answers its zone with its TTL, follows the store, forwards the rest', async () => {
    const a = await udp(port, { name: 'web.y.svc.k8s.test', type: 'A' });
    assert.deepEqual(
      a.answers?.map((r) => `${r.name} ${'ttl' in r ? r.ttl : ''} ${'data' in r ? String(r.data) : ''}`),
      ['web.y.svc.k8s.test 30 10.96.0.20'],
    );
    assert.equal(
      rcodeOf(await udp(port, { name: 'web.y.svc.cluster.local', type: 'A' })),
      'REFUSED',
      'not its zone: dnsmasq has no answer for it',
    );
    await store.commit({
      put: [service('y', 'api', { clusterIP: '10.96.0.21', ports: [{ protocol: 'TCP', port: 80, targetPort: 80 }] })],
      delete: [],
    });
    await waitFor('the new Service resolves through the store watch', async () =>
      datas(await udp(port, { name: 'api.y.svc.k8s.test', type: 'A' })).join() === 'A "10.96.0.21"' ? true : undefined,
    );
    assert.deepEqual(datas(await tcp(port, { name: 'up.example', type: 'A' })), ['A "192.0.2.10"']);
  });

  test('bad flags are refused with the flag and the reason', async () => {
    for (const [args, reason] of [
      [['--upstream', 'dns.example'], '--upstream "dns.example": not an IP address'],
      [['--pods', 'maybe'], '--pods "maybe": must be insecure, verified or disabled'],
      [['--listen', 'nowhere'], '--listen "nowhere": expected HOST:PORT'],
      [['--ttl', '-1'], '--ttl "-1": must be a whole number'],
    ] as Array<[string[], string]>) {
      const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
        const c = spawn(
          process.execPath,
          [join(import.meta.dirname, '..', 'src', 'cli', 'main.js'), 'dns', '--objects-file', storeFile, ...args],
          {
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        let err = '';
        c.stderr.on('data', (d: Buffer) => (err += d.toString()));
        c.on('exit', (code) => resolve({ code, err }));
      });
      assert.equal(r.code, 1, args.join(' '));
      assert.ok(r.err.includes(reason), `${args.join(' ')}: ${r.err}`);
    }
  });
});
