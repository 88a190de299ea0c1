// The DNS server's message handler against a fake upstream: cache lifetimes by the clock, one
// upstream query per name at a time, the in-flight bound, failures, and what is never forwarded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as packet from 'dns-packet';
import type { Answer, DecodedPacket, Question } from 'dns-packet';
import { FakeClock } from '../testkit/clock-fake.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { PromMetrics } from '../adapters/metrics-prom.js';
import { ClusterIndex } from '../core/dns/cluster-index.js';
import { ResponseCache } from '../core/dns/response-cache.js';
import type { DnsUpstream, UpstreamReply } from '../ports/dns-upstream.js';
import type { Service } from '../core/k8s/objects.js';
import { DnsResolver, type CachedAnswer } from './resolver.js';

/** An upstream whose answers the test releases by hand; it records every question asked. */
class FakeUpstream implements DnsUpstream {
  readonly asked: string[] = [];
  private readonly waiting: Array<{ q: Question; release: (r: UpstreamReply) => void; fail: (e: Error) => void }> = [];
  query(q: Question): Promise<UpstreamReply> {
    this.asked.push(`${q.name} ${q.type}`);
    return new Promise((release, fail) => this.waiting.push({ q, release, fail }));
  }
  /** Answers every waiting question with `answers` (TTL `ttl`) or fails them. */
  answerAll(o: { ttl?: number; fail?: boolean; rcode?: number }): void {
    for (const w of this.waiting.splice(0)) {
      if (o.fail) {
        w.fail(new Error('timed out'));
        continue;
      }
      const answers: Answer[] =
        o.rcode === undefined ? [{ name: w.q.name, type: 'A', class: 'IN', ttl: o.ttl ?? 60, data: '192.0.2.1' }] : [];
      const p = {
        type: 'response',
        id: 1,
        flags: o.rcode ?? 0,
        flag_tc: false,
        questions: [w.q],
        answers,
        authorities: [],
        additionals: [],
      } as unknown as DecodedPacket;
      w.release({ packet: p, bytes: 64, transport: 'udp', server: 'fake' });
    }
  }
  get pending(): number {
    return this.waiting.length;
  }
  close(): void {}
}

function setup(o: { upstream?: boolean; maxInFlight?: number } = {}) {
  const clock = new FakeClock();
  const upstream = new FakeUpstream();
  const metrics = new PromMetrics();
  const resolver = new DnsResolver({
    zone: { zone: 'cluster.local', ttl: 5, pods: 'insecure' },
    source: { index: new ClusterIndex('cluster.local'), context: () => ({ serial: 1 }) },
    upstream: o.upstream === false ? undefined : upstream,
    cache: new ResponseCache<CachedAnswer>(),
    metrics,
    clock,
    log: new JsonLogger(() => undefined),
    ...(o.maxInFlight === undefined ? {} : { maxInFlight: o.maxInFlight }),
  });
  const ask = async (name: string, type = 'A') => {
    const raw = await resolver.handle(
      packet.encode({
        type: 'query',
        id: 7,
        flags: packet.RECURSION_DESIRED,
        questions: [{ name, type: type as Question['type'] }],
      }),
      'udp',
    );
    assert.ok(raw);
    const p = packet.decode(raw);
    const rcode = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'][(p.flags ?? 0) & 0xf];
    return { p, rcode, ttls: (p.answers ?? []).map((a) => ('ttl' in a ? a.ttl : undefined)) };
  };
  const settle = () => new Promise<void>((r) => setImmediate(r));
  return { clock, upstream, resolver, ask, settle, metrics };
}

test('a cached answer is served with its TTL lowered by its age, and asked again once it expires', async () => {
  const { clock, upstream, ask, settle } = setup();
  const first = ask('a.example');
  await settle();
  upstream.answerAll({ ttl: 60 });
  assert.deepEqual((await first).ttls, [60]);
  await clock.advance(20_000);
  assert.deepEqual((await ask('a.example')).ttls, [40]);
  assert.deepEqual(upstream.asked, ['a.example A']);
  await clock.advance(40_000);
  const again = ask('a.example');
  await settle();
  assert.deepEqual(upstream.asked, ['a.example A', 'a.example A'], 'expired: asked again');
  upstream.answerAll({ ttl: 60 });
  await again;
});

