/**
 * The agent's local HTTP endpoint: GET /healthz (200 "ok" once the node holds a lease and the
 * backend synced; 503 with the reason otherwise) and GET /metrics (Prometheus text).
 */

import { createServer, type Server } from 'node:http';

export interface StatusSource {
  health(): { ok: boolean; reason: string };
  metrics(): string;
}

export async function startStatusServer(address: string, source: StatusSource): Promise<{ close(): Promise<void>; port: number }> {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new Error(`--metrics-addr "${address}": expected HOST:PORT`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const server: Server = createServer((req, res) => {
    if (req.url === '/healthz') {
      const h = source.health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(h.ok ? 'ok\n' : `${h.reason}\n`);
      return;
    }
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(source.metrics());
      return;
    }
    res.writeHead(404);
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), host, resolve);
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : Number(m[2]),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
