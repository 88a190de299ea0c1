/**
 * `weft lab demo`, the README's main job: a 3-node lab on the embedded store, the example
 * cluster of examples/xyz (namespaces x, y, z with pods a, b, c serving 80 and 81 on TCP and
 * UDP), the nodes with their subnets, the pods with their addresses, and the reachability
 * matrix proven with real traffic; then the Services of examples/services, balanced from a pod
 * and reached from a client outside the cluster (a NodePort on every node, the LoadBalancer
 * address); then the client pod finds the Service by name through cluster DNS (the lab's
 * weft dns pods behind kube-dns); then the lab is removed (unless --keep).
 */

import { fileURLToPath } from 'node:url';
import { parseLabUpOptions } from '../core/lab/lab-spec.js';
import { renderTruthTable } from '../core/lab/probe-table.js';
import { nodeRows, objectRows, podRows, renderTable } from '../core/lab/views.js';
import { labDown, labUp, type LabDeps } from './lab.js';
import { LabClient, podRefs, sortPods } from './client.js';
import { renderServiceProbe, summarizeServiceProbe, type ServiceProbeSource } from '../core/lab/service-probe.js';
import { ensureOutsideClient } from './outside.js';
import { NETNS_RUN_DIR } from '../adapters/netns.js';
import { join } from 'node:path';

export const EXAMPLES_DIR = fileURLToPath(new URL('../../../examples/xyz', import.meta.url));
export const SERVICES_EXAMPLE = fileURLToPath(new URL('../../../examples/services', import.meta.url));

export interface DemoOptions {
  name: string;
  keep: boolean;
  out: (text: string) => void;
}

export async function runLabDemo(o: DemoOptions, deps: LabDeps): Promise<void> {
  const spec = parseLabUpOptions({ name: o.name });
  const say = o.out;
  say(
    `weft lab demo: a ${spec.nodes}-node cluster network made of network namespaces, ${spec.backend} between nodes, pods wired by weft's CNI plugins\n\n`,
  );
  await labUp(spec, deps);
  let kept = false;
  try {
    const lab = LabClient.open(deps.root, spec.name, deps.exec);
    try {
      const objects = LabClient.readManifests([EXAMPLES_DIR], () => '');
      say(`\n$ weft apply -f examples/xyz\n`);
      for (const line of await lab.apply(objects)) say(`${line}\n`);
      await lab.waitForPods(podRefs(objects), 120_000);

      const now = Date.now();
      say(`\n$ weft get nodes\n`);
      const nodes = nodeRows(await lab.nodes(), now, { wide: false });
      say(renderTable(nodes.header, nodes.rows));
      const views = await lab.pods();
      say(`\n$ weft get pods -A -o wide\n`);
      const pods = podRows(
        views.map((v) => v.stored),
        now,
        { wide: true, allNamespaces: true },
      );
      say(renderTable(pods.header, pods.rows));

      // As `weft probe -A` selects them: every namespace but kube-system (the cluster DNS pods).
      const sorted = sortPods(views.filter((v) => v.stored.object.metadata.namespace !== 'kube-system'));
      for (const [port, protocol] of [
        [80, 'TCP'],
        [81, 'UDP'],
      ] as const) {
        say(`\n$ weft probe -A --port ${port} --protocol ${protocol}\n`);
        say(renderTruthTable(await lab.probeMatrix(sorted, port, protocol, 1000)));
      }
      await demoServices(lab, spec.name, deps, say);
    } finally {
      await lab.close();
    }
    if (o.keep) {
      kept = true;
      const flag = spec.name === 'weft' ? '' : ` --lab ${spec.name}`;
      say(`\nThe lab is still up. Explore it:\n`);
      say(
        `  weft get pods -A -o wide${flag}\n  weft exec -n x a${flag} -- ip route\n  weft probe -A --port 81 --protocol UDP${flag}\n  weft lab status${spec.name === 'weft' ? '' : ` --name ${spec.name}`}\n`,
      );
      say(`and remove it with: weft lab down${spec.name === 'weft' ? '' : ` --name ${spec.name}`}\n`);
    }
  } finally {
    if (!kept) {
      await labDown(spec.name, deps);
      say(`\nlab ${spec.name} removed: no namespace, process or file of it is left.\n`);
    }
  }
}

