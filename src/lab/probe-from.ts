#!/usr/bin/env node
/**
 * The source side of `weft probe`: run inside one source pod's network namespace (nsenter
 * --net=...), it makes every attempt at once and prints one JSON array, in the order of the
 * attempts. One process per source pod keeps a 20x20 probe at 20 process starts instead of 400.
 *
 * Usage: probe-from.js tcp|udp PORT TIMEOUT_MS HOST...
 *   one attempt per host; prints booleans (answered or not).
 * Usage: probe-from.js who tcp|udp PORT TIMEOUT_MS COUNT HOST
 *   COUNT new connections to one host (a Service's VIP), each from its own source port, asking
 *   who answers (src/core/pod-greeting.ts); prints `{"pod": "ns/name"}` or `{"error": why}` each.
 * With WEFT_PROBE_UDP_SOURCE_BASE=N, the i-th UDP attempt is sent from port N + i.
 */

import { tcp, udp } from './attempt.js';
import { parseGreeting, WHO_REQUEST } from '../core/pod-greeting.js';

type Attempt = (host: string, i: number, payload: string) => Promise<string>;

function attempter(proto: string, port: number, timeoutMs: number): Attempt {
  const base = Number(process.env.WEFT_PROBE_UDP_SOURCE_BASE ?? NaN);
  return (host, i, payload) =>
    proto === 'tcp'
      ? tcp(host, port, timeoutMs, payload)
      : udp(host, port, timeoutMs, payload, Number.isInteger(base) ? base + i : undefined);
}

/** Why a connection failed, in a word people know. */
function failure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET') return 'reset';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'unreachable';
  if (code !== undefined) return code;
  return /timed out|no echo/.test((err as Error).message ?? '') ? 'timeout' : 'error';
}

function parseInts(...texts: Array<string | undefined>): number[] | undefined {
  const out = texts.map((t) => Number(t));
  return out.every((n) => Number.isInteger(n)) ? out : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === 'who') {
    const [, proto, portText, timeoutText, countText, host] = args;
    const ints = parseInts(portText, timeoutText, countText);
    if ((proto !== 'tcp' && proto !== 'udp') || !ints || host === undefined)
      throw new Error('usage: probe-from.js who tcp|udp PORT TIMEOUT_MS COUNT HOST');
    const [port, timeoutMs, count] = ints as [number, number, number];
    const attempt = attempter(proto, port, timeoutMs);
    const outcomes = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        attempt(host, i, `${WHO_REQUEST}${process.pid}-${i}`).then(
          (got) => ({ pod: parseGreeting(got)?.pod ?? '<not a lab pod>' }),
          (err: unknown) => ({ error: failure(err) }),
        ),
      ),
    );
    process.stdout.write(`${JSON.stringify(outcomes)}\n`);
    return;
  }
  const [proto, portText, timeoutText, ...hosts] = args;
  const ints = parseInts(portText, timeoutText);
  if ((proto !== 'tcp' && proto !== 'udp') || !ints)
    throw new Error('usage: probe-from.js tcp|udp PORT TIMEOUT_MS HOST...');
  const attempt = attempter(proto, ints[0]!, ints[1]!);
  const results = await Promise.all(
    hosts.map((host, i) =>
      attempt(host, i, `weft-probe-${process.pid}-${i}`).then(
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
