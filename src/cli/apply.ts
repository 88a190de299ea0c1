// `weft apply -f` and `weft delete -f`: parse flags, read manifests, print kubectl's lines.
import type { Command } from 'commander';
import { parseDuration } from '../core/duration.js';
import { podRefs } from '../lab/client.js';
import { collect, openLab, readManifestArgs, requireRoot, withLabOption } from './lab-common.js';

interface ApplyFlags {
  filename: string[];
  lab?: string;
  wait: boolean;
  timeout: string;
  ignoreNotFound?: boolean;
  gracePeriod?: string;
}

/**
 * --grace-period N: seconds a deleted pod is given (0: at once); negative (kubectl's default -1)
 * is ignored, as kubectl has it: each pod's spec.terminationGracePeriodSeconds, else at once.
 */
function parseGracePeriod(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text.trim()))
    throw new Error(`--grace-period: "${text}" is not a whole number of seconds (0 deletes at once)`);
  const n = Number(text);
  return n < 0 ? undefined : n;
}

export function registerApply(program: Command): void {
  withLabOption(
    program
      .command('apply')
      .description(
        'create or update objects from YAML/JSON manifests (all or nothing); waits until the pods in them are Running',
      )
      .option(
        '-f, --filename <path>',
        'a file, a directory of .yaml/.yml/.json files, or - for stdin (repeatable)',
        collect,
        [],
      )
      .option('--no-wait', 'return once stored, without waiting for the pods')
      .option('--timeout <duration>', 'how long to wait for the pods', '120s'),
  ).action(async (flags: ApplyFlags) => {
    requireRoot('apply');
    const objects = readManifestArgs(flags.filename);
    const lab = openLab(flags);
    try {
      for (const line of await lab.apply(objects)) process.stdout.write(`${line}\n`);
      if (flags.wait) await lab.waitForPods(podRefs(objects), parseDuration(flags.timeout, '--timeout'));
    } finally {
      await lab.close();
    }
  });

  withLabOption(
    program
      .command('delete')
      .description(
        'delete the objects named in manifests (all or nothing); deleting a namespace deletes what is in it; waits until the pods are gone',
      )
      .option(
        '-f, --filename <path>',
        'a file, a directory of .yaml/.yml/.json files, or - for stdin (repeatable)',
        collect,
        [],
      )
      .option('--ignore-not-found', 'treat objects that do not exist as deleted', false)
      .option(
        '--grace-period <seconds>',
        "seconds a deleted pod keeps running as terminating (0: at once; default: the pod's terminationGracePeriodSeconds, else at once)",
      )
      .option('--no-wait', 'return once removed from the store, without waiting for the pods to be torn down')
      .option('--timeout <duration>', 'how long to wait for the pods to be gone, after their grace periods', '120s'),
  ).action(async (flags: ApplyFlags) => {
    requireRoot('delete');
    const grace = parseGracePeriod(flags.gracePeriod);
    const objects = readManifestArgs(flags.filename);
    const lab = openLab(flags);
    try {
      const before = await lab.pods();
      const lines = await lab.delete(objects, flags.ignoreNotFound ?? false, grace);
      for (const line of lines) process.stdout.write(`${line}\n`);
      if (flags.wait) {
        // Pods of deleted namespaces go too: wait for every pod that no longer exists or is now
        // terminating (its node removes it when its grace period is over).
        const after = new Map((await lab.pods()).map((p) => [p.stored.meta.uid, p.stored.object]));
        const gone = before
          .filter((p) => {
            const now = after.get(p.stored.meta.uid);
            return now === undefined || now.metadata.deletionTimestamp !== undefined;
          })
          .map((p) => ({ ...p.stored.object.metadata, uid: p.stored.meta.uid }));
        // --timeout counts from the end of the longest grace period (a pod cannot be gone sooner).
        const longestMs = Math.max(
          0,
          ...[...after.values()].map((o) => Date.parse(o.metadata.deletionTimestamp ?? '') - Date.now() || 0),
        );
        await lab.waitForPods(gone, parseDuration(flags.timeout, '--timeout') + longestMs, true);
      }
    } finally {
      await lab.close();
    }
  });
}
