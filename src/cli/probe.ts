// `weft probe`: the real-traffic reachability matrix between pods (kept in the lab as the last
// probe of its port and protocol, for weft ui), or (--to service/NS/NAME) which endpoints of a
// Service answer new connections from each pod.
import { noNetworkReason, podNetworkMode } from '../core/k8s/pod-network.js';
import type { Command } from 'commander';
import { probeJson, renderTruthTable } from '../core/lab/probe-table.js';
import { renderServiceProbe, serviceProbeJson, summarizeServiceProbe } from '../core/lab/service-probe.js';
import { findVipService, parseServiceRef, resolveServicePort } from '../core/services/service-ref.js';
import {
  checkMatrixOutput,
  openLab,
  parsePort,
  requireRoot,
  selectPods,
  withMatrixOptions,
  type MatrixFlags,
} from './lab-common.js';
import { saveProbe } from '../lab/probe-store.js';

interface ProbeFlags extends MatrixFlags {
  timeoutMs: string;
  to?: string;
  connections: string;
}

function parseProtocol(text: string): 'TCP' | 'UDP' {
  const protocol = text.toUpperCase();
  if (protocol !== 'TCP' && protocol !== 'UDP')
    throw new Error(`--protocol: "${text}" cannot be probed (use TCP or UDP; this kernel has no SCTP sockets)`);
  return protocol;
}

export function registerProbe(program: Command): void {
  withMatrixOptions(
    program
      .command('probe')
      .description(
        'send real traffic from every selected pod to every selected pod on one port (from inside each source pod) and print who reached whom; with --to service/NS/NAME, N new connections from each pod to the Service and which endpoints answered',
      )
      .option('--timeout-ms <ms>', 'how long one attempt waits for an answer', '1000')
      .option(
        '--to <service>',
        'service/NAMESPACE/NAME: probe the Service (--port: its port number or name, default its first port)',
      )
      .option('--connections <n>', 'with --to: new connections from each source pod', '10'),
    'TCP or UDP (with --to: default the Service port protocol)',
  ).action(async (flags: ProbeFlags, cmd: Command) => {
    const timeoutMs = Number(flags.timeoutMs);
    if (!/^\d+$/.test(flags.timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000)
      throw new Error(`--timeout-ms: "${flags.timeoutMs}" must be from 1 to 60000`);
    checkMatrixOutput(flags.output);
    const given = (key: string) => cmd.getOptionValueSource(key) === 'cli';
    if (flags.to === undefined) {
      if (given('connections')) throw new Error('--connections: only with --to service/NAMESPACE/NAME');
      const port = parsePort(flags.port);
      const protocol = parseProtocol(flags.protocol);
      requireRoot('probe');
      const lab = openLab(flags);
      try {
        const pods = await selectPods(lab, flags);
        const time = Date.now();
        const revision = await lab.store.revision();
        const matrix = await lab.probeMatrix(pods, port, protocol, timeoutMs);
        // Kept as the lab's last probe of this port and protocol: weft ui lays it over its matrix.
        saveProbe(lab.paths, { ...matrix, time, revision });
        process.stdout.write(flags.output === 'json' ? probeJson(matrix) : renderTruthTable(matrix));
        // Pods with no network are in the matrix (all false); say why, where the table cannot.
        for (const p of pods)
          if (podNetworkMode(p.stored.object) === 'none')
            process.stderr.write(`note: ${noNetworkReason(p.stored.object)}; every probe to and from it fails\n`);
      } finally {
        await lab.close();
      }
      return;
    }
    const ref = parseServiceRef(flags.to, '--to');
    const connections = Number(flags.connections);
    if (!/^\d+$/.test(flags.connections) || connections < 1 || connections > 1000)
      throw new Error(`--connections: "${flags.connections}" must be from 1 to 1000`);
    const protocolArg = given('protocol') ? parseProtocol(flags.protocol) : undefined;
    if (given('port') && !/^(\d+|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.test(flags.port))
      throw new Error(`--port: "${flags.port}" is neither a port number nor a port name`);
    requireRoot('probe');
    const lab = openLab(flags);
    try {
      const service = findVipService(
        (await lab.store.list('Service')).map((s) => s.object),
        ref,
        '--to',
      );
      const port = resolveServicePort(service, given('port') ? flags.port : undefined, protocolArg);
      if (port.protocol === 'SCTP')
        throw new Error(`--port: port ${port.port} of service "${flags.to}" is SCTP, which this kernel cannot probe`);
      const pods = await selectPods(lab, flags);
      const sources = await lab.probeService(
        pods,
        service.spec.clusterIP,
        port.port,
        port.protocol,
        connections,
        timeoutMs,
      );
      const result = summarizeServiceProbe(
        {
          service: `${ref.namespace}/${ref.name}`,
          clusterIP: service.spec.clusterIP,
          port: port.port,
          protocol: port.protocol,
          ...(port.name ? { portName: port.name } : {}),
          connections,
        },
        sources,
      );
      process.stdout.write(flags.output === 'json' ? serviceProbeJson(result) : renderServiceProbe(result));
    } finally {
      await lab.close();
    }
  });
}
