/**
 * Traffic between two lab pods for the benchmarks: TCP throughput with iperf3 and new TCP
 * connections per second with conn-rate.js, each run inside the pods' network namespaces.
 */

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Exec } from '../src/ports/exec.js';

const CONN_RATE = fileURLToPath(new URL('./conn-rate.js', import.meta.url));
const TCP_RR = fileURLToPath(new URL('./tcp-rr.js', import.meta.url));
const RR_PORT = 5301;

/** Bits per second received by an iperf3 server in `serverNs` from a client in `clientNs`. */
export async function iperf(
  exec: Exec,
  o: { serverNs: string; clientNs: string; ip: string; seconds: number; port: number },
): Promise<number> {
  const port = String(o.port);
  const server = spawn('nsenter', [`--net=${o.serverNs}`, '--', 'iperf3', '-s', '-1', '-p', port], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const r = await exec.run({
      argv: ['iperf3', '-c', o.ip, '-p', port, '-t', String(o.seconds), '-J'],
      netns: o.clientNs,
      timeoutMs: (o.seconds + 20) * 1000,
    });
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second;
  } finally {
    server.kill('SIGKILL');
  }
}

/** New TCP connections per second from `clientNs` to ip:80 for `ms`, 16 in flight; none may fail. */
export async function connRate(exec: Exec, clientNs: string, ip: string, ms: number): Promise<number> {
  return (await connRun(exec, clientNs, ip, ms)).perSec;
}

/** connRate, with the number of connections made (for benchmarks that check what saw them). */
export async function connRun(
  exec: Exec,
  clientNs: string,
  ip: string,
  ms: number,
): Promise<{ perSec: number; connections: number }> {
  const r = await exec.run({
    argv: [process.execPath, CONN_RATE, ip, '80', String(ms), '16'],
    netns: clientNs,
    timeoutMs: ms + 30_000,
  });
  const j = JSON.parse(r.stdout) as { connections: number; errors: number; ms: number };
  if (j.errors > 0) throw new Error(`conn-rate: ${j.errors} of ${j.connections + j.errors} connections failed`);
  return { perSec: (j.connections / j.ms) * 1000, connections: j.connections };
}

/**
 * TCP round trips per second (netperf's TCP_RR, bench/tcp-rr.ts on both ends) from clientNs to
 * ip over one connection, one byte each way, for `ms`; the echo end runs in serverNs.
 */
export async function tcpRoundTrips(
  exec: Exec,
  o: { serverNs: string; clientNs: string; ip: string; ms: number },
): Promise<number> {
  const server = spawn('nsenter', [`--net=${o.serverNs}`, '--', process.execPath, TCP_RR, 'serve', String(RR_PORT)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: server.stdout! }).once('line', () => resolve());
      server.once('exit', (code) => reject(new Error(`tcp-rr server exited (${code})`)));
    });
    const r = await exec.run({
      argv: [process.execPath, TCP_RR, o.ip, String(RR_PORT), String(o.ms)],
      netns: o.clientNs,
      timeoutMs: o.ms + 20_000,
    });
    const j = JSON.parse(r.stdout) as { roundTrips: number; ms: number };
    return (j.roundTrips / j.ms) * 1000;
  } finally {
    server.kill('SIGKILL');
  }
}
