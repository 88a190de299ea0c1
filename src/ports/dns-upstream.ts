/**
 * DnsUpstream: asks the upstream resolvers one question, as the DNS server forwards names outside
 * the cluster zone. The real one (src/adapters/dns-upstream.ts) asks over UDP and again over TCP
 * when the UDP answer is truncated, trying each server in turn; tests may use a fake.
 */

import type { DecodedPacket, Question } from 'dns-packet';

export interface UpstreamReply {
  /** The upstream's answer, decoded (its id is the upstream query's, not the client's). */
  packet: DecodedPacket;
  /** Its size on the wire, for the cache's byte limit. */
  bytes: number;
  transport: 'udp' | 'tcp';
  /** "host:port" of the server that answered. */
  server: string;
}

export interface DnsUpstream {
  /** The first answer any upstream gives; rejects (naming every server tried and why) when none answers. */
  query(question: Question): Promise<UpstreamReply>;
  close(): void;
}
