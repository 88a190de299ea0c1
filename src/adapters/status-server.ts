/**
 * The agent's local HTTP endpoint: GET /healthz (200 when every controller is ready, 503
 * otherwise; the body is a summary line, "ok" or "not ready: …", then one line per controller,
 * as Kubernetes' verbose health checks print them) and GET /metrics (the one metrics registry,
 * in the Prometheus text format) and, with flow logging on, GET /flows (the node's flow ring as
 * JSON: `{ node, capacity, flows }`) and GET /flows?follow=1 (every new flow as one JSON line,
 * chunked, until the client goes). It only serves what the controller runtime, the registry and
 * the flow log say; it decides nothing.
 *
 * Besides HOST:PORT it can listen on a unix socket in the agent's run dir: a node's loopback is
 * inside its network namespace, a file is not, so tools on the host (`weft flows` in the lab)
 * reach every node's agent without entering its namespace.
 */

import { rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Flow } from '../core/flows/flow.js';

export interface FlowSource {
  node: string;
  capacity: number;
  list(): Flow[];
  follow(fn: (f: Flow) => void): () => void;
}

export interface StatusSource {
  health(): { ok: boolean; text: string };
  metrics(): Promise<{ contentType: string; text: string }>;
  /** The node's flow log, when flow logging is on. */
  flows?: FlowSource;
}

function serveFlows(req: IncomingMessage, res: ServerResponse, flows: FlowSource | undefined): void {
  if (!flows) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('flow logging is off on this node\n');
    return;
  }
  const follow = new URL(req.url ?? '/', 'http://x').searchParams.get('follow');
  if (follow !== '1' && follow !== 'true') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ node: flows.node, capacity: flows.capacity, flows: flows.list() }));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  // The headers go out at once, so a follower knows it is following before the first flow.
  res.flushHeaders();
  const stop = flows.follow((f) => res.write(`${JSON.stringify(f)}\n`));
  req.on('close', stop);
  res.on('close', stop);
}

export async function startStatusServer(
  address: string,
  source: StatusSource,
  o: { socketPath?: string } = {},
): Promise<{ close(): Promise<void>; port: number }> {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new Error(`--metrics-addr "${address}": expected HOST:PORT`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
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
    if (path === '/flows') {
      serveFlows(req, res, source.flows);
      return;
    }
    res.writeHead(404);
    res.end('not found\n');
  };
  const server: Server = createServer(handle);
  const local = o.socketPath !== undefined ? createServer(handle) : undefined;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`serve health and metrics on ${address}: ${err.message}`, { cause: err })),
    );
    server.listen(Number(m[2]), host, resolve);
  });
  if (local && o.socketPath !== undefined) {
    const path = o.socketPath;
    rmSync(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      local.once('error', (err) => reject(new Error(`serve status on ${path}: ${err.message}`, { cause: err })));
      local.listen(path, resolve);
    });
  }
  const addr = server.address();
  // Followers hold their connections open: close them, or close() would wait for them.
  const closeOne = (s: Server) =>
    new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  return {
    port: typeof addr === 'object' && addr ? addr.port : Number(m[2]),
    close: async () => {
      await Promise.all([closeOne(server), ...(local ? [closeOne(local)] : [])]);
      if (o.socketPath !== undefined) rmSync(o.socketPath, { force: true });
    },
  };
}
