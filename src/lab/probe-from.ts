#!/usr/bin/env node
/**
 * The source side of `weft probe`: run inside one source pod's network namespace (nsenter
 * --net=...), it tries every destination at once and prints one JSON array of booleans, in the
 * order of the destinations given. One process per source pod keeps a 20x20 probe at 20 process
 * starts instead of 400.
 *
 * Usage: probe-from.js tcp|udp PORT TIMEOUT_MS HOST...
 * With WEFT_PROBE_UDP_SOURCE_BASE=N, the UDP datagram to the i-th host is sent from port N + i.
 */

import { tcp, udp } from './attempt.js';

async function main(): Promise<void> {
  const [proto, portText, timeoutText, ...hosts] = process.argv.slice(2);
  const port = Number(portText);
  const timeoutMs = Number(timeoutText);
  if ((proto !== 'tcp' && proto !== 'udp') || !Number.isInteger(port) || !Number.isInteger(timeoutMs)) {
    throw new Error('usage: probe-from.js tcp|udp PORT TIMEOUT_MS HOST...');
  }
  const base = Number(process.env.WEFT_PROBE_UDP_SOURCE_BASE ?? NaN);
  const attempt = (host: string, i: number) =>
    proto === 'tcp'
      ? tcp(host, port, timeoutMs, `weft-probe-${process.pid}-${i}`)
      : udp(host, port, timeoutMs, `weft-probe-${process.pid}-${i}`, Number.isInteger(base) ? base + i : undefined);
  const results = await Promise.all(
    hosts.map((host, i) =>
      attempt(host, i).then(
        () => true,
        () => false,
      ),
    ),
  );
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
