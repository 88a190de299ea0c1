// `weft net-conf put|get`: store or show the cluster's net-conf.json in the datastore, as an
// operator edits Flannel's ConfigMap (agents pick a change up when they restart).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { openStore, type StoreOptions } from '../agent/open-store.js';
import { etcdOptions } from './etcd-options.js';
import { parseNetConf } from '../core/flannel/net-conf.js';

type StoreOpts = StoreOptions;

function storeOptions(cmd: Command): Command {
  return etcdOptions(
    cmd
      .option('--store <kind>', 'datastore: embedded | etcd', 'embedded')
      .option('--store-file <path>', 'embedded store file', '/var/lib/weft/store.db'),
  );
}

export function registerNetConf(program: Command): void {
  const nc = program
    .command('net-conf')
    .description("the cluster network config (Flannel's net-conf.json) in the datastore");
  storeOptions(
    nc
      .command('put')
      .description('validate and store net-conf.json')
      .requiredOption('-f, --file <file>', 'net-conf.json'),
  ).action(async (opts: StoreOpts & { file: string }) => {
    const text = readFileSync(opts.file, 'utf8');
    parseNetConf(text);
    const store = await openStore(opts);
    try {
      await store.putConfig(text);
    } finally {
      await store.close();
    }
    process.stdout.write(`stored ${opts.file}\n`);
  });
  storeOptions(nc.command('get').description('print the stored net-conf.json')).action(async (opts: StoreOpts) => {
    const store = await openStore(opts);
    try {
      const text = await store.getConfig();
      if (text === undefined) throw new Error('no network config is stored');
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    } finally {
      await store.close();
    }
  });
}
