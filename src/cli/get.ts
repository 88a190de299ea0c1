// `weft get KIND [NAME] [-n NS | -A] [-o wide|json|yaml]`, printed as kubectl prints it. The kinds,
// their names and columns come from the kinds registry (src/core/k8s/kinds.ts).
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { KIND_INFO, kindNamed, NODE_RESOURCE, resourceNames, SUPPORTED_KINDS } from '../core/k8s/kinds.js';
import { namespaceOf, type K8sKind } from '../core/k8s/objects.js';
import type { Stored } from '../ports/object-store.js';
import {
  nodeDocument,
  nodeRows,
  noResources,
  objectDocument,
  objectRows,
  podDocument,
  renderTable,
  toList,
  type Rows,
} from '../core/lab/views.js';
import { openLab, requireRoot, withLabOption } from './lab-common.js';
import { bgpRouteRows, bgpSessionRows } from '../core/bgp/bgp-view.js';
import { labBgpStatus } from '../lab/bgp-status.js';
import { NodeExec } from '../adapters/exec.js';

type Kind = K8sKind | 'Node';

function kindOf(arg: string): Kind | undefined {
  const a = arg.toLowerCase();
  if (
    a === NODE_RESOURCE.plural ||
    a === NODE_RESOURCE.singular ||
    (NODE_RESOURCE.shortNames as readonly string[]).includes(a)
  )
    return 'Node';
  return kindNamed(a);
}

const KIND_LIST = [NODE_RESOURCE.plural, ...SUPPORTED_KINDS.map((k) => KIND_INFO[k].plural)].join(' | ');

interface GetFlags {
  namespace: string;
  allNamespaces: boolean;
  output?: string;
  lab?: string;
}

export function registerGet(program: Command): void {
  withLabOption(
    program
      .command('get')
      .description(
        "show lab objects: nodes (subnet, public IP, backend, readiness), namespaces, pods (phase, IP, node), networkpolicies, services, endpointslices; and bgp: each node's BGP sessions and learnt routes (bgp backend, from birdc)",
      )
      .argument('<kind>', `${KIND_LIST} | bgp (kubectl's short names work too)`)
      .argument('[name]', 'only this object')
      .option('-n, --namespace <ns>', 'namespace of namespaced kinds', 'default')
      .option('-A, --all-namespaces', 'every namespace', false)
      .option('-o, --output <format>', 'wide, json or yaml'),
  ).action(async (kindArg: string, name: string | undefined, flags: GetFlags) => {
    if (kindArg.toLowerCase() === 'bgp') return getBgp(name, flags);
    const kind = kindOf(kindArg);
    if (!kind) throw new Error(`get: unknown kind "${kindArg}" (use ${KIND_LIST.replaceAll(' | ', ', ')})`);
    const output = flags.output ?? 'table';
    if (!['table', 'wide', 'json', 'yaml'].includes(output))
      throw new Error(`-o: "${output}" is not a format (use wide, json or yaml)`);
    requireRoot('get');
    const lab = openLab(flags);
    try {
      const now = Date.now();
      const namespaced = kind !== 'Node' && KIND_INFO[kind].scope === 'Namespaced';
      const inScope = (s: Stored) => !namespaced || flags.allNamespaces || namespaceOf(s.object) === flags.namespace;
      const named = (n: string) => name === undefined || n === name;
      const view = { wide: output === 'wide', allNamespaces: flags.allNamespaces && namespaced };
      let docs: Array<Record<string, unknown>>;
      let rows: Rows;
      if (kind === 'Node') {
        const nodes = (await lab.nodes()).filter((n) => named(n.name));
        docs = nodes.map(nodeDocument);
        // A lab made with --peer: which nodes run flanneld, which weft's agent.
        const daemons = lab.record.spec.peers
          ? Object.fromEntries(lab.record.nodes.map((n) => [n.name, n.peer === 'flannel' ? 'flanneld' : 'weft']))
          : undefined;
        rows = nodeRows(nodes, now, {
          ...view,
          segments: lab.record.spec.segments ?? 1,
          ...(daemons ? { daemons } : {}),
        });
      } else {
        const list = (await lab.store.list(kind)).filter((s) => inScope(s) && named(s.object.metadata.name));
        docs = list.map((s) =>
          s.object.kind === 'Pod' ? podDocument(s as Stored<typeof s.object>) : objectDocument(s),
        );
        rows = objectRows(kind, list, now, view);
      }
      if (name !== undefined && docs.length === 0) {
        const plural = kind === 'Node' ? NODE_RESOURCE.plural : resourceNames(kind).plural;
        throw new Error(`${plural} "${name}" not found${namespaced ? ` in namespace "${flags.namespace}"` : ''}`);
      }
      // kubectl prints the object itself when one was named, else a List.
      const doc = name !== undefined ? docs[0] : toList(docs);
      if (output === 'json') process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      else if (output === 'yaml') process.stdout.write(stringify(doc));
      else if (rows.rows.length === 0)
        process.stderr.write(noResources(namespaced && !flags.allNamespaces ? flags.namespace : undefined));
      else process.stdout.write(renderTable(rows.header, rows.rows));
    } finally {
      await lab.close();
    }
  });
}

/** `weft get bgp [NODE]`: every node's (and the router's) sessions and learnt routes, from birdc. */
async function getBgp(name: string | undefined, flags: GetFlags): Promise<void> {
  const output = flags.output ?? 'table';
  if (!['table', 'wide', 'json'].includes(output))
    throw new Error(`-o: "${output}" is not a format for bgp (use json)`);
  requireRoot('get bgp');
  const lab = openLab(flags);
  try {
    if (lab.record.spec.backend !== 'bgp')
      throw new Error(`get bgp: lab ${lab.record.spec.name} runs the ${lab.record.spec.backend} backend, not bgp`);
    const all = await labBgpStatus(new NodeExec(), lab.paths, lab.record);
    const status = all.filter((s) => name === undefined || s.speaker === name);
    if (name !== undefined && status.length === 0)
      throw new Error(`get bgp: no BGP speaker "${name}" (a node or router)`);
    if (output === 'json') {
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      return;
    }
    const sessions = bgpSessionRows(status);
    const routes = bgpRouteRows(status);
    process.stdout.write(renderTable(sessions.header, sessions.rows));
    process.stdout.write(
      `\n${routes.rows.length === 0 ? 'no routes learnt\n' : renderTable(routes.header, routes.rows)}`,
    );
  } finally {
    await lab.close();
  }
}
