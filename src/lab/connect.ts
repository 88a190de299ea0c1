#!/usr/bin/env node
/**
 * One connection attempt, run inside the source pod's namespace: TCP connects (and reads the
 * server's greeting line), UDP sends a datagram and waits for the echo. Exit code 0 when the
 * destination answered, 1 when it did not within the timeout. Prints what it received.
 *
 * Usage: connect.js tcp|udp HOST PORT [TIMEOUT_MS] [PAYLOAD] [UDP_SOURCE_PORT]
 */

import { tcp, udp } from './attempt.js';

async function main(): Promise<void> {
  const [proto, host, portText, timeoutText, payloadArg, sourceText] = process.argv.slice(2);
  if (!proto || !host || !portText)
    throw new Error('usage: connect.js tcp|udp HOST PORT [TIMEOUT_MS] [PAYLOAD] [UDP_SOURCE_PORT]');
  const port = Number(portText);
  const timeoutMs = Number(timeoutText ?? '1000');
  const payload = payloadArg ?? `weft-probe-${process.pid}`;
  const got =
    proto.toLowerCase() === 'udp'
      ? await udp(host, port, timeoutMs, payload, sourceText === undefined ? undefined : Number(sourceText))
      : await tcp(host, port, timeoutMs, payload);
  process.stdout.write(got.endsWith('\n') ? got : `${got}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
