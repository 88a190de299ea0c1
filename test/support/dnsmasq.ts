/**
 * Debian's dnsmasq as the tests' and benchmarks' real resolver: the argv of a dnsmasq that reads
 * no configuration, no /etc/hosts and no /etc/resolv.conf, stays in the foreground and answers only
 * on `listen`:`port` and only what the caller's own options add (records, hosts files, logging).
 */

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
