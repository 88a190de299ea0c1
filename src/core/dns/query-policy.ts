/**
 * What the DNS server does with a decoded message before and after answering it, as pure rules:
 * which queries it takes (one question, opcode QUERY, a sane name) and which it refuses with
 * which code; how large a UDP answer may be (RFC 1035's 512 bytes, or the client's EDNS0 size,
 * RFC 6891 §6.2.5); how an answer too large for that is cut (RFC 2181 §9: drop the additional
 * section first, which needs no TC; then keep the answers that fit and set TC so the client asks
 * again over TCP); and the bounded set of query-type labels the metrics use.
 */

import type { Rcode } from './records.js';

/** The largest UDP answer weft sends whatever the client offers (the DNS flag day 2020 size is 1232; 4096 is BIND's). */
export const MAX_UDP_PAYLOAD = 4096;
/** The UDP size weft offers in its own EDNS0 record (DNS flag day 2020). */
export const EDNS_UDP_PAYLOAD = 1232;
/** The largest DNS message over TCP (the two-byte length prefix). */
export const MAX_TCP_MESSAGE = 65535;
/** A name's longest text form (255 octets on the wire, RFC 1035 §2.3.4). */
export const MAX_NAME_TEXT = 253;

export interface IncomingQuery {
  /** QR: the message is itself a response (never answered, so two servers cannot loop). */
  isResponse: boolean;
  opcode: string;
  questions: ReadonlyArray<{ name: string; type: string; class?: string }>;
}

export type QueryVerdict =
  | { kind: 'answer'; question: { name: string; type: string; class: string } }
  | { kind: 'reply'; rcode: Rcode; reason: string }
  | { kind: 'drop'; reason: string };

/** Does the server answer this query, refuse it (and with what code), or drop it? */
export function checkQuery(q: IncomingQuery): QueryVerdict {
  if (q.isResponse) return { kind: 'drop', reason: 'a response, not a query' };
  if (q.opcode !== 'QUERY') return { kind: 'reply', rcode: 'NOTIMP', reason: `opcode ${q.opcode}` };
  if (q.questions.length !== 1)
    return { kind: 'reply', rcode: 'FORMERR', reason: `${q.questions.length} questions (one is answered)` };
  const question = q.questions[0]!;
  const name = question.name === '.' ? '' : question.name;
  if (name.length > MAX_NAME_TEXT)
    return { kind: 'reply', rcode: 'FORMERR', reason: `name of ${name.length} characters` };
  if (name.split('.').some((l, i, all) => l.length > 63 || (l === '' && all.length > 1)))
    return { kind: 'reply', rcode: 'FORMERR', reason: 'a label that is empty or longer than 63' };
  if (['AXFR', 'IXFR'].includes(question.type))
    return { kind: 'reply', rcode: 'REFUSED', reason: `zone transfer (${question.type})` };
  return { kind: 'answer', question: { name, type: question.type, class: question.class ?? 'IN' } };
}

/** The largest UDP answer for a client: 512 without EDNS0, else its size within [512, MAX_UDP_PAYLOAD]. */
export function udpLimit(ednsUdpSize: number | undefined): number {
  if (ednsUdpSize === undefined) return 512;
  return Math.max(512, Math.min(ednsUdpSize, MAX_UDP_PAYLOAD));
}

export interface Sections<R> {
  answers: R[];
  authorities: R[];
  additionals: R[];
}

/**
 * The sections cut to fit `limit` bytes, as `sizeOf` measures the whole message; `truncated`
 * says TC must be set. Records in `keep` (the EDNS0 OPT record) stay in the additional section.
 */
export function fitToLimit<R>(
  s: Sections<R>,
  limit: number,
  sizeOf: (s: Sections<R>) => number,
  keep: (r: R) => boolean = () => false,
): { sections: Sections<R>; truncated: boolean } {
  if (sizeOf(s) <= limit) return { sections: s, truncated: false };
  const additionals = s.additionals.filter(keep);
  const lean = { ...s, additionals };
  if (sizeOf(lean) <= limit) return { sections: lean, truncated: false };
  // Binary search for the most answers that fit with no authority section.
  let lo = 0;
  let hi = s.answers.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (sizeOf({ answers: s.answers.slice(0, mid), authorities: [], additionals }) <= limit) lo = mid;
    else hi = mid - 1;
  }
  return { sections: { answers: s.answers.slice(0, lo), authorities: [], additionals }, truncated: true };
}

const TYPE_LABELS = new Set(['A', 'AAAA', 'CNAME', 'SRV', 'PTR', 'TXT', 'SOA', 'NS', 'MX', 'ANY', 'HTTPS', 'SVCB']);

/** The query type as a metric label: the common ones by name, every other as "other" (bounded cardinality). */
export function typeLabel(type: string): string {
  return TYPE_LABELS.has(type) ? type : 'other';
}
