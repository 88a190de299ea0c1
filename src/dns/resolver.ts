/**
 * The DNS server's message handler: one wire message in, one wire message (or nothing) out.
 * It decodes with dns-packet, lets the core decide (query-policy.ts: take, refuse or drop;
 * cluster-answer.ts: the cluster zone's answer), forwards everything else through the bounded
 * cache (response-cache.ts) to the upstreams, and cuts the answer to the client's size.
 *
 * - Malformed input never throws out: an undecodable message with a readable header gets
 *   FORMERR (with its id), shorter ones and responses are dropped.
 * - Forwarding: one upstream query per name at a time (later askers wait for the same answer),
 *   and at most `maxInFlight` names under way; beyond that SERVFAIL at once, so a flood of random
 *   names costs bounded memory (the cache has its own bounds).
 * - ANY outside the zone is answered here per RFC 8482 (a synthesized HINFO), never forwarded.
 * - EDNS0: the answer carries our OPT when the query had one; UDP answers are cut to the
 *   client's size (512 without EDNS0), TCP answers to 65,535 bytes.
 * - Cluster answers are kept encoded until the zone's index changes, keyed by the transport and
 *   the query's bytes after its id (everything the answer depends on: flags, question and its
 *   case, EDNS0 size), so a repeated query costs a map lookup and a copy, with no decoding and no
 *   promise: `handle` answers it synchronously. Their SOA serial is the revision they were made at.
 *   Such answers are counted on their entry and added to the queries counter in one step
 *   (`flushCounts`: at each metrics scrape, and before the entries are dropped); prom-client's
 *   labelled increment was a tenth of the server's own time per query.
 */

import * as packet from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer, Packet, Question } from 'dns-packet';
import type { ClusterIndex } from '../core/dns/cluster-index.js';
import { answerCluster, type AnswerContext, type ClusterZoneConfig } from '../core/dns/cluster-answer.js';
import {
  checkQuery,
  EDNS_UDP_PAYLOAD,
  fitToLimit,
  MAX_TCP_MESSAGE,
  typeLabel,
  udpLimit,
  type Sections,
} from '../core/dns/query-policy.js';
import { cacheTtl, ResponseCache } from '../core/dns/response-cache.js';
import type { DnsRecord, Rcode } from '../core/dns/records.js';
import { normalizeName } from '../core/dns/dns-names.js';
import {
  DNS_CACHE_BYTES,
  DNS_CACHE_ENTRIES,
  DNS_CACHE_HITS,
  DNS_CACHE_MISSES,
  DNS_MALFORMED,
  DNS_QUERIES,
  DNS_UPSTREAM_ERRORS,
  DNS_UPSTREAM_SECONDS,
} from '../core/dns/metrics.js';
import type { DnsUpstream } from '../ports/dns-upstream.js';
import type { Metrics } from '../ports/metrics.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';

const RCODE: Record<Rcode, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const RCODE_NAMES: readonly string[] = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const rcodeName = (n: number): string => RCODE_NAMES[n] ?? `RCODE_${n}`;
const OPCODE_MASK = 0x7800;
/** BADVERS is rcode 16: the OPT record's extended rcode carries its upper eight bits (16 >> 4). */
const BADVERS_HIGH_BITS = 1;
const QR = 0x8000;

/** What the cluster zone is answered from, read at each query. */
export interface ZoneSource {
  index: ClusterIndex;
  context(): AnswerContext;
}

export interface ResolverOptions {
  zone: ClusterZoneConfig;
  source: ZoneSource;
  /** undefined: names outside the zone are refused. */
  upstream: DnsUpstream | undefined;
  cache: ResponseCache<CachedAnswer>;
  metrics: Metrics;
  clock: Clock;
  log: Logger;
  /** Most names being asked upstream at once (default 1000). */
  maxInFlight?: number;
  /** Bounds of the encoded cluster answers (default DEFAULT_WIRE_LIMITS). */
  wireLimits?: { maxEntries: number; maxBytes: number };
}

