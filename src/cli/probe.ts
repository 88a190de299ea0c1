// `weft probe`: the real-traffic reachability matrix between pods.
import type { Command } from 'commander';
import { probeJson, renderTruthTable } from '../core/lab/probe-table.js';
import {
  checkMatrixOutput,
  openLab,
  parsePort,
  requireRoot,
  selectPods,
  withMatrixOptions,
  type MatrixFlags,
} from './lab-common.js';

export function registerProbe(program: Command): void {
  withMatrixOptions(
    program
      .command('probe')
      .description(
        'send real traffic from every selected pod to every selected pod on one port (from inside each source pod) and print who reached whom',
      )
      .option('--timeout-ms <ms>', 'how long one attempt waits for an answer', '1000'),
    'TCP or UDP',
  ).action(async (flags: MatrixFlags & { timeoutMs: string }) => {
    const port = parsePort(flags.port);
    const protocol = flags.protocol.toUpperCase();
    if (protocol !== 'TCP' && protocol !== 'UDP')
      throw new Error(
        `--protocol: "${flags.protocol}" cannot be probed (use TCP or UDP; this kernel has no SCTP sockets)`,
      );
    const timeoutMs = Number(flags.timeoutMs);
    if (!/^\d+$/.test(flags.timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000)
      throw new Error(`--timeout-ms: "${flags.timeoutMs}" must be from 1 to 60000`);
    checkMatrixOutput(flags.output);
    requireRoot('probe');
    const lab = openLab(flags);
    try {
      const pods = await selectPods(lab, flags);
      const matrix = await lab.probeMatrix(pods, port, protocol, timeoutMs);
      process.stdout.write(flags.output === 'json' ? probeJson(matrix) : renderTruthTable(matrix));
    } finally {
      await lab.close();
    }
  });
}
