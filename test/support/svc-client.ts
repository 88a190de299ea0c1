#!/usr/bin/env node
/**
 * A Service client for the lab tests, run inside a pod's (or an outside client's) network
 * namespace with `weft exec -n NS POD -- node svc-client.js ...`: it opens new TCP connections
 * (each a new flow: a fresh source port) and prints one JSON line per attempt, so a test reads
 * which endpoint answered and what client address it saw, or how the attempt failed.
 *
 *   svc-client.js tcp HOST PORT COUNT [TIMEOUT_MS] [EVERY_MS]
 *   svc-client.js hold HOST PORT SECONDS   one connection kept open, a line echoed every 100 ms
 *
 * Lab pods greet with `weft NS/POD PORT from CLIENT_IP` and then echo (src/lab/echo-server.ts).
 * A line is {"ok":true,"pod":"ns/name","port":8080,"from":"10.244.1.2","at":ms} or
 * {"ok":false,"error":"ECONNREFUSED"|"timeout"|...,"at":ms}. `hold` prints {"ok":true,"echoes":N}
 * when the time is up, or {"ok":false,"error":...,"echoes":N} when the connection broke.
 */

import { connect } from 'node:net';

interface Attempt {
  ok: boolean;
  pod?: string;
  port?: number;
  from?: string;
  error?: string;
  at: number;
}

const GREETING = /^weft (\S+) (\d+) from (\S+)/;

function once(host: string, port: number, timeoutMs: number): Promise<Attempt> {
  const start = Date.now();
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    let buf = '';
    const done = (a: Omit<Attempt, 'at'>) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...a, at: start });
    };
    const timer = setTimeout(() => done({ ok: false, error: 'timeout' }), timeoutMs);
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n')[0]!;
      if (!buf.includes('\n')) return;
      const m = GREETING.exec(line);
      done(
        m ? { ok: true, pod: m[1]!, port: Number(m[2]), from: m[3]! } : { ok: false, error: `bad greeting ${line}` },
      );
    });
    sock.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code ?? err.message }));
    sock.on('close', () => done({ ok: false, error: 'closed before a greeting' }));
  });
}

async function hold(host: string, port: number, seconds: number): Promise<void> {
  let echoes = 0;
  await new Promise<void>((resolve) => {
    const sock = connect({ host, port });
    let pending = '';
    let finished = false;
    const finish = (line: object) => {
      if (finished) return;
      finished = true;
      clearInterval(tick);
      clearTimeout(end);
      sock.destroy();
      process.stdout.write(`${JSON.stringify(line)}\n`);
      resolve();
    };
    let sent = 0;
    let greeted = false;
    const tick = setInterval(() => {
      // One line at a time: a line not echoed within 2 s means the connection is broken.
      if (!greeted) return;
      if (sent > echoes + 20) finish({ ok: false, error: 'echoes stopped', echoes });
      sock.write(`ping ${sent++}\n`);
    }, 100);
    const end = setTimeout(() => finish({ ok: true, echoes }), seconds * 1000);
    sock.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith('weft ')) {
          greeted = true;
          process.stdout.write(`${JSON.stringify({ greeting: l })}\n`);
        } else if (l.startsWith('ping ')) echoes++;
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, error: err.code ?? err.message, echoes }));
    sock.on('close', () => finish({ ok: false, error: 'closed', echoes }));
  });
}

async function main(): Promise<void> {
  const [mode, host, portText, countText, timeoutText, everyText] = process.argv.slice(2);
  if (!mode || !host || !portText || !countText)
    throw new Error('usage: svc-client.js tcp|hold HOST PORT COUNT|SECONDS');
  if (mode === 'hold') return hold(host, Number(portText), Number(countText));
  const timeoutMs = Number(timeoutText ?? '2000');
  const everyMs = Number(everyText ?? '0');
  for (let i = 0; i < Number(countText); i++) {
    const a = await once(host, Number(portText), timeoutMs);
    process.stdout.write(`${JSON.stringify(a)}\n`);
    if (everyMs > 0) await new Promise((r) => setTimeout(r, everyMs));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
