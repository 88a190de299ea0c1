#!/usr/bin/env node
/**
 * One connection attempt, run inside the source pod's namespace: TCP connects (and reads the
 * server's greeting line), UDP sends a datagram and waits for the echo. Exit code 0 when the
 * destination answered, 1 when it did not within the timeout. Prints what it received.
 *
 * Usage: connect.js tcp|udp HOST PORT [TIMEOUT_MS] [PAYLOAD]
 */

import { connect } from 'node:net';
import { createSocket } from 'node:dgram';

function tcp(host: string, port: number, timeoutMs: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`tcp ${host}:${port}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(payload));
    sock.on('data', (b: Buffer) => {
      got += b.toString('utf8');
      // The greeting line plus the echo of our payload means the round trip worked.
      if (got.includes('\n') && got.includes(payload)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(got);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function udp(host: string, port: number, timeoutMs: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`udp ${host}:${port}: no echo within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg.toString('utf8'));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.send(payload, port, host);
  });
}

async function main(): Promise<void> {
  const [proto, host, portText, timeoutText, payloadArg] = process.argv.slice(2);
  if (!proto || !host || !portText) throw new Error('usage: connect.js tcp|udp HOST PORT [TIMEOUT_MS] [PAYLOAD]');
  const port = Number(portText);
  const timeoutMs = Number(timeoutText ?? '1000');
  const payload = payloadArg ?? `weft-probe-${process.pid}`;
  const got = proto.toLowerCase() === 'udp' ? await udp(host, port, timeoutMs, payload) : await tcp(host, port, timeoutMs, payload);
  process.stdout.write(got.endsWith('\n') ? got : `${got}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
