// `weft reach` (the policy verdict matrix, computed) and `weft explain FROM TO` (one verdict, with reasons).
import { explainIngressJourney, renderIngressJourney, type IngressJourneyInput } from '../core/ingress/journey.js';
import { INGRESS_CONTROLLER, INGRESS_NAMESPACE, INGRESS_SERVICE } from '../core/lab/ingress-controller.js';
import { checkOutsideAddress, DEFAULT_OUTSIDE_ADDRESS } from '../core/lab/lab-spec.js';
import type { Command } from 'commander';
import { matrixFrom, probeJson, renderTruthTable } from '../core/lab/probe-table.js';
import { reachMatrix, reachVerdict } from '../core/policy/reach.js';
import { explainVerdict } from '../core/policy/explain.js';
import { explainServiceJourney, renderServiceJourney } from '../core/services/explain.js';
import { findVipService, parseServiceRef, resolveServicePort } from '../core/services/service-ref.js';
import { PROTOCOLS, type Protocol } from '../core/k8s/objects.js';
import { LabClient } from '../lab/client.js';
import {
  checkMatrixOutput,
  openLab,
  parsePort,
  podViewName,
  selectPods,
  withLabOption,
  withMatrixOptions,
  type MatrixFlags,
} from './lab-common.js';

function parsePortProtocol(portText: string, protocolText: string): { port: number; protocol: Protocol } {
  const port = parsePort(portText);
  const protocol = protocolText.toUpperCase() as Protocol;
  if (!PROTOCOLS.includes(protocol))
    throw new Error(`--protocol: "${protocolText}" is not a protocol (use TCP, UDP or SCTP)`);
  return { port, protocol };
}

export function registerReach(program: Command): void {
  withMatrixOptions(
    program
      .command('reach')
      .description(
        'the verdict matrix computed from the stored NetworkPolicies alone (same shape as weft probe, with "allowed")',
      ),
    'TCP, UDP or SCTP',
  ).action(async (flags: MatrixFlags) => {
    const { port, protocol } = parsePortProtocol(flags.port, flags.protocol);
    checkMatrixOutput(flags.output);
    const lab = openLab(flags);
    try {
      const pods = await selectPods(lab, flags);
      const results = reachMatrix(await lab.policyCluster(), pods.map(LabClient.reachPod), port, protocol);
      const allowed = new Map(results.map((r) => [`${r.from} ${r.to}`, r.allowed]));
      const matrix = matrixFrom(
        pods.map(podViewName),
        port,
        protocol,
        (from, to) => allowed.get(`${from} ${to}`) ?? false,
      );
      process.stdout.write(
        flags.output === 'json' ? probeJson(matrix, 'allowed') : renderTruthTable(matrix, 'allowed'),
      );
    } finally {
      await lab.close();
    }
  });

  withLabOption(
    program
      .command('explain')
      .description(
        'why FROM may or may not connect to TO (pods as ns/name): the policies that isolate each end and the rule that allows each direction; with TO service/NS/NAME, the journey of a connection to the Service: map and rule of the node table, candidate endpoints, route or tunnel, policy verdict per candidate',
      )
      .argument('<from>', 'source pod, namespace/name; or outside (a client on the segment) with a URL')
      .argument(
        '<to>',
        'destination pod (namespace/name), service/NAMESPACE/NAME, or http(s)://HOST/PATH: the journey of a request through the Ingress controller',
      )
      .option('--port <port>', 'destination port (a Service: its port number or name, default its first port)')
      .option('--protocol <protocol>', 'TCP, UDP or SCTP (a Service: default its port protocol)', 'TCP')
      .option('-o, --output <format>', 'text or json', 'text'),
  ).action(
    async (
      fromRef: string,
      toRef: string,
      flags: { port?: string; protocol: string; output: string; lab?: string },
      cmd: Command,
    ) => {
      if (flags.output !== 'text' && flags.output !== 'json')
        throw new Error(`-o: "${flags.output}" is not a format (use text or json)`);
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(toRef)) {
        await explainIngress(fromRef, toRef, flags);
        return;
      }
      if (fromRef === 'outside' || fromRef.startsWith('outside='))
        throw new Error(
          'FROM: outside is for a URL (weft explain outside https://HOST/PATH); a pod or Service needs a pod',
        );
      const toService = /^(service|services|svc)\//.test(toRef);
      const serviceRef = toService ? parseServiceRef(toRef, 'TO') : undefined;
      if (!toService && flags.port === undefined) throw new Error('--port: required when TO is a pod');
      const protocolGiven = cmd.getOptionValueSource('protocol') === 'cli';
      const lab = openLab(flags);
      try {
        const pods = await lab.pods();
        const find = (ref: string, arg: string) => {
          if (!/^[^/]+\/[^/]+$/.test(ref)) throw new Error(`${arg}: "${ref}" is not namespace/name`);
          const p = pods.find((v) => podViewName(v) === ref);
          if (!p) throw new Error(`${arg}: pod "${ref}" not found`);
          return LabClient.reachPod(p);
        };
        const from = find(fromRef, 'FROM');
        if (serviceRef) {
          const services = (await lab.store.list('Service')).map((s) => s.object);
          const service = findVipService(services, serviceRef, 'TO');
          const protocol = protocolGiven ? parsePortProtocol('1', flags.protocol).protocol : undefined;
          const port = resolveServicePort(service, flags.port, protocol);
          if (from.ip === undefined || from.node === undefined)
            throw new Error(`FROM: pod "${fromRef}" is not running, so it has no address to connect from`);
          const journey = explainServiceJourney({
            client: from,
            service,
            port,
            services,
            slices: (await lab.store.list('EndpointSlice')).map((s) => s.object),
            pods: pods.map(LabClient.reachPod),
            policy: await lab.policyCluster(),
            ...(await lab.journeyContext()),
          });
          process.stdout.write(
            flags.output === 'json' ? `${JSON.stringify(journey, null, 2)}\n` : renderServiceJourney(journey),
          );
          return;
        }
        const { port, protocol } = parsePortProtocol(flags.port!, flags.protocol);
        const to = find(toRef, 'TO');
        const v = reachVerdict(await lab.policyCluster(), from, to, port, protocol);
        if (flags.output === 'json') {
          const doc =
            v.kind === 'fixed'
              ? { from: fromRef, to: toRef, port, protocol, allowed: v.allowed, reason: v.reason }
              : { from: fromRef, to: toRef, port, protocol, allowed: v.verdict.allowed, verdict: v.verdict };
          process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
        } else if (v.kind === 'fixed')
          process.stdout.write(
            `${fromRef} -> ${toRef} on ${port}/${protocol}: ${v.allowed ? 'ALLOWED' : 'DENIED'}\n  ${v.reason}\n`,
          );
        else process.stdout.write(explainVerdict(fromRef, toRef, port, protocol, v.verdict));
      } finally {
        await lab.close();
      }
    },
  );
}

