// `weft flows`: the lab's flow log (policy verdicts logged by each node's kernel), read from every
// node's agent over its status socket, merged by time; -f follows every node.
import type { Command } from 'commander';
import { flowFilterOf, flowMatches, formatFlow, mergeFlows, type Flow, type FlowFlags } from '../core/flows/flow.js';
import { followNodeFlows, getNodeFlows } from '../adapters/status-client.js';
import { statusSocketPath } from '../agent/node-status.js';
import { openLab, withLabOption } from './lab-common.js';

/**
 * `read` for every node: what the nodes answered. A node that cannot be read (its agent is
 * restarting, or runs with --no-flow-log) is named on stderr and makes the exit status 1, but
 * does not hide the others' flows; when no node answers, that is the error.
 */
async function readAll<T>(
  sockets: ReadonlyArray<{ node: string; path: string }>,
  read: (s: { node: string; path: string }) => Promise<T>,
): Promise<T[]> {
  const results = await Promise.allSettled(sockets.map(read));
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [`node ${sockets[i]!.node}: ${String((r.reason as Error).message)}`] : [],
  );
  if (failed.length === results.length) throw new Error(`no node's flows could be read:\n  ${failed.join('\n  ')}`);
  for (const f of failed) process.stderr.write(`weft flows: ${f}\n`);
  if (failed.length > 0) process.exitCode = 1;
  return results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
}

export function registerFlows(program: Command): void {
  withLabOption(
    program
      .command('flows')
      .description(
        "the flow log: every new connection a NetworkPolicy allowed and every packet one denied, as each node's kernel logged them",
      )
      .option('-n, --namespace <ns>', 'flows with a pod of this namespace at either end (default: default)')
      .option('-A, --all-namespaces', 'flows of every namespace', false)
      .option('--from <pod>', 'only flows from this pod (name, or namespace/name)')
      .option('--to <pod>', 'only flows to this pod (name, or namespace/name)')
      .option('--verdict <verdict>', 'allowed or denied')
      .option('-f, --follow', 'after the flows kept, print new ones as they come, until interrupted', false)
      .option('-o, --output <format>', 'text (one line a flow) or json (a list; with -f one object a line)', 'text'),
  ).action(async (flags: FlowFlags & { follow: boolean; lab?: string }) => {
    const filter = flowFilterOf(flags);
    const lab = openLab(flags);
    const sockets = lab.record.nodes.map((n) => ({ node: n.name, path: statusSocketPath(lab.paths.runDir(n.name)) }));
    await lab.close();
    const print = (f: Flow) =>
      process.stdout.write(flags.output === 'json' ? `${JSON.stringify(f)}\n` : `${formatFlow(f)}\n`);
    if (!flags.follow) {
      const lists = await readAll(sockets, (s) => getNodeFlows(s.path, 5_000));
      const flows = mergeFlows(lists.map((l) => l.flows)).filter((f) => flowMatches(f, filter));
      if (flags.output === 'json') process.stdout.write(`${JSON.stringify(flows, null, 2)}\n`);
      else for (const f of flows) print(f);
      return;
    }
    // Follow first, then read the rings: a flow logged in between is in both, and printed once.
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    process.once('SIGTERM', () => abort.abort());
    const early: Flow[] = [];
    let live = false;
    const seen = new Set<string>();
    const onFlow = (f: Flow) => {
      if (!flowMatches(f, filter)) return;
      if (!live) early.push(f);
      else if (!seen.has(JSON.stringify(f))) print(f);
    };
    const follows = await readAll(sockets, (s) => followNodeFlows(s.path, onFlow, abort.signal));
    const lists = await readAll(sockets, (s) => getNodeFlows(s.path, 5_000));
    for (const f of mergeFlows([...lists.map((l) => l.flows), early]).filter((x) => flowMatches(x, filter))) {
      const key = JSON.stringify(f);
      if (seen.has(key)) continue;
      seen.add(key);
      print(f);
    }
    live = true;
    await Promise.all(follows.map((x) => x.ended));
  });
}
