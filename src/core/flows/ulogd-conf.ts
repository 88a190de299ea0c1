/**
 * The configuration of the node's ulogd2 (Debian's `ulogd2` and `ulogd2-json`), which reads the
 * policy table's NFLOG group and writes one JSON object a line to the agent's unix socket.
 *
 * The stack: NFLOG (the input, bound to the group in the namespace ulogd runs in: NFLOG is per
 * network namespace, so the agent starts it inside its node's) → BASE (decodes the IP and
 * transport headers) → IP2STR (addresses as text) → JSON (mode "unix": ulogd connects to the
 * socket the agent listens on). No IFINDEX: a flow names pods, not interfaces, and every
 * filter is work done for each logged connection.
 *
 * Latency: the kernel batches NFLOG messages per group until `netlink_qthreshold` packets are
 * queued or `netlink_qtimeout` (hundredths of a second) passed; its defaults are 100 packets and
 * one second, too slow for "shown within a second", so a flow is sent after at most 50 ms.
 */

export interface UlogdConfOptions {
  /** The NFLOG group to read. */
  group: number;
  /** The unix socket JSON records go to (at most 107 bytes: sockaddr_un). */
  socketPath: string;
  /** ulogd's own log file. */
  logFile: string;
  /** Where Debian installs the plugins. */
  pluginDir: string;
}

export const DEBIAN_ULOGD_PLUGIN_DIR = '/usr/lib/x86_64-linux-gnu/ulogd';

const PLUGINS = ['ulogd_inppkt_NFLOG.so', 'ulogd_raw2packet_BASE.so', 'ulogd_filter_IP2STR.so', 'ulogd_output_JSON.so'];

function quoted(what: string, text: string): string {
  if (/["\n]/.test(text)) throw new Error(`ulogd.conf: ${what} ${JSON.stringify(text)} cannot be written`);
  return `"${text}"`;
}

export function ulogdConf(o: UlogdConfOptions): string {
  if (new TextEncoder().encode(o.socketPath).length > 107)
    throw new Error(`ulogd.conf: socket path ${o.socketPath} is longer than a unix socket address allows (107 bytes)`);
  return [
    '# Written by the weft agent: the flow log of this node (see src/core/flows/ulogd-conf.ts).',
    '[global]',
    `logfile=${quoted('log file', o.logFile)}`,
    'loglevel=5',
    ...PLUGINS.map((p) => `plugin=${quoted('plugin', `${o.pluginDir}/${p}`)}`),
    'stack=log1:NFLOG,base1:BASE,ip2str1:IP2STR,json1:JSON',
    '',
    '[log1]',
    `group=${o.group}`,
    'netlink_qthreshold=16',
    'netlink_qtimeout=5',
    '',
    '[json1]',
    'sync=1',
    'mode="unix"',
    `file=${quoted('socket path', o.socketPath)}`,
    '',
  ].join('\n');
}
