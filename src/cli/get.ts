// `weft get KIND [NAME] [-n NS | -A] [-o wide|json|yaml]`, printed as kubectl prints it.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import type { Stored } from '../ports/object-store.js';
import {
  namespaceRows,
  nodeDocument,
  nodeRows,
  noResources,
  objectDocument,
  podDocument,
  podRows,
  policyRows,
  renderTable,
  serviceRows,
  toList,
  type Rows,
} from '../core/lab/views.js';
import { openLab, requireRoot, withLabOption } from './lab-common.js';

type Kind = 'nodes' | 'namespaces' | 'pods' | 'networkpolicies' | 'services';
const KINDS: Record<string, Kind> = {
  nodes: 'nodes', node: 'nodes', no: 'nodes',
  namespaces: 'namespaces', namespace: 'namespaces', ns: 'namespaces',
  pods: 'pods', pod: 'pods', po: 'pods',
  networkpolicies: 'networkpolicies', networkpolicy: 'networkpolicies', netpol: 'networkpolicies',
  services: 'services', service: 'services', svc: 'services',
};
const SINGULAR: Record<Kind, string> = { nodes: 'nodes', namespaces: 'namespaces', pods: 'pods', networkpolicies: 'networkpolicies.networking.k8s.io', services: 'services' };

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
      .description('show lab objects: nodes (subnet, public IP, backend, readiness), namespaces, pods (phase, IP, node), networkpolicies, services')
      .argument('<kind>', 'nodes | namespaces | pods | networkpolicies | services (kubectl\'s short names work too)')
      .argument('[name]', 'only this object')
      .option('-n, --namespace <ns>', 'namespace of namespaced kinds', 'default')
      .option('-A, --all-namespaces', 'every namespace', false)
      .option('-o, --output <format>', 'wide, json or yaml'),
  ).action(async (kindArg: string, name: string | undefined, flags: GetFlags) => {
    const kind = KINDS[kindArg.toLowerCase()];
    if (!kind) throw new Error(`get: unknown kind "${kindArg}" (use nodes, namespaces, pods, networkpolicies or services)`);
    const output = flags.output ?? 'table';
    if (!['table', 'wide', 'json', 'yaml'].includes(output)) throw new Error(`-o: "${output}" is not a format (use wide, json or yaml)`);
    requireRoot('get');
    const lab = openLab(flags);
    try {
      const now = Date.now();
      const namespaced = kind === 'pods' || kind === 'networkpolicies' || kind === 'services';
      const inScope = (s: Stored) => !namespaced || flags.allNamespaces || (s.object.kind !== 'Namespace' && s.object.metadata.namespace === flags.namespace);
      const named = (n: string) => name === undefined || n === name;
      const view = { wide: output === 'wide', allNamespaces: flags.allNamespaces && namespaced };
      let docs: Array<Record<string, unknown>>;
      let rows: Rows;
      if (kind === 'nodes') {
        const nodes = (await lab.nodes()).filter((n) => named(n.name));
        docs = nodes.map(nodeDocument);
        rows = nodeRows(nodes, now, view);
      } else if (kind === 'pods') {
        const pods = (await lab.store.list('Pod')).filter((p) => inScope(p) && named(p.object.metadata.name));
        docs = pods.map(podDocument);
        rows = podRows(pods, now, view);
      } else if (kind === 'namespaces') {
        const list = (await lab.store.list('Namespace')).filter((n) => named(n.object.metadata.name));
        docs = list.map(objectDocument);
        rows = namespaceRows(list, now, view);
      } else if (kind === 'networkpolicies') {
        const list = (await lab.store.list('NetworkPolicy')).filter((p) => inScope(p) && named(p.object.metadata.name));
        docs = list.map(objectDocument);
        rows = policyRows(list, now, view);
      } else {
        const list = (await lab.store.list('Service')).filter((s) => inScope(s) && named(s.object.metadata.name));
        docs = list.map(objectDocument);
        rows = serviceRows(list, now, view);
      }
      if (name !== undefined && docs.length === 0) {
        throw new Error(`${SINGULAR[kind]} "${name}" not found${namespaced ? ` in namespace "${flags.namespace}"` : ''}`);
      }
      // kubectl prints the object itself when one was named, else a List.
      const doc = name !== undefined ? docs[0] : toList(docs);
      if (output === 'json') process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      else if (output === 'yaml') process.stdout.write(stringify(doc));
      else if (rows.rows.length === 0) process.stderr.write(noResources(namespaced && !flags.allNamespaces ? flags.namespace : undefined));
      else process.stdout.write(renderTable(rows.header, rows.rows));
    } finally {
      await lab.close();
    }
  });
}
