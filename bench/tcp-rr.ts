#!/usr/bin/env node
/**
 * TCP request/response round trips per second (netperf's TCP_RR, in Node): one connection, one
 * byte each way, the next request sent when the answer arrives, for MS milliseconds. With
 * `serve PORT` it is the echo end (prints "ready" once listening). The same program on both
 * ends for every path measured, so the figures differ only by the path between them.
 * Prints `{"roundTrips":N,"ms":T}`.
 *
 * Usage: node tcp-rr.js serve PORT | node tcp-rr.js HOST PORT MS
 */

import { connect, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';

const [first, second, third] = process.argv.slice(2);
if (first === 'serve') {
  const server = createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (b) => s.write(b));
    s.on('error', () => s.destroy());
  });
  server.listen(Number(second), () => process.stdout.write('ready\n'));
} else {
  const port = Number(second);
  const ms = Number(third);
  if (!first || !(port > 0) || !(ms > 0)) {
    process.stderr.write('usage: tcp-rr.js serve PORT | tcp-rr.js HOST PORT MS\n');
    process.exit(2);
  }
  const s = connect({ host: first, port, noDelay: true });
  const one = Buffer.from('x');
  let roundTrips = 0;
  let start = 0;
  s.on('connect', () => {
    start = performance.now();
    s.write(one);
  });
  s.on('data', (b) => {
    roundTrips += b.length;
    const elapsed = performance.now() - start;
    if (elapsed < ms) s.write(one);
    else {
      process.stdout.write(JSON.stringify({ roundTrips, ms: elapsed }) + '\n');
      s.destroy();
    }
  });
  s.on('error', (err) => {
    process.stderr.write(`tcp-rr: ${err.message}\n`);
    process.exit(1);
  });
}
