// `weft install-cni --bin-dir DIR [--prefix P]`: see src/cni/install.ts.
import type { Command } from 'commander';
import { installCni } from '../cni/install.js';

export function registerInstallCni(program: Command): void {
  program
    .command('install-cni')
    .description('install the weft CNI plugins (bridge, host-local, loopback, portmap) into a CNI bin dir')
    .requiredOption('--bin-dir <dir>', "the container runtime's CNI bin dir, e.g. /opt/cni/bin")
    .option('--prefix <prefix>', "file name prefix, so weft's plugins can sit beside the reference ones", 'weft-')
    .action((opts: { binDir: string; prefix: string }) => {
      for (const path of installCni({ binDir: opts.binDir, prefix: opts.prefix }))
        process.stdout.write(`installed ${path}\n`);
    });
}
