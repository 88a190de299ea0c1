/**
 * The health check node port servers (src/ports/health-check-servers.ts) as plain node:http
 * servers. The agent runs inside the node's network namespace, so a server on 0.0.0.0:PORT is
 * reachable on every node address, as kube-proxy's health server is (it listens on all node
 * addresses unless --nodeport-addresses narrows them).
 */

import { createServer, type Server } from 'node:http';
import type { HealthCheckServers, HealthReply } from '../ports/health-check-servers.js';

export class NodeHealthCheckServers implements HealthCheckServers {
  private readonly servers = new Map<number, Server>();
  private reply: (port: number) => HealthReply | undefined = () => undefined;

  constructor(private readonly host = '0.0.0.0') {}

  async serve(ports: readonly number[], reply: (port: number) => HealthReply | undefined): Promise<void> {
    this.reply = reply;
    const wanted = new Set(ports);
    for (const [port, server] of this.servers)
      if (!wanted.has(port)) {
        this.servers.delete(port);
        await closeServer(server);
      }
    const failed: string[] = [];
    for (const port of wanted) {
      if (this.servers.has(port)) continue;
      try {
        this.servers.set(port, await this.open(port));
      } catch (err) {
        failed.push(`${port} (${(err as Error).message})`);
      }
    }
    if (failed.length > 0) throw new Error(`serve health check node ports on ${this.host}: ${failed.join(', ')}`);
  }

  listening(): number[] {
    return [...this.servers.keys()].sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    const all = [...this.servers.values()];
    this.servers.clear();
    for (const s of all) await closeServer(s);
  }

  private open(port: number): Promise<Server> {
    const server = createServer((req, res) => {
      const r = this.reply(port);
      if (!r) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('no Service has this health check node port\n');
        return;
      }
      // kube-proxy's health server answers any path, and says the response is JSON.
      res.writeHead(r.status, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : r.body);
    });
    return new Promise<Server>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Health checkers keep connections alive; they must not hold a closed port open.
    server.closeAllConnections();
  });
}