/** An upstream answer as the cache keeps it (without the OPT record). */
export interface CachedAnswer {
  rcode: number;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

interface Reply {
  /** The cluster zone's answer holds until the index changes (see ClusterResult.cacheable). */
  cacheable?: boolean;
  rcode: number;
  authoritative: boolean;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
  source: 'cluster' | 'cache' | 'upstream' | 'local';
}

function toAnswers(records: readonly DnsRecord[]): Answer[] {
  return records.map((r) => ({ ...r, class: 'IN' }) as Answer);
}

/** The records with their TTLs lowered by `age` seconds (never below 0). */
function aged(records: readonly Answer[], age: number): Answer[] {
  if (age === 0) return [...records];
  return records.map((r) => ('ttl' in r && r.ttl !== undefined ? { ...r, ttl: Math.max(0, r.ttl - age) } : r));
}

/**
 * Bounds of the encoded cluster answers kept between two changes of the zone; when either would
 * be passed, all are dropped. Entries: a cluster's names asked by search path (A, AAAA, SRV, the
 * NXDOMAINs of the other suffixes) are several times its Services, and at 10,000 entries a client
 * cycling through 20,000 questions missed every time (half the queries per second). Bytes (keys
 * and answers): one headless Service's TCP answer can be 40 KB, and every case variant of its
 * name (DNS 0x20) is a key of its own.
 */
export const DEFAULT_WIRE_LIMITS = { maxEntries: 100_000, maxBytes: 32 * 1024 * 1024 };
/** Longest query whose bytes key an encoded answer (a plain query is far shorter; longer ones are decoded). */
const MAX_WIRE_KEY_BYTES = 512;

/** An encoded cluster answer, the labels its queries are counted with, and how many are not counted yet. */
interface WireAnswer {
  buf: Buffer;
  labels: { type: string; rcode: string; source: 'cluster' };
  uncounted: number;
}

export class DnsResolver {
  /**
   * Encoded cluster answers by transport and query bytes (after the id), valid while the index
   * version is `wireVersion`: the same query decodes nothing, asks no index and encodes nothing
   * until the zone changes.
   */
  private readonly wire = { udp: new Map<string, WireAnswer>(), tcp: new Map<string, WireAnswer>() };
  private wireVersion = -1;
  /** Bytes of the keys and answers in `wire`. */
  private wireBytes = 0;
  /** The entries whose `uncounted` is above 0. */
  private readonly uncounted: WireAnswer[] = [];
  private readonly inFlight = new Map<string, Promise<CachedAnswer | undefined>>();
  private readonly queries;
  private readonly hits;
  private readonly misses;
  private readonly upstreamSeconds;
  private readonly upstreamErrors;
  private readonly malformed;
  private readonly cacheEntries;
  private readonly cacheBytes;

  constructor(private readonly o: ResolverOptions) {
    this.queries = o.metrics.counter(DNS_QUERIES);
    this.hits = o.metrics.counter(DNS_CACHE_HITS);
    this.misses = o.metrics.counter(DNS_CACHE_MISSES);
    this.upstreamSeconds = o.metrics.histogram(DNS_UPSTREAM_SECONDS);
    this.upstreamErrors = o.metrics.counter(DNS_UPSTREAM_ERRORS);
    this.malformed = o.metrics.counter(DNS_MALFORMED);
    this.cacheEntries = o.metrics.gauge(DNS_CACHE_ENTRIES);
    this.cacheBytes = o.metrics.gauge(DNS_CACHE_BYTES);
  }