test('many clients asking one name at once cause one upstream query', async () => {
  const { upstream, ask, settle } = setup();
  const all = Array.from({ length: 20 }, () => ask('b.example'));
  await settle();
  assert.equal(upstream.pending, 1);
  upstream.answerAll({});
  for (const r of await Promise.all(all)) assert.equal(r.rcode, 'NOERROR');
  assert.deepEqual(upstream.asked, ['b.example A']);
});

test('beyond maxInFlight names under way, new names get SERVFAIL at once', async () => {
  const { upstream, ask, settle } = setup({ maxInFlight: 3 });
  const held = ['c1', 'c2', 'c3'].map((n) => ask(`${n}.example`));
  await settle();
  assert.equal((await ask('c4.example')).rcode, 'SERVFAIL');
  assert.equal(upstream.pending, 3);
  upstream.answerAll({});
  await Promise.all(held);
  const after = ask('c4.example');
  await settle();
  upstream.answerAll({});
  assert.equal((await after).rcode, 'NOERROR', 'room again once they are answered');
});

test('an upstream failure is SERVFAIL and is not cached; SERVFAIL from upstream is passed on, not cached', async () => {
  const { upstream, ask, settle } = setup();
  const failed = ask('d.example');
  await settle();
  upstream.answerAll({ fail: true });
  assert.equal((await failed).rcode, 'SERVFAIL');
  const servfail = ask('d.example');
  await settle();
  upstream.answerAll({ rcode: 2 });
  assert.equal((await servfail).rcode, 'SERVFAIL');
  const third = ask('d.example');
  await settle();
  assert.equal(upstream.pending, 1, 'asked again: nothing was cached');
  upstream.answerAll({});
  assert.equal((await third).rcode, 'NOERROR');
});

test('without upstreams, names outside the zone are refused; the zone is still answered', async () => {
  const { ask } = setup({ upstream: false });
  assert.equal((await ask('e.example')).rcode, 'REFUSED');
  assert.equal((await ask('svc.cluster.local')).rcode, 'NOERROR');
});

test('messages the server does not take: NOTIMP for another opcode, FORMERR for two questions', async () => {
  const { resolver } = setup();
  const notify = packet.encode({
    type: 'query',
    id: 3,
    flags: 4 << 11,
    questions: [{ name: 'a.example', type: 'SOA' }],
  });
  const two = packet.encode({
    type: 'query',
    id: 4,
    questions: [
      { name: 'a.example', type: 'A' },
      { name: 'b.example', type: 'A' },
    ],
  });
  for (const [msg, want] of [
    [notify, 4],
    [two, 1],
  ] as const) {
    const p = packet.decode((await resolver.handle(msg, 'udp'))!);
    assert.equal((p.flags ?? 0) & 0xf, want);
    assert.equal(p.id, msg.readUInt16BE(0));
  }
});

test('an EDNS version other than 0 is answered BADVERS (RFC 6891), with our OPT', async () => {
  const { resolver } = setup();
  const msg = packet.encode({
    type: 'query',
    id: 5,
    questions: [{ name: 'svc.cluster.local', type: 'A' }],
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 1232,
        extendedRcode: 0,
        ednsVersion: 1,
        flags: 0,
        flag_do: false,
        options: [],
      },
    ],
  });
  const p = packet.decode((await resolver.handle(msg, 'udp'))!);
  const opt = p.additionals?.find((a) => a.type === 'OPT');
  assert.ok(opt && opt.type === 'OPT');
  assert.equal((opt.extendedRcode << 4) | ((p.flags ?? 0) & 0xf), 16);
  assert.deepEqual(p.answers, []);
});

