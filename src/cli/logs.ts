// `weft logs [-n NS] POD [-c CONTAINER] [--tail N] [-f]`: a pod program's stdout and stderr, as the lab's kubelet keeps them.
import type { Command } from 'commander';
import { followLog, lastLines, podLogFile, readLog } from '../lab/pod-logs.js';
import { openLab, withLabOption } from './lab-common.js';

export function registerLogs(program: Command): void {
  withLabOption(
    program
      .command('logs')
      .description("print the log (stdout and stderr) of a pod's program, e.g. weft logs -n x web --tail 20 -f")
      .argument('<pod>', "the pod's name")
      .option('-n, --namespace <ns>', "the pod's namespace", 'default')
      .option('-c, --container <name>', 'the container (default: the only one, or the first)')
      .option('--tail <lines>', 'only the last N lines (-1: all)', '-1')
      .option('-f, --follow', 'keep printing what the program writes, until interrupted'),
  ).action(
    async (
      pod: string,
      flags: { namespace: string; container?: string; tail: string; follow?: boolean; lab?: string },
    ) => {
      const tail = Number(flags.tail);
      if (!Number.isInteger(tail) || tail < -1)
        throw new Error(`--tail: ${JSON.stringify(flags.tail)}: must be an integer >= -1`);
      const lab = openLab(flags);
      let found;
      try {
        const view = (await lab.pods()).find(
          (p) => p.stored.object.metadata.namespace === flags.namespace && p.stored.object.metadata.name === pod,
        );
        if (!view) throw new Error(`pods "${pod}" not found in namespace "${flags.namespace}"`);
        found = podLogFile(view.stored.object, lab.paths.podLogDir(flags.namespace, pod), flags.container);
      } finally {
        await lab.close();
      }
      if (found.note) process.stderr.write(`${found.note}\n`);
      const { text, size } = readLog(found.file);
      process.stdout.write(tail === -1 ? text : lastLines(text, tail));
      if (!flags.follow) return;
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      await followLog(found.file, size, (t) => process.stdout.write(t), 200, stop.signal);
    },
  );
}