/**
 * The Services part: examples/services applied, its Services listed, 30 connections from each web
 * pod through the ClusterIP, and an outside client's connections to the NodePort of every node
 * and to the LoadBalancer address. The Services are in effect once the lab's EndpointSlice
 * controller and every agent have caught up (well under a second): the demo waits until a
 * probe from the client pod is answered by all three backends, 10 s at most.
 */
async function demoServices(lab: LabClient, name: string, deps: LabDeps, say: (t: string) => void): Promise<void> {
  const objects = LabClient.readManifests([SERVICES_EXAMPLE], () => '');
  say(`\n$ weft apply -f examples/services\n`);
  for (const line of await lab.apply(objects)) say(`${line}\n`);
  await lab.waitForPods(podRefs(objects), 120_000);
  const stored = (await lab.store.list('Service')).filter((s) => s.object.metadata.namespace === 'web');
  const services = stored.map((s) => s.object);
  say(`\n$ weft get services -n web\n`);
  const rows = objectRows('Service', stored, Date.now(), { wide: false });
  say(renderTable(rows.header, rows.rows));
  const web = services.find((s) => s.metadata.name === 'web')!;
  const vip = web.spec.clusterIP!;
  const pods = sortPods((await lab.pods()).filter((p) => p.stored.object.metadata.namespace === 'web'));
  const client = pods.filter((p) => p.stored.object.metadata.name === 'client');
  const end = Date.now() + 10_000;
  for (;;) {
    const [probe] = await lab.probeService(client, vip, 80, 'TCP', 30, 1000);
    const answered = new Set(probe!.outcomes.flatMap((x) => ('pod' in x ? [x.pod] : [])));
    if (answered.size === 3 || Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  say(`\n$ weft probe -n web --to service/web/web --connections 30\n`);
  const head = {
    service: 'web/web',
    clusterIP: vip,
    port: 80,
    protocol: 'TCP' as const,
    portName: 'http',
    connections: 30,
  };
  say(renderServiceProbe(summarizeServiceProbe(head, await lab.probeService(pods, vip, 80, 'TCP', 30, 1000))));

  const outside = join(NETNS_RUN_DIR, await ensureOutsideClient(name, undefined, deps));
  const sources: ServiceProbeSource[] = [];
  for (const node of await lab.nodes())
    sources.push(await lab.probeFrom(outside, `${node.internalIP}:30080`, node.internalIP, 30080, 'TCP', 30, 1000));
  const lb = services.find((s) => s.metadata.name === 'web-lb')?.status?.loadBalancer.ingress?.[0]?.ip;
  if (lb) sources.push(await lab.probeFrom(outside, `${lb}:80 (LB)`, lb, 80, 'TCP', 30, 1000));
  say(`\n$ weft lab outside -- (30 connections to the NodePort of every node, and to the LoadBalancer address)\n`);
  const outsideHead = { ...head, service: 'web/web-nodeport and web/web-lb, from 10.99.0.250 outside the cluster' };
  say(
    renderServiceProbe(summarizeServiceProbe(outsideHead, sources)).replace(
      /^[^\n]*\n/,
      `${outsideHead.service}; columns are the pods that answered\n`,
    ),
  );

  await demoDns(lab, deps, say);
}

/** Cluster DNS: the client pod finds the Service by its short name (its resolv.conf's search path). */
async function demoDns(lab: LabClient, deps: LabDeps, say: (t: string) => void): Promise<void> {
  const client = (await lab.pods()).find(
    (p) => p.stored.object.metadata.namespace === 'web' && p.stored.object.metadata.name === 'client',
  );
  if (!client?.sandbox?.netns || lab.record.spec.dns === undefined || lab.record.spec.dns.replicas === 0) return;
  for (const argv of [
    ['cat', '/etc/resolv.conf'],
    ['getent', 'hosts', 'web'],
    ['getent', 'hosts', 'kube-dns.kube-system'],
  ]) {
    say(`\n$ weft exec -n web client -- ${argv.join(' ')}\n`);
    const r = await deps.exec.tryRun({
      argv: ['ip', 'netns', 'exec', client.sandbox.netns, ...argv],
      context: 'ask cluster DNS from the client pod',
    });
    say(r.exitCode === 0 ? r.stdout : `(failed: exit ${r.exitCode}) ${r.stderr}`);
  }
}
