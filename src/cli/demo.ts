// `weft demo`: see src/lab/two-pod-demo.ts.
import type { Command } from 'commander';
import { runTwoPodDemo } from '../lab/two-pod-demo.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      "wire two pods on one node with weft's CNI plugins in throwaway namespaces, prove they talk, and clean up",
    )
    .option('--subnet <cidr>', 'pod subnet of the node', '10.244.0.0/24')
    .option('--host-port <port>', 'hostPort mapped to pod-b:80', '8080')
    .action(async (opts: { subnet: string; hostPort: string }) => {
      if (process.getuid?.() !== 0) throw new Error('demo: run as root (it creates network namespaces)');
      await runTwoPodDemo({
        prefix: 'weft-demo-',
        subnet: opts.subnet,
        hostPort: Number(opts.hostPort),
        out: (l) => process.stdout.write(`${l}\n`),
      });
    });
}
