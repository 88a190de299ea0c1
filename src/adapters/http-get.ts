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

/**
 * An HTTP readiness probe (kubelet's prober/http): GET http://host:port/path with the probe's
 * headers (kubelet's User-Agent and Accept unless the probe sets them), reading at most a few KiB
 * of the body. Resolves with the status code, or undefined when there was no answer (refused,
 * reset, timeout): the caller decides what is a success.
 */
export function httpProbeStatus(req: {
  host: string;
  port: number;
  path: string;
  headers: ReadonlyArray<{ name: string; value: string }>;
  timeoutMs: number;
}): Promise<number | undefined> {
  const headers: Record<string, string> = {};
  for (const h of req.headers) headers[h.name] = h.value;
  const has = (name: string) => Object.keys(headers).some((k) => k.toLowerCase() === name);
  if (!has('user-agent')) headers['User-Agent'] = 'kube-probe/weft';
  if (!has('accept')) headers.Accept = '*/*';
  return new Promise((resolve) => {
    let settled = false;
    const done = (status: number | undefined) => {
      if (settled) return;
      settled = true;
      resolve(status);
    };
    const r = get(
      { host: req.host, port: req.port, path: req.path, headers, timeout: req.timeoutMs, agent: false },
      (res) => {
        const status = res.statusCode;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          // kubelet reads up to 10 KiB of a probe's body; more is not needed to decide.
          if (read > 10 * 1024) res.destroy();
        });
        res.on('close', () => done(status));
        res.on('error', () => done(status));
      },
    );
    r.on('timeout', () => {
      r.destroy();
      done(undefined);
    });
    r.on('error', () => done(undefined));
  });
}
