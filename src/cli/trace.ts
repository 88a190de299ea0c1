// `weft trace FROM TO [--port P] [--protocol TCP|UDP|ICMP] [-o text|json]`: one real packet, followed hop by hop by the kernel's nftables tracing.
import type { Command } from 'commander';
import { hopsOf, renderHops } from '../core/trace/hops.js';
import { predictFor } from '../core/trace/predict.js';
import type { TraceProtocol } from '../core/trace/trace-table.js';
import { openLab, parsePort, requireRoot, withLabOption } from './lab-common.js';

const PROTOCOLS: Record<string, TraceProtocol> = { TCP: 'tcp', UDP: 'udp', ICMP: 'icmp' };

export function registerTrace(program: Command): void {
  withLabOption(
    program
      .command('trace')
      .description(
        'send one real packet from a pod and print the path the kernel reports for it, namespace by namespace, with every nftables rule that decided something (e.g. weft trace x/a y/b --port 80)',
      )
      .argument('<from>', 'the sending pod, NAMESPACE/NAME, or outside (outside=IP: a client outside the cluster)')
      .argument(
        '<to>',
        'a pod NAMESPACE/NAME, service/NAMESPACE/NAME (from outside: its load-balancer address), node/NAME, or an IPv4 address',
      )
      .option('--port <port>', "the destination port (default: a Service's first port)")
      .option('--protocol <protocol>', 'TCP (a SYN), UDP (a datagram) or ICMP (an echo request)', 'TCP')
      .option('-o, --output <format>', 'text or json', 'text'),
  ).action(
    async (from: string, to: string, flags: { port?: string; protocol: string; output: string; lab?: string }) => {
      const protocol = PROTOCOLS[flags.protocol.toUpperCase()];
      if (!protocol) throw new Error(`--protocol: ${JSON.stringify(flags.protocol)}: must be TCP, UDP or ICMP`);
      if (flags.output !== 'text' && flags.output !== 'json')
        throw new Error(`-o: ${JSON.stringify(flags.output)}: must be text or json`);
      const port = flags.port === undefined ? undefined : parsePort(flags.port);
      if (protocol === 'icmp' && port !== undefined) throw new Error('--port: an ICMP echo has no port');
      requireRoot('weft trace');
      const lab = openLab(flags);
      try {
        const { real, model } = await lab.trace(from, to, port, protocol);
        const { hops, end } = hopsOf(real.seen, real.probe.from.label);
        const { predicted, differences } = predictFor({ hops, end }, model, real.probe);
        if (flags.output === 'json') {
          process.stdout.write(
            `${JSON.stringify({ probe: real.probe, hops, end, predicted, differences }, null, 2)}\n`,
          );
          return;
        }
        const p = real.probe;
        process.stdout.write(
          `trace ${from} → ${p.daddr}${p.port !== undefined ? `:${p.port}` : ''} ${p.protocol} (one packet, ip id ${p.ipId}${p.sport !== undefined ? `, source port ${p.sport}` : ''})\n`,
        );
        process.stdout.write(renderHops(hops, end));
        process.stdout.write(
          differences.length === 0
            ? `the model predicts the same: ${predicted.hops.join(' → ')}\n`
            : `MISMATCH between the kernel and weft's model (a bug: please report it):\n${differences.map((d) => `  ${d}`).join('\n')}\n`,
        );
      } finally {
        await lab.close();
      }
    },
  );
}
