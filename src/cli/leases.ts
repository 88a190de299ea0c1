// `weft leases`: the subnet leases in the datastore, one line per node (or JSON).
import type { Command } from 'commander';
import { openStore, type StoreOptions } from '../agent/open-store.js';
import { etcdOptions } from './etcd-options.js';

export function registerLeases(program: Command): void {
  etcdOptions(
    program
      .command('leases')
      .description("list the nodes' subnet leases in the datastore")
      .option('--store <kind>', 'datastore: embedded | etcd', 'embedded')
      .option('--store-file <path>', 'embedded store file', '/var/lib/weft/store.db'),
  )
    .option('-o, --output <format>', 'table | json', 'table')
    .action(async (opts: StoreOptions & { output: string }) => {
      const store = await openStore(opts);
      try {
        const leases = await store.listLeases();
        if (opts.output === 'json') {
          process.stdout.write(JSON.stringify(leases, null, 2) + '\n');
          return;
        }
        if (opts.output !== 'table') throw new Error(`-o: unknown format "${opts.output}" (expected table or json)`);
        const rows = [
          ['SUBNET', 'PUBLIC-IP', 'BACKEND', 'NODE', 'EXPIRES'],
          ...leases.map((l) => [
            l.subnet,
            l.publicIp,
            l.backendType,
            l.nodeName ?? '',
            new Date(l.expiresAt).toISOString(),
          ]),
        ];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows)
          process.stdout.write(
            r
              .map((c, i) => c.padEnd(widths[i]!))
              .join('  ')
              .trimEnd() + '\n',
          );
      } finally {
        await store.close();
      }
    });
}
