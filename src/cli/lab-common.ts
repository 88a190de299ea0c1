/**
 * Shared flag handling of the commands that act on a lab: opening it (the lab named as
 * lab-name.ts decides, the same for every command), reading -f manifests, the matrix flags.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { labelSelectorMatches, parseLabelSelectorText } from '../core/k8s/selector.js';
import { NodeExec } from '../adapters/exec.js';
import { LabClient, podViewName, sortPods, type PodView } from '../lab/client.js';
import { labRoot } from '../lab/lab-state.js';
import { labNameOf, withLabOption, type LabFlags } from './lab-name.js';
import { MAX_OBJECTS_PER_APPLY, type LocatedObject } from '../core/k8s/parse.js';

export { DEFAULT_LAB, labNameOf, withLabNameOptions, withLabOption, type LabFlags } from './lab-name.js';

export { requireRoot } from './require-root.js';

export function openLab(flags: LabFlags): LabClient {
  return LabClient.open(labRoot(process.env), labNameOf(flags, process.env), new NodeExec());
}

/**
 * -f arguments: files, directories (their .yaml, .yml and .json files, sorted) or "-" for stdin.
 * Each file is bounded by the parser; the bound holds for the whole apply, over every file, too.
 */
export function readManifestArgs(files: string[]): LocatedObject[] {
  const objects = LabClient.readManifests(files, () => readFileSync(0, 'utf8'));
  if (objects.length > MAX_OBJECTS_PER_APPLY) {
    throw new Error(
      `-f: the manifests hold ${objects.length} objects: at most ${MAX_OBJECTS_PER_APPLY} per apply (split them)`,
    );
  }
  return objects;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Flags shared by the matrix commands (probe, reach). */
export interface MatrixFlags {
  namespace: string;
  allNamespaces: boolean;
  selector?: string;
  port: string;
  protocol: string;
  output: string;
  lab?: string;
}

export function withMatrixOptions(cmd: Command, protocols: string): Command {
  return withLabOption(
    cmd
      .option('-n, --namespace <ns>', 'pods of this namespace', 'default')
      .option(
        '-A, --all-namespaces',
        "pods of every namespace but kube-system (the lab's cluster DNS: -n kube-system names those)",
        false,
      )
      .option('-l, --selector <selector>', "only pods with these labels (kubectl's form: app=web,tier!=db,!canary)")
      .option('--port <port>', 'destination port', '80')
      .option('--protocol <protocol>', protocols, 'TCP')
      .option('-o, --output <format>', 'table or json', 'table'),
  );
}

export function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535)
    throw new Error(`--port: "${text}" must be a port number from 1 to 65535`);
  return port;
}

export function checkMatrixOutput(output: string): void {
  if (output !== 'table' && output !== 'json') throw new Error(`-o: "${output}" is not a format (use table or json)`);
}

export { podViewName };

/**
 * The system namespace, left out of -A matrices: it holds the lab's cluster DNS pods, which serve
 * only DNS, and every matrix over the user's pods (examples/xyz: 81/81) would otherwise carry
 * their rows and columns. `-n kube-system` selects them.
 */
const SYSTEM_NAMESPACE = 'kube-system';

/** The pods of the namespace (or all but kube-system's with -A), sorted by namespace/name; an error when none. */
export async function selectPods(
  lab: LabClient,
  flags: Pick<MatrixFlags, 'namespace' | 'allNamespaces' | 'selector'>,
): Promise<PodView[]> {
  const selector = flags.selector === undefined ? undefined : parseLabelSelectorText(flags.selector);
  const pods = sortPods(
    (await lab.pods()).filter(
      (p) =>
        (flags.allNamespaces
          ? p.stored.object.metadata.namespace !== SYSTEM_NAMESPACE
          : p.stored.object.metadata.namespace === flags.namespace) &&
        (selector === undefined || labelSelectorMatches(selector, p.stored.object.metadata.labels)),
    ),
  );
  if (pods.length === 0)
    throw new Error(
      `no pods ${flags.allNamespaces ? 'in the lab' : `in namespace "${flags.namespace}"`}${flags.selector === undefined ? '' : ` matching -l ${flags.selector}`}`,
    );
  return pods;
}
