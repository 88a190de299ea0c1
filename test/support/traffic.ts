/**
 * Real traffic for tests: ping, and TCP/UDP round trips through the lab's own port server
 * (src/lab/echo-server.ts) and connection probe (src/lab/connect.ts), run inside namespaces.
 */

import { fileURLToPath } from 'node:url';
import { startDaemon, type Daemon } from '../../src/adapters/daemon.js';
import { inNs } from './netns.js';

const ECHO = fileURLToPath(new URL('../../src/lab/echo-server.js', import.meta.url));
const CONNECT = fileURLToPath(new URL('../../src/lab/connect.js', import.meta.url));

/** Starts the port server in a namespace; resolves once every port is bound. Stop it in finally. */
export function serve(ns: string, name: string, ports: string[]): Promise<Daemon> {
  return startDaemon(['ip', 'netns', 'exec', ns, process.execPath, ECHO, '--name', name, ...ports], {
    context: `serve ${ports.join(',')} in ${ns}`,
  });
}

/** One TCP or UDP round trip from inside `ns`; returns what the server answered, or throws why not. */
export function roundTrip(ns: string, proto: 'tcp' | 'udp', host: string, port: number, timeoutMs = 2000): string {
  const r = inNs(ns, [
    process.execPath,
    CONNECT,
    proto,
    host,
    String(port),
    String(timeoutMs),
    `payload-${proto}-${port}`,
  ]);
  if (r.status !== 0) throw new Error(`${proto} ${ns} → ${host}:${port}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** True when a TCP/UDP round trip works. */
export function canReach(ns: string, proto: 'tcp' | 'udp', host: string, port: number, timeoutMs = 1000): boolean {
  try {
    roundTrip(ns, proto, host, port, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

/** Pings `ip` from `ns`; throws with ping's output when no reply came back (ping's own exit status). */
export function ping(ns: string, ip: string, count = 2): void {
  const r = inNs(ns, ['ping', ip.includes(':') ? '-6' : '-4', '-c', String(count), '-i', '0.2', '-W', '2', ip]);
  if (r.status !== 0) throw new Error(`ping ${ns} → ${ip} failed: ${r.stdout.trim()} ${r.stderr.trim()}`);
}
