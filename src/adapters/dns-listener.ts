/**
 * The DNS server's sockets: UDP and TCP on one address and port (RFC 7766: every DNS server
 * answers over both). Each message goes to the handler, whose answer (if any) goes back to the
 * sender; the handler decides everything, this file only frames messages. TCP messages carry a
 * two-byte length (RFC 1035 §4.2.2); a connection may send several and is closed after an idle
 * time, the number of open connections is bounded, and so are the answers a client leaves unread,
 * so a client holding sockets open cannot exhaust the server. Nothing a client sends can throw out of here: errors are logged.
 */

import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../ports/logger.js';

export type DnsTransport = 'udp' | 'tcp';
/** Bytes of answers a TCP client may leave unread before its connection is closed. */
const MAX_TCP_BACKLOG = 1024 * 1024;
/**
 * Answers one message; undefined sends nothing (the message is dropped). An answer known at once
 * may be returned as is: a promise per message is a good part of a busy server's time.
 */
export type DnsHandler = (msg: Buffer, transport: DnsTransport) => Buffer | undefined | Promise<Buffer | undefined>;

/**
 * Calls `send` with the handler's answer and `arg`, now or when its promise settles; logs a
 * failure. (`send` and `arg` rather than a closure: at 100,000 queries a second, a closure per
 * message is measurable.)
 */
function answer<T>(
  o: ListenOptions,
  msg: Buffer,
  transport: DnsTransport,
  send: (reply: Buffer, arg: T) => void,
  arg: T,
): void {
  let reply: ReturnType<DnsHandler>;
  try {
    reply = o.handler(msg, transport);
  } catch (err) {
    handlerFailed(o, transport, err);
    return;
  }
  if (reply instanceof Promise)
    reply.then(
      (r) => r && send(r, arg),
      (err: unknown) => handlerFailed(o, transport, err),
    );
  else if (reply) send(reply, arg);
}

function handlerFailed(o: ListenOptions, transport: DnsTransport, err: unknown): void {
  o.log.error(`dns: ${transport.toUpperCase()} handler failed`, { error: (err as Error).message });
}

export interface ListenOptions {
  host: string;
  /** 0 picks a free port (the same one for UDP and TCP). */
  port: number;
  handler: DnsHandler;
  log: Logger;
  /** Most TCP connections open at once (default 256); more are closed at once. */
  maxTcpConnections?: number;
  /** A TCP connection with nothing to read for this long is closed (ms, default 10,000). */
  tcpIdleMs?: number;
}

export interface DnsListener {
  port: number;
  close(): Promise<void>;
}

/**
 * The UDP socket's address lookup: answers are only ever sent to the address a query came from
 * (an IP literal), and Node's default lookup (dns.lookup) defers even a literal to the next tick,
 * once per answer.
 */
function literalLookup(
  address: string,
  _family: unknown,
  callback: (err: Error | null, address: string, family: number) => void,
): void {
  callback(null, address, address.includes(':') ? 6 : 4);
}

async function bindUdp(host: string, port: number): Promise<UdpSocket> {
  const sock = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, host, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return sock;
}

async function listenTcp(server: Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export async function listenDns(o: ListenOptions): Promise<DnsListener> {
  const maxConns = o.maxTcpConnections ?? 256;
  const idleMs = o.tcpIdleMs ?? 10_000;
  const conns = new Set<Socket>();

  const sendTcp = (reply: Buffer, sock: Socket) => {
    if (sock.destroyed) return;
    // A client that sends queries and never reads the answers would grow our write buffer.
    if (sock.writableLength > MAX_TCP_BACKLOG) {
      sock.destroy();
      return;
    }
    const head = Buffer.alloc(2);
    head.writeUInt16BE(reply.length);
    sock.write(Buffer.concat([head, reply]));
  };
  const serveTcp = (sock: Socket) => {
    if (conns.size >= maxConns) {
      sock.destroy();
      return;
    }
    conns.add(sock);
    sock.setTimeout(idleMs, () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        answer(o, msg, 'tcp', sendTcp, sock);
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => conns.delete(sock));
  };

  let udp: UdpSocket | undefined;
  let tcp: Server | undefined;
  // With port 0 the UDP port is picked first and TCP must get the same one; another process
  // may hold it on TCP, so a few tries.
  for (let attempt = 0; ; attempt++) {
    udp = await bindUdp(o.host, o.port).catch((err: Error) => {
      throw new Error(`dns: listen on UDP ${o.host}:${o.port}: ${err.message}`, { cause: err });
    });
    const port = udp.address().port;
    tcp = createServer(serveTcp);
    try {
      await listenTcp(tcp, o.host, port);
      break;
    } catch (err) {
      udp.close();
      if (o.port !== 0 || attempt >= 10)
        throw new Error(`dns: listen on TCP ${o.host}:${port}: ${(err as Error).message}`, { cause: err });
    }
  }
  const udpSock = udp;
  let closed = false;
  const tcpServer = tcp;
  // Node's send error names the address and port ("send EPERM 10.244.1.5:41000").
  const sent = (err: Error | null) => {
    if (err) o.log.warn('dns: UDP send failed', { error: err.message });
  };
  const sendUdp = (reply: Buffer, to: RemoteInfo) => {
    if (!closed) udpSock.send(reply, to.port, to.address, sent);
  };
  udpSock.on('message', (msg, rinfo) => answer(o, msg, 'udp', sendUdp, rinfo));
  udpSock.on('error', (err) => o.log.error('dns: UDP socket error', { error: err.message }));
  return {
    port: udpSock.address().port,
    close: async () => {
      closed = true;
      udpSock.close();
      for (const c of conns) c.destroy();
      await new Promise<void>((resolve) => tcpServer.close(() => resolve()));
    },
  };
}
