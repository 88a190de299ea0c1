/**
 * A plain HTTP GET with node:http, for health checks on loopback. Why not fetch(): Node's fetch
 * loads undici, a large library, into each process that calls it; the lab's pod runners (one per
 * node) call only this, and loading undici was a visible part of a 50-node lab's start-up.
 */

import { get } from 'node:http';

/** The status and body of GET url; rejects on a connection error or after timeoutMs. */
export function httpGetText(url: string, timeoutMs: number): Promise<{ ok: boolean; status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({ ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300, status: res.statusCode ?? 0, text }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