/**
 * `weft explain FROM http(s)://HOST/PATH`: the request's journey through the lab's ingress
 * controller (src/core/ingress/journey.ts), from outside (`outside` or `outside=IP`) or a pod.
 */
async function explainIngress(
  fromRef: string,
  url: string,
  flags: { port?: string; output: string; lab?: string },
): Promise<void> {
  if (flags.port !== undefined) throw new Error('--port: a URL names its own port (http://HOST:PORT/PATH)');
  const lab = openLab(flags);
  try {
    const pods = await lab.pods();
    const reachPods = pods.map(LabClient.reachPod);
    let from: IngressJourneyInput['from'];
    if (fromRef === 'outside' || fromRef.startsWith('outside=')) {
      const address =
        fromRef === 'outside'
          ? DEFAULT_OUTSIDE_ADDRESS
          : checkOutsideAddress(lab.record.spec, fromRef.slice('outside='.length));
      from = { kind: 'outside', address };
    } else {
      if (!/^[^/]+\/[^/]+$/.test(fromRef)) throw new Error(`FROM: "${fromRef}" is not namespace/name or outside`);
      const p = pods.find((v) => podViewName(v) === fromRef);
      if (!p) throw new Error(`FROM: pod "${fromRef}" not found`);
      const pod = LabClient.reachPod(p);
      if (pod.ip === undefined || pod.node === undefined)
        throw new Error(`FROM: pod "${fromRef}" is not running, so it has no address to connect from`);
      from = { kind: 'pod', pod };
    }
    const services = (await lab.store.list('Service')).map((s) => s.object);
    const journey = explainIngressJourney({
      url,
      from,
      controllerService: services.find(
        (s) => s.metadata.namespace === INGRESS_NAMESPACE && s.metadata.name === INGRESS_SERVICE,
      ),
      controller: INGRESS_CONTROLLER,
      ingresses: (await lab.store.list('Ingress')).map((s) => s.object),
      classes: (await lab.store.list('IngressClass')).map((s) => s.object),
      services,
      slices: (await lab.store.list('EndpointSlice')).map((s) => s.object),
      secrets: (await lab.store.list('Secret')).map((s) => s.object),
      pods: reachPods,
      policy: await lab.policyCluster(),
      network: await lab.journeyContext(),
    });
    process.stdout.write(
      flags.output === 'json' ? `${JSON.stringify(journey, null, 2)}\n` : renderIngressJourney(journey),
    );
  } finally {
    await lab.close();
  }
}