test('encoded cluster answers are reused until the zone changes; the id and the asked case are each query own', async () => {
  const index = new ClusterIndex('cluster.local');
  index.setNamespace('y', true);
  let podsOfX: string[] = [];
  const resolver = new DnsResolver({
    zone: { zone: 'cluster.local', ttl: 5, pods: 'verified' },
    source: { index, context: () => ({ serial: 1, podNamespaces: () => podsOfX }) },
    upstream: undefined,
    cache: new ResponseCache<CachedAnswer>(),
    metrics: new PromMetrics(),
    clock: new FakeClock(),
    log: new JsonLogger(() => undefined),
  });
  const svc = (ip: string): Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'y', name: 'web', labels: {}, annotations: {} },
    spec: { type: 'ClusterIP', clusterIP: ip, ports: [], sessionAffinity: 'None' },
  });
  let id = 100;
  const ask = async (name: string) => {
    const p = packet.decode(
      (await resolver.handle(packet.encode({ type: 'query', id: ++id, questions: [{ name, type: 'A' }] }), 'udp'))!,
    );
    assert.equal(p.id, id);
    return (p.answers ?? []).map((a) => `${a.name} ${'data' in a ? String(a.data) : ''}`);
  };
  index.setService('y', 'web', svc('10.96.0.1'), []);
  assert.deepEqual(await ask('web.y.svc.cluster.local'), ['web.y.svc.cluster.local 10.96.0.1']);
  assert.deepEqual(await ask('web.y.svc.cluster.local'), ['web.y.svc.cluster.local 10.96.0.1']);
  assert.deepEqual(await ask('WEB.y.svc.cluster.local'), ['WEB.y.svc.cluster.local 10.96.0.1']);
  index.setService('y', 'web', svc('10.96.0.2'), []);
  assert.deepEqual(
    await ask('web.y.svc.cluster.local'),
    ['web.y.svc.cluster.local 10.96.0.2'],
    'a change is seen at once',
  );
  // "verified" pod names depend on the pods, not the index: never reused.
  assert.deepEqual(await ask('10-244-1-5.y.pod.cluster.local'), []);
  podsOfX = ['y'];
  assert.deepEqual(await ask('10-244-1-5.y.pod.cluster.local'), ['10-244-1-5.y.pod.cluster.local 10.244.1.5']);
});

test('a repeated query is answered at once from its bytes, per transport and EDNS0 size, and counted each time', async () => {
  const index = new ClusterIndex('cluster.local');
  index.setNamespace('y', true);
  const metrics = new PromMetrics();
  const resolver = new DnsResolver({
    zone: { zone: 'cluster.local', ttl: 5, pods: 'insecure' },
    source: { index, context: () => ({ serial: 1 }) },
    upstream: undefined,
    cache: new ResponseCache<CachedAnswer>(),
    metrics,
    clock: new FakeClock(),
    log: new JsonLogger(() => undefined),
  });
  // A headless Service of 100 ready endpoints: 1.6 KB of A records, over 512 bytes.
  index.setService(
    'y',
    'many',
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'y', name: 'many', labels: {}, annotations: {} },
      spec: { type: 'ClusterIP', clusterIP: 'None', ports: [], sessionAffinity: 'None' },
    },
    [
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { namespace: 'y', name: 'many-1', labels: { 'kubernetes.io/service-name': 'many' }, annotations: {} },
        addressType: 'IPv4',
        endpoints: Array.from({ length: 100 }, (_, i) => ({
          addresses: [`10.244.3.${i + 1}`],
          conditions: { ready: true },
        })),
        ports: [],
      },
    ],
  );
  const query = (edns?: number) =>
    packet.encode({
      type: 'query',
      id: 9,
      flags: packet.RECURSION_DESIRED,
      questions: [{ name: 'many.y.svc.cluster.local', type: 'A' }],
      ...(edns === undefined
        ? {}
        : {
            additionals: [
              {
                type: 'OPT',
                name: '.',
                udpPayloadSize: edns,
                extendedRcode: 0,
                ednsVersion: 0,
                flags: 0,
                flag_do: false,
                options: [],
              },
            ],
          }),
    });
  // Each A record takes 40 bytes (dns-packet writes every name whole): 11 fit in 512 bytes beside
  // the header and question, 29 in 1232 with the OPT record.
  const cases: Array<{ name: string; transport: 'udp' | 'tcp'; edns?: number; answers: number; tc: boolean }> = [
    { name: 'UDP without EDNS0: cut to 512 bytes', transport: 'udp', answers: 11, tc: true },
    { name: 'TCP, the same bytes: whole', transport: 'tcp', answers: 100, tc: false },
    { name: 'UDP with EDNS0 1232: cut to 1232 bytes', transport: 'udp', edns: 1232, answers: 29, tc: true },
    { name: 'UDP with EDNS0 4096: whole', transport: 'udp', edns: 4096, answers: 100, tc: false },
  ];
  for (const round of ['made', 'reused']) {
    for (const c of cases) {
      const out = resolver.handle(query(c.edns), c.transport);
      // The second time round the answer is known: it comes back at once, not as a promise.
      assert.equal(out instanceof Promise, round === 'made', `${c.name} (${round})`);
      const p = packet.decode((await out)!);
      assert.equal(p.answers?.length, c.answers, `${c.name} (${round})`);
      assert.equal(p.flag_tc, c.tc, `${c.name} (${round})`);
    }
  }
  // The reused answers are counted when the counts are flushed (at a scrape), all of them.
  assert.match((await metrics.render()).text, /weft_dns_queries_total\{type="A",rcode="NOERROR",source="cluster"\} 4/);
  resolver.flushCounts();
  assert.match((await metrics.render()).text, /weft_dns_queries_total\{type="A",rcode="NOERROR",source="cluster"\} 8/);
  resolver.flushCounts();
  assert.match((await metrics.render()).text, /weft_dns_queries_total\{type="A",rcode="NOERROR",source="cluster"\} 8/);
  // A change of the zone drops the encoded answers, and counts what they had answered first.
  assert.ok(!(resolver.handle(query(), 'udp') instanceof Promise));
  index.setNamespace('z', true);
  const anew = resolver.handle(query(), 'udp');
  assert.ok(anew instanceof Promise, 'answered anew after the change');
  await anew;
  assert.match((await metrics.render()).text, /weft_dns_queries_total\{type="A",rcode="NOERROR",source="cluster"\} 10/);
});