  /**
   * Answers one message; undefined when nothing must be sent back. A query answered before (the
   * same bytes after the id, the zone unchanged) is answered at once, without a promise; others
   * through the returned promise. Never throws, never rejects.
   */
  handle(raw: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined | Promise<Buffer | undefined> {
    const index = this.o.source.index;
    if (this.wireVersion !== index.version) {
      this.clearWire();
      this.wireVersion = index.version;
    }
    const wireKey = raw.length >= 12 && raw.length <= MAX_WIRE_KEY_BYTES ? raw.toString('latin1', 2) : undefined;
    const hit = wireKey === undefined ? undefined : this.wire[transport].get(wireKey);
    if (hit) {
      const out = Buffer.allocUnsafe(hit.buf.length);
      hit.buf.copy(out);
      out[0] = raw[0]!;
      out[1] = raw[1]!;
      if (hit.uncounted++ === 0) this.uncounted.push(hit);
      return out;
    }
    return this.decodeAndAnswer(raw, transport, wireKey);
  }

  /** Adds the queries answered from encoded answers since the last call to the queries counter. */
  flushCounts(): void {
    for (const e of this.uncounted) {
      this.queries.inc(e.labels, e.uncounted);
      e.uncounted = 0;
    }
    this.uncounted.length = 0;
  }

  private clearWire(): void {
    this.flushCounts();
    this.wire.udp.clear();
    this.wire.tcp.clear();
    this.wireBytes = 0;
  }

  private async decodeAndAnswer(
    raw: Buffer,
    transport: 'udp' | 'tcp',
    wireKey: string | undefined,
  ): Promise<Buffer | undefined> {
    let q: DecodedPacket;
    try {
      q = packet.decode(raw);
    } catch {
      this.malformed.inc();
      return this.formErr(raw);
    }
    const flags = q.flags ?? 0;
    const opt = q.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
    const verdict = checkQuery({
      isResponse: q.type === 'response',
      opcode: (flags & OPCODE_MASK) >> 11 === 0 ? 'QUERY' : `OPCODE_${(flags & OPCODE_MASK) >> 11}`,
      questions: q.questions ?? [],
    });
    if (verdict.kind === 'drop') return undefined;
    if (opt && opt.ednsVersion !== 0) {
      // RFC 6891 §6.1.3: an EDNS version we do not speak is answered BADVERS (extended rcode 16).
      this.queries.inc({ type: 'other', rcode: 'BADVERS', source: 'local' });
      return this.encode(q, { ...this.empty(RCODE.NOERROR), source: 'local' }, opt, transport, BADVERS_HIGH_BITS);
    }
    let reply: Reply;
    let type = 'other';
    // The version the answer is made at: it is kept only if the zone has not moved meanwhile.
    const version = this.wireVersion;
    if (verdict.kind === 'reply') {
      reply = { ...this.empty(RCODE[verdict.rcode]), source: 'local' };
    } else {
      type = typeLabel(verdict.question.type);
      try {
        reply = await this.answer(verdict.question);
      } catch (err) {
        this.o.log.error('dns: answer failed', { error: (err as Error).message, name: verdict.question.name });
        reply = { ...this.empty(RCODE.SERVFAIL), source: 'local' };
      }
    }
    this.queries.inc({ type, rcode: rcodeName(reply.rcode), source: reply.source });
    try {
      const buf = this.encode(q, reply, opt, transport);
      if (
        reply.cacheable &&
        wireKey !== undefined &&
        this.o.source.index.version === version &&
        this.wireVersion === version
      ) {
        const limits = this.o.wireLimits ?? DEFAULT_WIRE_LIMITS;
        const bytes = wireKey.length + buf.length;
        if (this.wire.udp.size + this.wire.tcp.size >= limits.maxEntries || this.wireBytes + bytes > limits.maxBytes)
          this.clearWire();
        this.wireBytes += bytes;
        this.wire[transport].set(wireKey, {
          buf,
          labels: { type, rcode: rcodeName(reply.rcode), source: 'cluster' },
          uncounted: 0,
        });
      }
      return buf;
    } catch (err) {
      this.o.log.error('dns: encode answer failed', { error: (err as Error).message });
      return this.encode(q, { ...this.empty(RCODE.SERVFAIL), source: 'local' }, opt, transport);
    }
  }

  private empty(rcode: number): Omit<Reply, 'source'> {
    return { rcode, authoritative: false, answers: [], authorities: [], additionals: [] };
  }

  private async answer(question: { name: string; type: string; class: string }): Promise<Reply> {
    const ctx = this.o.source.context();
    const cluster = answerCluster(this.o.source.index, question, this.o.zone, ctx);
    if (cluster) {
      const a = cluster.answer;
      const reply: Reply = {
        rcode: RCODE[a.rcode],
        authoritative: a.authoritative,
        answers: toAnswers(a.answers),
        authorities: toAnswers(a.authorities),
        additionals: toAnswers(a.additionals),
        source: 'cluster',
        cacheable: cluster.cacheable,
      };
      if (cluster.chase !== undefined) {
        // An ExternalName's target outside the zone: resolve it as CoreDNS does, appending its records.
        // The rcode is the last name's (RFC 6604 §3): NXDOMAIN when the target does not exist.
        const target = await this.forward({ name: cluster.chase, type: question.type, class: question.class });
        const t = target?.answer;
        if (t && (t.rcode === RCODE.NOERROR || t.rcode === RCODE.NXDOMAIN)) {
          reply.rcode = t.rcode;
          reply.answers.push(...t.answers);
          reply.authorities = t.authorities;
        }
      }
      return reply;
    }
    if (question.type === 'ANY') {
      const hinfo = {
        name: question.name,
        type: 'HINFO',
        class: 'IN',
        ttl: this.o.zone.ttl,
        data: { cpu: 'RFC8482', os: '' },
      };
      return { ...this.empty(RCODE.NOERROR), answers: [hinfo as Answer], source: 'local' };
    }
    if (!this.o.upstream) return { ...this.empty(RCODE.REFUSED), source: 'local' };
    const got = await this.forward(question);
    if (!got) return { ...this.empty(RCODE.SERVFAIL), source: 'local' };
    return { ...got.answer, authoritative: false, source: got.source };
  }

  /**
   * The answer for a question outside the zone: from the cache (TTLs lowered by its age), else
   * from the upstream (through the in-flight table); undefined when none came.
   */
  private async forward(question: {
    name: string;
    type: string;
    class: string;
  }): Promise<{ answer: CachedAnswer; source: 'cache' | 'upstream' } | undefined> {
    const key = `${normalizeName(question.name)}|${question.type}|${question.class}`;
    const hit = this.o.cache.get(key, this.o.clock.now());
    if (hit) {
      this.hits.inc();
      const v = hit.value;
      const answer: CachedAnswer = {
        rcode: v.rcode,
        answers: aged(v.answers, hit.ageSeconds),
        authorities: aged(v.authorities, hit.ageSeconds),
        additionals: aged(v.additionals, hit.ageSeconds),
      };
      return { answer, source: 'cache' };
    }
    const answer = await this.ask(key, question);
    return answer && { answer, source: 'upstream' };
  }

  /** Asks the upstream, one query per key at a time; caches what may be cached. */
  private ask(key: string, question: { name: string; type: string; class: string }): Promise<CachedAnswer | undefined> {
    const upstream = this.o.upstream;
    if (!upstream) return Promise.resolve(undefined);
    this.misses.inc();
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    if (this.inFlight.size >= (this.o.maxInFlight ?? 1000)) {
      this.upstreamErrors.inc();
      return Promise.resolve(undefined);
    }
    const started = this.o.clock.now();
    const p = upstream
      .query({ name: question.name, type: question.type, class: question.class } as Question)
      .then(
        (r) => {
          this.upstreamSeconds.observe((this.o.clock.now() - started) / 1000, { transport: r.transport });
          const flags = r.packet.flags ?? 0;
          const value: CachedAnswer = {
            rcode: flags & 0xf,
            answers: r.packet.answers ?? [],
            authorities: r.packet.authorities ?? [],
            additionals: (r.packet.additionals ?? []).filter((a) => a.type !== 'OPT'),
          };
          const ttl = cacheTtl({
            rcode: rcodeName(value.rcode),
            truncated: r.packet.flag_tc,
            answers: value.answers,
            authorities: value.authorities,
          });
          if (ttl !== undefined) {
            this.o.cache.set(key, value, ttl, r.bytes, this.o.clock.now());
            this.cacheEntries.set(this.o.cache.size);
            this.cacheBytes.set(this.o.cache.bytes);
          }
          return value;
        },
        (err: unknown) => {
          this.upstreamErrors.inc();
          this.o.log.warn('dns: upstream failed', { error: (err as Error).message });
          return undefined;
        },
      )
      .finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  private encode(
    q: DecodedPacket,
    reply: Reply,
    opt: OptAnswer | undefined,
    transport: 'udp' | 'tcp',
    extendedRcode = 0,
  ): Buffer {
    const flags =
      QR |
      ((q.flags ?? 0) & OPCODE_MASK) |
      ((q.flags ?? 0) & packet.RECURSION_DESIRED) |
      ((q.flags ?? 0) & packet.CHECKING_DISABLED) |
      packet.RECURSION_AVAILABLE |
      (reply.authoritative ? packet.AUTHORITATIVE_ANSWER : 0) |
      reply.rcode;
    const ours: Answer[] = opt
      ? [
          {
            type: 'OPT',
            name: '.',
            udpPayloadSize: EDNS_UDP_PAYLOAD,
            extendedRcode,
            ednsVersion: 0,
            flags: 0,
            flag_do: false,
            options: [],
          },
        ]
      : [];
    const base: Packet = { type: 'response', id: q.id ?? 0, questions: q.questions ?? [] };
    const limit = transport === 'udp' ? udpLimit(opt?.udpPayloadSize) : MAX_TCP_MESSAGE;
    const sections: Sections<Answer> = {
      answers: reply.answers,
      authorities: reply.authorities,
      additionals: [...reply.additionals, ...ours],
    };
    // Most answers fit: encode once, and cut only when the message is too large.
    const whole = packet.encode({ ...base, flags, ...sections });
    if (whole.length <= limit) return whole;
    const fit = fitToLimit(
      sections,
      limit,
      (s) => packet.encodingLength({ ...base, ...s }),
      (r) => r.type === 'OPT',
    );
    return packet.encode({
      ...base,
      flags: flags | (fit.truncated ? packet.TRUNCATED_RESPONSE : 0),
      ...fit.sections,
    });
  }

  /** FORMERR for a message whose header can be read (not for responses); undefined otherwise. */
  private formErr(raw: Buffer): Buffer | undefined {
    if (raw.length < 12) return undefined;
    const flags = raw.readUInt16BE(2);
    if (flags & QR) return undefined;
    this.queries.inc({ type: 'other', rcode: 'FORMERR', source: 'local' });
    return packet.encode({
      type: 'response',
      id: raw.readUInt16BE(0),
      flags:
        QR | (flags & OPCODE_MASK) | (flags & packet.RECURSION_DESIRED) | packet.RECURSION_AVAILABLE | RCODE.FORMERR,
    });
  }
}
