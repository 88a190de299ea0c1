// `weft exec [-n NS] POD -- CMD ARGS...`: a command inside the pod's network namespace.
import { basename } from 'node:path';
import type { Command } from 'commander';
import { runAttached } from '../adapters/exec.js';
import { openLab, requireRoot, withLabOption } from './lab-common.js';

export function registerExec(program: Command): void {
  withLabOption(
    program
      .command('exec')
      .description(
        "run a command inside a pod's network namespace (its interfaces, routes and sockets, and its /etc/resolv.conf), e.g. weft exec -n x a -- ip addr",
      )
      .argument('<pod>', "the pod's name")
      .argument('<command...>', 'the command and its arguments, after --')
      .option('-n, --namespace <ns>', "the pod's namespace", 'default')
      .passThroughOptions(),
  ).action(async (pod: string, command: string[], flags: { namespace: string; lab?: string }) => {
    requireRoot('exec');
    const lab = openLab(flags);
    let nsPath: string;
    let mountNs: string | undefined;
    try {
      nsPath = await lab.podNetnsPath(flags.namespace, pod);
      mountNs = await lab.podMountNs(flags.namespace, pod);
    } finally {
      await lab.close();
    }
    // With pass-through options commander keeps the "--" that separates weft's flags from the command.
    const argv = command[0] === '--' ? command.slice(1) : command;
    if (argv.length === 0) throw new Error('exec: give the command after --, e.g. weft exec -n x a -- ip addr');
    // The lab's namespaces are all named (ip netns): entered as `ip netns exec` enters them, so the
    // pod's own /etc/resolv.conf (written to /etc/netns/NAME/ by its node) is the one it sees.
    // A hostNetwork pod with a resolv.conf of its own has its own mount namespace too.
    process.exitCode = await runAttached({ argv, netnsName: basename(nsPath), ...(mountNs ? { mountNs } : {}) });
  });
}
