/**
 * Where the DNS server forwards names outside the cluster zone: the nameservers of a
 * resolv.conf (resolv.conf(5): `nameserver ADDR` lines, the first three count, as glibc's
 * MAXNS) or `--upstream IP[:port]` flags (`[v6]:port` for IPv6 with a port). Pure parsing; the
 * CLI reads the file.
 */

import { canonicalIp } from './dns-names.js';

export interface Upstream {
  host: string;
  port: number;
}

/** glibc reads at most three nameservers (MAXNS). */
const MAX_NAMESERVERS = 3;

/** The nameservers of a resolv.conf text, in order; [] when it has none. */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)$/.exec(line);
    if (!m) continue;
    // A zone index (fe80::1%eth0) cannot be used from another namespace; such lines are skipped.
    const ip = canonicalIp(m[1]!);
    if (ip !== undefined && out.length < MAX_NAMESERVERS) out.push({ host: ip, port: 53 });
  }
  return out;
}

/** Parses `IP`, `IP:port` or `[IPv6]:port`; throws naming the flag and the value. */
export function parseUpstream(text: string, flag = '--upstream'): Upstream {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const v4port = /^([^:]+):(\d+)$/.exec(text);
  const [hostText, portText] = bracket
    ? [bracket[1]!, bracket[2]]
    : v4port
      ? [v4port[1]!, v4port[2]]
      : [text, undefined];
  const host = canonicalIp(hostText);
  if (host === undefined) throw new Error(`${flag} "${text}": not an IP address (expected IP, IP:PORT or [IPv6]:PORT)`);
  const port = portText === undefined ? 53 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${flag} "${text}": port must be between 1 and 65535`);
  return { host, port };
}
