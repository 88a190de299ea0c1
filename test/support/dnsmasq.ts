/**
 * Debian's dnsmasq as the tests' and benchmarks' real resolver: the argv of a dnsmasq that reads
 * no configuration, no /etc/hosts and no /etc/resolv.conf, stays in the foreground and answers only
 * on `listen`:`port` and only what the caller's own options add (records, hosts files, logging).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CLI, type TestLab } from './lab.js';

export const DNSMASQ = '/usr/sbin/dnsmasq';

export function dnsmasqArgv(listen: string, port: number, ...options: string[]): string[] {
  return [
    DNSMASQ,
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--bind-interfaces',
    `--listen-address=${listen}`,
    `--port=${port}`,
    ...options,
  ];
}

/**
 * dnsmasq as a lab's upstream resolver: outside the cluster on the underlay segment (`weft lab
 * outside --address ADDRESS`), port 53, its queries logged to `log`, its own names at TTL 300, plus
 * `options`. Detached in a process group of its own: end it with process.kill(-child.pid).
 */
export function startLabUpstream(lab: TestLab, address: string, log: string, ...options: string[]): ChildProcess {
  return spawn(
    process.execPath,
    [
      CLI,
      'lab',
      'outside',
      '--name',
      lab.name,
      '--address',
      address,
      '--',
      ...dnsmasqArgv(
        address,
        53,
        `--pid-file=${join(lab.root, 'dnsmasq.pid')}`,
        '--log-queries',
        `--log-facility=${log}`,
        '--local-ttl=300',
        ...options,
      ),
    ],
    { env: lab.env, stdio: 'ignore', detached: true },
  );
}
