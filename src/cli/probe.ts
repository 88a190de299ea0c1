// `weft probe`: the real-traffic reachability matrix between pods.
import type { Command } from 'commander';
import { matrixFrom, probeJson, renderTruthTable } from '../core/lab/probe-table.js';
import { openLab, requireRoot, withLabOption } from './lab-common.js';

interface ProbeFlags {
  namespace?: string;
  allNamespaces: boolean;
  port: string;
  protocol: string;
  timeoutMs: string;
  output: string;
  lab?: string;
}

export function registerProbe(program: Command): void {
  withLabOption(
    program
      .command('probe')
      .description('send real traffic from every selected pod to every selected pod on one port (from inside each source pod) and print who reached whom')
      .option('-n, --namespace <ns>', 'pods of this namespace', 'default')
      .option('-A, --all-namespaces', 'pods of every namespace', false)
      .option('--port <port>', 'destination port', '80')
      .option('--protocol <protocol>', 'TCP or UDP', 'TCP')
      .option('--timeout-ms <ms>', 'how long one attempt waits for an answer', '1000')
      .option('-o, --output <format>', 'table or json', 'table'),
  ).action(async (flags: ProbeFlags) => {
    const port = Number(flags.port);
    if (!/^\d+$/.test(flags.port) || port < 1 || port > 65535) throw new Error(`--port: "${flags.port}" must be a port number from 1 to 65535`);
    const protocol = flags.protocol.toUpperCase();
    if (protocol !== 'TCP' && protocol !== 'UDP') throw new Error(`--protocol: "${flags.protocol}" cannot be probed (use TCP or UDP; this kernel has no SCTP sockets)`);
    const timeoutMs = Number(flags.timeoutMs);
    if (!/^\d+$/.test(flags.timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) throw new Error(`--timeout-ms: "${flags.timeoutMs}" must be from 1 to 60000`);
    if (flags.output !== 'table' && flags.output !== 'json') throw new Error(`-o: "${flags.output}" is not a format (use table or json)`);
    requireRoot('probe');
    const lab = openLab(flags);
    try {
      const pods = (await lab.pods())
        .filter((p) => flags.allNamespaces || p.stored.object.metadata.namespace === flags.namespace)
        .sort((a, b) => `${a.stored.object.metadata.namespace}/${a.stored.object.metadata.name}`.localeCompare(`${b.stored.object.metadata.namespace}/${b.stored.object.metadata.name}`));
      if (pods.length === 0) throw new Error(`no pods ${flags.allNamespaces ? 'in the lab' : `in namespace "${flags.namespace}"`}`);
      const results = await lab.probe(pods, port, protocol, timeoutMs);
      const connected = new Map(results.map((r) => [`${r.from} ${r.to}`, r.connected]));
      const names = pods.map((p) => `${p.stored.object.metadata.namespace}/${p.stored.object.metadata.name}`);
      const matrix = matrixFrom(names, port, protocol, (from, to) => connected.get(`${from} ${to}`) ?? false);
      process.stdout.write(flags.output === 'json' ? probeJson(matrix) : renderTruthTable(matrix));
    } finally {
      await lab.close();
    }
  });
}
