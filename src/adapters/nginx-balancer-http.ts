/**
 * The NginxBalancer port over HTTP: POSTs the endpoint lists to the Lua endpoint of the pod's
 * nginx on 127.0.0.1 (see src/core/ingress/nginx-lua.ts for the format and why). node:http and
 * not fetch() for the reason src/adapters/http-get.ts gives.
 */

import { request } from 'node:http';
import { ENDPOINTS_PATH, endpointsBody, type EndpointLists } from '../core/ingress/nginx-lua.js';
import type { NginxBalancer } from '../ports/nginx-balancer.js';

export class HttpNginxBalancer implements NginxBalancer {
  constructor(
    private readonly port: number,
    private readonly timeoutMs = 5000,
  ) {}

  setEndpoints(lists: EndpointLists): Promise<void> {
    const body = endpointsBody(lists);
    const where = `http://127.0.0.1:${this.port}${ENDPOINTS_PATH}`;
    return new Promise((resolve, reject) => {
      const req = request(
        where,
        {
          method: 'POST',
          timeout: this.timeoutMs,
          headers: { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () =>
            res.statusCode === 200
              ? resolve()
              : reject(new Error(`post endpoint lists to ${where}: status ${res.statusCode}: ${text.trim()}`)),
          );
          res.on('error', (err) =>
            reject(new Error(`post endpoint lists to ${where}: ${err.message}`, { cause: err })),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(new Error(`post endpoint lists to ${where}: ${err.message}`, { cause: err })));
      req.end(body);
    });
  }
}
