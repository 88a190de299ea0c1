// `weft leases`: the subnet leases in the datastore, one line per node (or JSON).
import type { Command } from 'commander';
import { openStore } from '../agent/open-store.js';

export function registerLeases(program: Command): void {
  program
    .command('leases')
    .description("list the nodes' subnet leases in the datastore")
    .option('--store <kind>', 'datastore: embedded | etcd', 'embedded')
    .option('--store-file <path>', 'embedded store file', '/var/lib/weft/store.db')
    .option('--etcd-endpoints <urls>', 'etcd client URLs', 'http://127.0.0.1:2379')
    .option('--etcd-prefix <prefix>', 'etcd key prefix', '/coreos.com/network')
    .option('-o, --output <format>', 'table | json', 'table')
    .action(
      async (opts: { store: string; storeFile: string; etcdEndpoints: string; etcdPrefix: string; output: string }) => {
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
      },
    );
}
