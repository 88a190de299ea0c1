// `weft reach` (the policy verdict matrix, computed) and `weft explain FROM TO` (one verdict, with reasons).
import type { Command } from 'commander';
import { matrixFrom, probeJson, renderTruthTable } from '../core/lab/probe-table.js';
import { reachMatrix, reachVerdict } from '../core/policy/reach.js';
import { explainVerdict } from '../core/policy/explain.js';
import { PROTOCOLS, type Protocol } from '../core/k8s/objects.js';
import { LabClient, type PodView } from '../lab/client.js';
import { openLab, withLabOption } from './lab-common.js';

function parsePortProtocol(portText: string, protocolText: string): { port: number; protocol: Protocol } {
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw new Error(`--port: "${portText}" must be a port number from 1 to 65535`);
  const protocol = protocolText.toUpperCase() as Protocol;
  if (!PROTOCOLS.includes(protocol)) throw new Error(`--protocol: "${protocolText}" is not a protocol (use TCP, UDP or SCTP)`);
  return { port, protocol };
}

const name = (p: PodView) => `${p.stored.object.metadata.namespace}/${p.stored.object.metadata.name}`;

export function registerReach(program: Command): void {
  withLabOption(
    program
      .command('reach')
      .description('the verdict matrix computed from the stored NetworkPolicies alone (same shape as weft probe, with "allowed")')
      .option('-n, --namespace <ns>', 'pods of this namespace', 'default')
      .option('-A, --all-namespaces', 'pods of every namespace', false)
      .option('--port <port>', 'destination port', '80')
      .option('--protocol <protocol>', 'TCP, UDP or SCTP', 'TCP')
      .option('-o, --output <format>', 'table or json', 'table'),
  ).action(async (flags: { namespace: string; allNamespaces: boolean; port: string; protocol: string; output: string; lab?: string }) => {
    const { port, protocol } = parsePortProtocol(flags.port, flags.protocol);
    if (flags.output !== 'table' && flags.output !== 'json') throw new Error(`-o: "${flags.output}" is not a format (use table or json)`);
    const lab = openLab(flags);
    try {
      const pods = (await lab.pods())
        .filter((p) => flags.allNamespaces || p.stored.object.metadata.namespace === flags.namespace)
        .sort((a, b) => name(a).localeCompare(name(b)));
      if (pods.length === 0) throw new Error(`no pods ${flags.allNamespaces ? 'in the lab' : `in namespace "${flags.namespace}"`}`);
      const results = reachMatrix(await lab.policyCluster(), pods.map(LabClient.reachPod), port, protocol);
      const allowed = new Map(results.map((r) => [`${r.from} ${r.to}`, r.allowed]));
      const matrix = matrixFrom(pods.map(name), port, protocol, (from, to) => allowed.get(`${from} ${to}`) ?? false);
      process.stdout.write(flags.output === 'json' ? probeJson(matrix, 'allowed') : renderTruthTable(matrix, 'allowed'));
    } finally {
      await lab.close();
    }
  });

  withLabOption(
    program
      .command('explain')
      .description('why FROM may or may not connect to TO (pods as ns/name): the policies that isolate each end and the rule that allows each direction')
      .argument('<from>', 'source pod, namespace/name')
      .argument('<to>', 'destination pod, namespace/name')
      .requiredOption('--port <port>', 'destination port')
      .option('--protocol <protocol>', 'TCP, UDP or SCTP', 'TCP'),
  ).action(async (fromRef: string, toRef: string, flags: { port: string; protocol: string; lab?: string }) => {
    const { port, protocol } = parsePortProtocol(flags.port, flags.protocol);
    const lab = openLab(flags);
    try {
      const pods = await lab.pods();
      const find = (ref: string, arg: string) => {
        if (!/^[^/]+\/[^/]+$/.test(ref)) throw new Error(`${arg}: "${ref}" is not namespace/name`);
        const p = pods.find((v) => name(v) === ref);
        if (!p) throw new Error(`${arg}: pod "${ref}" not found`);
        return LabClient.reachPod(p);
      };
      const from = find(fromRef, 'FROM');
      const to = find(toRef, 'TO');
      const v = reachVerdict(await lab.policyCluster(), from, to, port, protocol);
      if (v.kind === 'fixed') process.stdout.write(`${fromRef} -> ${toRef} on ${port}/${protocol}: ${v.allowed ? 'ALLOWED' : 'DENIED'}\n  ${v.reason}\n`);
      else process.stdout.write(explainVerdict(fromRef, toRef, port, protocol, v.verdict));
    } finally {
      await lab.close();
    }
  });
}
