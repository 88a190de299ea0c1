/**
 * `weft echo-http`: a small HTTP server for lab pods that answers every request with what it
 * received, as JSON: which pod answered (its HOSTNAME, which the lab's kubelet sets to the pod's
 * name), the Host header, the path, the client's address as the pod sees it, and the headers a
 * proxy adds (X-Real-IP, X-Forwarded-For, X-Forwarded-Proto). The lab's own pod servers greet in
 * raw TCP, which no HTTP proxy can pass on, so the ingress tests and bench run this one.
 */

import { createServer, type Server } from 'node:http';

export interface EchoAnswer {
  pod: string;
  host: string;
  path: string;
  client: string;
  xRealIp?: string;
  xForwardedFor?: string;
  xForwardedProto?: string;
}

export function startHttpEcho(o: { host: string; port: number; pod: string }): Promise<Server> {
  const server = createServer((req, res) => {
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    const answer: EchoAnswer = {
      pod: o.pod,
      host: header('host') ?? '',
      path: req.url ?? '',
      client: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      ...(header('x-real-ip') ? { xRealIp: header('x-real-ip') } : {}),
      ...(header('x-forwarded-for') ? { xForwardedFor: header('x-forwarded-for') } : {}),
      ...(header('x-forwarded-proto') ? { xForwardedProto: header('x-forwarded-proto') } : {}),
    };
    const body = `${JSON.stringify(answer)}\n`;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve(server));
  });
}
