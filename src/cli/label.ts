// `weft label (pod|namespace) NAME key=value ... [key-] [-n NS] [--overwrite]`, as kubectl label.
import type { Command } from 'commander';
import { openLab, requireRoot, withLabOption } from './lab-common.js';

const KINDS: Record<string, 'Pod' | 'Namespace'> = {
  pod: 'Pod',
  pods: 'Pod',
  po: 'Pod',
  namespace: 'Namespace',
  namespaces: 'Namespace',
  ns: 'Namespace',
};

export function registerLabel(program: Command): void {
  withLabOption(
    program
      .command('label')
      .description('add, change (--overwrite) or remove (key-) labels of a pod or a namespace')
      .argument('<kind>', 'pod or namespace')
      .argument('<name>', "the object's name")
      .argument('<changes...>', 'key=value to set, key- to remove')
      .option('-n, --namespace <ns>', "the pod's namespace", 'default')
      .option('--overwrite', 'allow replacing the value of an existing label', false),
  ).action(
    async (
      kindArg: string,
      name: string,
      changes: string[],
      flags: { namespace: string; overwrite: boolean; lab?: string },
    ) => {
      requireRoot('label');
      const kind = KINDS[kindArg.toLowerCase()];
      if (!kind) throw new Error(`label: "${kindArg}" is not a kind weft labels (use pod or namespace)`);
      const lab = openLab(flags);
      try {
        process.stdout.write(`${await lab.label(kind, name, flags.namespace, changes, flags.overwrite)}\n`);
      } finally {
        await lab.close();
      }
    },
  );
}