test('encoded cluster answers stay within their bounds of entries and bytes: beyond either, all are dropped', async () => {
  const index = new ClusterIndex('cluster.local');
  index.setNamespace('y', true);
  const resolverWith = (wireLimits: { maxEntries: number; maxBytes: number }) =>
    new DnsResolver({
      zone: { zone: 'cluster.local', ttl: 5, pods: 'insecure' },
      source: { index, context: () => ({ serial: 1 }) },
      upstream: undefined,
      cache: new ResponseCache<CachedAnswer>(),
      metrics: new PromMetrics(),
      clock: new FakeClock(),
      log: new JsonLogger(() => undefined),
      wireLimits,
    });
  const query = (name: string) =>
    packet.encode({ type: 'query', id: 1, questions: [{ name: `${name}.y.svc.cluster.local`, type: 'A' }] });
  /** After asking a, b and c in turn: which of them are answered from a kept encoding (at once, not a promise)? */
  const kept = async (limits: { maxEntries: number; maxBytes: number }) => {
    const out: string[] = [];
    // One resolver per name probed: probing a name that was dropped keeps it, and would change the others.
    for (const probe of ['a', 'b', 'c']) {
      const r = resolverWith(limits);
      for (const n of ['a', 'b', 'c']) await r.handle(query(n), 'udp');
      const a = r.handle(query(probe), 'udp');
      if (!(a instanceof Promise)) out.push(probe);
      await a;
    }
    return out;
  };
  // NXDOMAIN answers with the SOA: about 100 bytes each, with a 40-byte key.
  const cases = [
    { name: 'room for all three', limits: { maxEntries: 3, maxBytes: 1 << 20 }, kept: ['a', 'b', 'c'] },
    { name: 'two entries: the third drops both', limits: { maxEntries: 2, maxBytes: 1 << 20 }, kept: ['c'] },
    { name: 'bytes for one: each drops the one before', limits: { maxEntries: 100, maxBytes: 200 }, kept: ['c'] },
  ];
  for (const c of cases) assert.deepEqual(await kept(c.limits), c.kept, c.name);
});
