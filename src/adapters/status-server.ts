/**
 * The agent's local HTTP endpoint: GET /healthz (200 when every controller is ready, 503
 * otherwise; the body is a summary line, "ok" or "not ready: …", then one line per controller,
 * as Kubernetes' verbose health checks print them) and GET /metrics (the one metrics registry,
 * in the Prometheus text format). It only serves what the controller runtime and the registry
 * say; it decides nothing.
 */

import { createServer, type Server } from 'node:http';

export interface StatusSource {
  health(): { ok: boolean; text: string };
  metrics(): Promise<{ contentType: string; text: string }>;
}

export async function startStatusServer(
  address: string,
  source: StatusSource,
): Promise<{ close(): Promise<void>; port: number }> {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new Error(`--metrics-addr "${address}": expected HOST:PORT`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      const h = source.health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(h.text);
      return;
    }
    if (path === '/metrics') {
      source.metrics().then(
        (r) => {
          res.writeHead(200, { 'content-type': r.contentType });
          res.end(r.text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end(`cannot render metrics: ${(err as Error).message}\n`);
        },
      );
      return;
    }
    res.writeHead(404);
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`serve health and metrics on ${address}: ${err.message}`, { cause: err })),
    );
    server.listen(Number(m[2]), host, resolve);
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : Number(m[2]),
    // close() alone waits for every open connection to end, and a prober's keep-alive connection
    // (the lab's readiness checks poll /healthz) never does: an agent exiting on a bad net-conf
    // hung in its shutdown. Ending the connections too lets it exit.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
