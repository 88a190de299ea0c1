#!/usr/bin/env node
/**
 * New TCP connections per second to HOST:PORT for MS milliseconds with CONCURRENCY connections in
 * flight: each is opened, counted once established, and reset (no TIME_WAIT, so repeated runs
 * from one namespace do not run out of ports). Prints `{"connections":N,"errors":E,"ms":T}`.
 * The policy benchmark runs it inside a lab pod's namespace (nsenter --net=...).
 *
 * Usage: node conn-rate.js HOST PORT MS CONCURRENCY
 */

import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';

const [host, portText, msText, concText] = process.argv.slice(2);
const port = Number(portText);
const ms = Number(msText);
const concurrency = Number(concText);
if (!host || !(port > 0) || !(ms > 0) || !(concurrency > 0)) {
  process.stderr.write('usage: conn-rate.js HOST PORT MS CONCURRENCY\n');
  process.exit(2);
}

let connections = 0;
let errors = 0;
const start = performance.now();
const end = start + ms;

function once(): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(2000, () => {
      errors++;
      s.destroy();
      resolve();
    });
    s.once('connect', () => {
      connections++;
      s.resetAndDestroy();
      resolve();
    });
    s.once('error', () => {
      errors++;
      s.destroy();
      resolve();
    });
  });
}

async function worker(): Promise<void> {
  while (performance.now() < end) await once();
}

await Promise.all(Array.from({ length: concurrency }, worker));
process.stdout.write(`${JSON.stringify({ connections, errors, ms: performance.now() - start })}\n`);
