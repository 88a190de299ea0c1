/**
 * The DNS server's upstream client: one question to the upstream resolvers in order, over UDP
 * from a fresh socket (a random source port per query, and a random id, so off-path answers are
 * hard to forge, RFC 5452), with our EDNS0 size; when the UDP answer comes back truncated (TC)
 * the same server is asked again over TCP (RFC 7766), so large answers arrive whole. An answer
 * is taken only from the server asked, with the query's id and question; anything else on the
 * socket is ignored. A server that times out or fails passes the question to the next.
 */

import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { randomInt } from 'node:crypto';
import * as packet from 'dns-packet';
import type { DecodedPacket, Question } from 'dns-packet';
import type { DnsUpstream, UpstreamReply } from '../ports/dns-upstream.js';
import type { Upstream } from '../core/dns/upstreams.js';
import { EDNS_UDP_PAYLOAD } from '../core/dns/query-policy.js';

export interface UpstreamOptions {
  servers: readonly Upstream[];
  /** How long one server has to answer over one transport (ms, default 2000). */
  timeoutMs?: number;
  /** A random 16-bit query id (default crypto's randomInt). */
  randomId?: () => number;
}

function serverText(s: Upstream): string {
  return s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

function sameQuestion(p: DecodedPacket, q: Question): boolean {
  const got = p.questions?.[0];
  return (
    p.questions?.length === 1 &&
    got !== undefined &&
    got.name.toLowerCase() === q.name.toLowerCase() &&
    got.type === q.type &&
    (got.class ?? 'IN') === (q.class ?? 'IN')
  );
}

export class UdpTcpUpstream implements DnsUpstream {
  private readonly timeoutMs: number;
  private readonly randomId: () => number;
  private closed = false;

  constructor(private readonly o: UpstreamOptions) {
    if (o.servers.length === 0) throw new Error('dns upstream: no servers to forward to');
    this.timeoutMs = o.timeoutMs ?? 2000;
    this.randomId = o.randomId ?? (() => randomInt(0, 65536));
  }

  async query(question: Question): Promise<UpstreamReply> {
    const failures: string[] = [];
    for (const server of this.o.servers) {
      if (this.closed) break;
      const id = this.randomId();
      const msg = packet.encode({
        type: 'query',
        id,
        flags: packet.RECURSION_DESIRED,
        questions: [question],
        additionals: [
          {
            type: 'OPT',
            name: '.',
            udpPayloadSize: EDNS_UDP_PAYLOAD,
            extendedRcode: 0,
            ednsVersion: 0,
            flags: 0,
            flag_do: false,
            options: [],
          },
        ],
      });
      try {
        const udp = await this.udp(server, msg, id, question);
        if (!udp.packet.flag_tc) return udp;
        return await this.tcp(server, msg, id, question);
      } catch (err) {
        failures.push(`${serverText(server)}: ${(err as Error).message}`);
      }
    }
    throw new Error(`ask upstream ${question.name} ${question.type}: ${failures.join('; ') || 'closed'}`);
  }

  close(): void {
    this.closed = true;
  }

  private udp(server: Upstream, msg: Buffer, id: number, q: Question): Promise<UpstreamReply> {
    return new Promise((resolve, reject) => {
      const sock = createSocket(server.host.includes(':') ? 'udp6' : 'udp4');
      const timer = setTimeout(() => done(new Error(`no UDP answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      let finished = false;
      const done = (err: Error | undefined, reply?: UpstreamReply) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        sock.close();
        if (err) reject(err);
        else resolve(reply!);
      };
      sock.on('error', (err) => done(new Error(`UDP: ${err.message}`)));
      sock.on('message', (buf, rinfo) => {
        if (rinfo.address !== server.host || rinfo.port !== server.port) return;
        let p: DecodedPacket;
        try {
          p = packet.decode(buf);
        } catch {
          return; // Not a DNS answer; keep waiting for the real one.
        }
        if (p.id !== id || p.type !== 'response' || !sameQuestion(p, q)) return;
        done(undefined, { packet: p, bytes: buf.length, transport: 'udp', server: serverText(server) });
      });
      sock.send(msg, server.port, server.host, (err) => {
        if (err) done(new Error(`UDP send: ${err.message}`));
      });
    });
  }

  private tcp(server: Upstream, msg: Buffer, id: number, q: Question): Promise<UpstreamReply> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: server.host, port: server.port });
      let data = Buffer.alloc(0);
      const timer = setTimeout(() => done(new Error(`no TCP answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      let finished = false;
      const done = (err: Error | undefined, reply?: UpstreamReply) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(reply!);
      };
      sock.on('error', (err) => done(new Error(`TCP: ${err.message}`)));
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(msg.length);
        sock.write(Buffer.concat([len, msg]));
      });
      sock.on('data', (chunk) => {
        data = Buffer.concat([data, chunk]);
        if (data.length < 2) return;
        const need = data.readUInt16BE(0);
        if (data.length < 2 + need) return;
        const body = data.subarray(2, 2 + need);
        try {
          const p = packet.decode(body);
          if (p.id !== id || !sameQuestion(p, q)) return done(new Error('TCP answer for another query'));
          done(undefined, { packet: p, bytes: body.length, transport: 'tcp', server: serverText(server) });
        } catch (err) {
          done(new Error(`TCP answer undecodable: ${(err as Error).message}`));
        }
      });
      sock.on('end', () => done(new Error('TCP connection closed before the answer')));
    });
  }
}
