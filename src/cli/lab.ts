// `weft lab up|down|status|restart-agents|list|demo` (and the hidden `lab runner` and `lab gateway`
// that `lab up` starts). Every command that acts on one lab takes it from --name/--lab/$WEFT_LAB
// through labNameOf() (lab-name.ts); the hidden ones are always given --lab by lab up.
import type { Command } from 'commander';
import {
  DEFAULT_CLUSTER_DOMAIN,
  DEFAULT_DNS_REPLICAS,
  DEFAULT_LB_CIDR,
  MAX_LAB_SEGMENTS,
  DEFAULT_OUTSIDE_ADDRESS,
  clusterDnsIp,
  lbCidrOf,
  serviceCidrOf,
  type LabSpec,
} from '../core/lab/lab-spec.js';
import { NodeExec } from '../adapters/exec.js';
import { checkLabName, parseLabUpOptions, type LabUpOptions } from '../core/lab/lab-spec.js';
import type { LabDeps } from '../lab/lab.js';
import { join } from 'node:path';
import { LabPaths, labRoot, readLabRecord } from '../lab/lab-state.js';
import { NETNS_RUN_DIR } from '../adapters/netns.js';
import { requireRoot } from './require-root.js';
import { collect } from './lab-common.js';
import { DEFAULT_LAB, labNameOf, withLabNameOptions, type LabFlags } from './lab-name.js';

function deps(): LabDeps {
  return { exec: new NodeExec(), root: labRoot(process.env), progress: (l) => process.stderr.write(`${l}\n`) };
}

export function registerLab(program: Command): void {
  const lab = program
    .command('lab')
    .description('a multi-node cluster network made of network namespaces on this machine')
    .addHelpText(
      'after',
      `\nEvery lab command acts on the lab named by --name or --lab (the same option), else by $WEFT_LAB, else "${DEFAULT_LAB}".`,
    );

  withLabNameOptions(
    lab
      .command('up')
      .description('build a lab: underlay, N nodes each running weft agent and a pod runner, and the store'),
  )
    .option('--nodes <n>', 'number of nodes', '3')
    .option(
      '--backend <type>',
      "vxlan, host-gw, udp (Flannel's TUN + userspace forwarder, slow) or bgp (BIRD in every node)",
      'vxlan',
    )
    .option(
      '--segments <k>',
      `L2 segments the nodes are spread over, joined by one router (1 to ${MAX_LAB_SEGMENTS}; segment k is 10.99.k.0/24, node i is on segment (i-1) mod K)`,
      '1',
    )
    .option(
      '--direct-routing',
      'vxlan with DirectRouting: direct routes to peers on the same segment, VXLAN to the others',
      false,
    )
    .option('--no-flow-log', 'agents without flow logging (weft flows shows nothing; for the overhead benchmark)')
    .option('--flow-log-capacity <n>', "flows each node keeps (default: the agent's, 4096)")
    .option(
      '--bgp-peer <peering>',
      'bgp: mesh (every node peers with every node of its segment) or router (every node peers with the lab router, which runs BIRD as route reflector; needs --segments 2 or more) (default: mesh)',
    )
    .option(
      '--store <store>',
      "embedded, etcd (the lab starts one), or etcd=URL[,URL] (reachable from the lab's nodes)",
      'embedded',
    )
    .option(
      '--api <api>',
      "embedded (the lab's own store) or kube (a real kube-apiserver and kube-controller-manager, built once by scripts/build-kube.sh; kubectl works against it)",
      'embedded',
    )
    .option('--network <cidr>', "the cluster's pod network", '10.244.0.0/16')
    .option(
      '--service-cidr <cidr>',
      "the Services' ClusterIP range (default: 10.96.0.0/12; with --services kube-proxy 10.96.0.0/16, clear of the underlay)",
    )
    .option(
      '--lb-cidr <cidr>',
      "the LoadBalancer Services' address pool, a block of the underlay segment that no node uses",
      DEFAULT_LB_CIDR,
    )
    .option('--cluster-domain <domain>', 'the cluster DNS domain', DEFAULT_CLUSTER_DOMAIN)
    .option(
      '--dns <server>',
      "the cluster DNS pods' server: weft (weft dns) or coredns (the real CoreDNS from scripts/build-peers.sh; needs --api kube)",
      'weft',
    )
    .option(
      '--dns-replicas <n>',
      'weft dns pods behind kube-system/kube-dns (0: no cluster DNS)',
      String(DEFAULT_DNS_REPLICAS),
    )
    .option(
      '--ingress-replicas <n>',
      'weft ingress (nginx) pods in ingress-weft behind a LoadBalancer Service, with the default IngressClass weft (0: none)',
      '0',
    )
    .option(
      '--dns-upstream <ip[:port]>',
      "where cluster DNS forwards names outside the cluster domain, e.g. a resolver run with weft lab outside (repeatable; none: such names are refused, as the lab does not reach the host's network)",
      collect,
      [],
    )
    .option(
      '--peer <kind=nodes>',
      'run a real peer instead of weft on some nodes: flannel=n2[,n3] runs the real flanneld there (etcd mode with --store etcd, kube-subnet-mgr mode with --api kube; built by scripts/build-peers.sh); repeatable',
      collect,
      [],
    )
    .option(
      '--services <proxy>',
      'who programs Services on the nodes: weft (the agents) or kube-proxy (the real kube-proxy in nftables mode on every node, the agents run --no-services; needs --api kube; built by scripts/build-kube.sh)',
      'weft',
    )
    .action(async (opts: LabUpOptions & LabFlags) => {
      const spec = parseLabUpOptions({ ...opts, name: labNameOf(opts, process.env) });
      requireRoot('lab up');
      const { labUp } = await import('../lab/lab.js');
      await labUp(spec, deps());
      process.stdout.write(
        `lab ${spec.name} is up. Try: weft get nodes${spec.name === DEFAULT_LAB ? '' : ` --lab ${spec.name}`}\n`,
      );
    });

  withLabNameOptions(
    lab
      .command('down')
      .description('remove a lab: every process, namespace, rule and file it made (also after a crash)'),
  ).action(async (opts: LabFlags) => {
    const name = labNameOf(opts, process.env);
    requireRoot('lab down');
    const { labDown } = await import('../lab/lab.js');
    const r = await labDown(name, deps());
    process.stdout.write(
      r.namespaces === 0 && r.processes === 0 ? `lab ${name}: nothing to remove\n` : `lab ${name} removed\n`,
    );
  });

  withLabNameOptions(
    lab
      .command('status')
      .description('show a lab: its settings, and for each node its agent, pod runner, subnet and readiness'),
  )
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: LabFlags & { output: string }) => {
      const name = labNameOf(opts, process.env);
      if (opts.output !== 'text' && opts.output !== 'json')
        throw new Error(`-o: "${opts.output}" is not a format (use text or json)`);
      const { labStatus } = await import('../lab/lab.js');
      const s = await labStatus(name, deps());
      if (opts.output === 'json') {
        // Labs recorded before --service-cidr / --lb-cidr show the defaults they run with.
        const shown = s.spec
          ? { ...s, spec: { ...s.spec, serviceCidr: serviceCidrOf(s.spec), lbCidr: lbCidrOf(s.spec) } }
          : s;
        process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
        return;
      }
      const lines = [`lab ${s.name}: ${s.state}`];
      if (s.spec)
        lines.push(
          `  ${s.spec.nodes} nodes${peersSummary(s.spec)}, backend ${s.spec.backend}${s.spec.directRouting ? ' with DirectRouting' : ''}${s.spec.backend === 'bgp' ? ` (${s.spec.bgpPeer === 'router' ? 'peering with the router' : 'full mesh'})` : ''}, store ${s.spec.store.kind}${s.spec.store.kind === 'etcd' && !s.spec.store.managed ? ` (${s.spec.store.endpoints.join(',')})` : ''}, network ${s.spec.network}, services ${serviceCidrOf(s.spec)}${s.spec.services === 'kube-proxy' ? ' (programmed by kube-proxy)' : ''}, load balancers ${lbCidrOf(s.spec)}, ${dnsSummary(s.spec)}`,
        );
      if (s.segments.length > 1)
        lines.push(
          `  ${s.segments.length} segments: ${s.segments.map((g) => `${g.cidr} (gateway ${g.gateway}${g.router ? `, router ${g.router}` : ''})`).join(', ')}${s.routerNs ? `; router namespace ${s.routerNs}` : ''}`,
        );
      if (s.api)
        lines.push(
          `  api: kube-apiserver ${s.api.url} (nodes reach it at ${s.api.nodeUrl}); kubectl: export KUBECONFIG=${s.api.kubeconfig}${s.api.error ? `\n  api: ${s.api.error}` : ''}`,
        );
      lines.push(`  ${s.namespaces} namespaces, ${s.pods} pods`);
      for (const n of s.nodes) {
        const ready = `${n.info?.ready ? 'Ready' : 'NotReady'}${n.info?.message ? ` (${n.info.message})` : ''}`;
        lines.push(
          `  ${n.name}  ${n.ip}${s.segments.length > 1 ? `  segment ${s.segments[n.segment]?.cidr ?? n.segment}` : ''}  subnet ${n.info?.podCIDR ?? '-'}  ${n.peer === 'flannel' ? 'flanneld' : 'agent'} ${n.agent ? 'running' : 'NOT RUNNING'}  pod-runner ${n.runner ? 'running' : 'NOT RUNNING'}${n.kubeProxy === undefined ? '' : `  kube-proxy ${n.kubeProxy ? 'running' : 'NOT RUNNING'}`}  ${ready}`,
        );
        if (n.controllers)
          lines.push(
            `    controllers: ${n.controllers.map((c) => `${c.name} ${c.ready ? 'ok' : c.state}${c.name === 'policy' && c.revision ? ` (revision ${c.revision})` : ''}${!c.ready && c.lastError ? ` (${c.lastError})` : ''}`).join(', ')}`,
          );
      }
      if (s.spec?.backend === 'bgp') {
        const { labBgpSummary } = await import('../lab/bgp-status.js');
        lines.push('  bgp (birdc; details: weft get bgp):');
        for (const line of await labBgpSummary(name, deps())) lines.push(`    ${line}`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  withLabNameOptions(
    lab
      .command('outside')
      .description(
        "run a command as a client outside the cluster: in a namespace on the lab's underlay segment that belongs to no node, e.g. weft lab outside -- curl http://10.99.0.1:30080",
      )
      .argument('<command...>', 'the command and its arguments, after --')
      .option(
        '--address <ip>',
        `the client's address on the segment (${DEFAULT_OUTSIDE_ADDRESS} when not given); another free address is another client`,
      )
      .passThroughOptions(),
  ).action(async (command: string[], opts: LabFlags & { address?: string }) => {
    const name = labNameOf(opts, process.env);
    requireRoot('lab outside');
    // With pass-through options commander keeps the "--" that separates weft's flags from the command.
    const argv = command[0] === '--' ? command.slice(1) : command;
    const { runOutside } = await import('../lab/outside.js');
    process.exitCode = await runOutside(name, opts.address, argv, deps());
  });

  withLabNameOptions(
    lab
      .command('restart-agents')
      .description(
        'restart the weft agent of some or all nodes, as an operator restarts flanneld (kernel state is kept and reconciled)',
      ),
  )
    .option('--node <name...>', 'only these nodes')
    .action(async (opts: LabFlags & { node?: string[] }) => {
      const name = labNameOf(opts, process.env);
      requireRoot('lab restart-agents');
      const { labRestartAgents } = await import('../lab/lab.js');
      const done = await labRestartAgents(name, opts.node ?? [], deps());
      process.stdout.write(`restarted the agents of ${done.join(', ')}\n`);
    });

  withLabNameOptions(
    lab
      .command('switch-node')
      .description(
        "move a node from its peer daemon to weft's agent, as a cluster moves to weft one node at a time: flanneld is stopped, its VXLAN device deleted, and weft's agent started; the node keeps its subnet and its pods",
      ),
  )
    .requiredOption('--node <name>', 'the node')
    .option('--to <daemon>', 'what the node runs from now on (weft)', 'weft')
    .action(async (opts: LabFlags & { node: string; to: string }) => {
      const name = labNameOf(opts, process.env);
      if (opts.to !== 'weft') throw new Error(`--to: "${opts.to}": a node can only be switched to weft`);
      requireRoot('lab switch-node');
      const { labSwitchNodeToWeft } = await import('../lab/lab-nodes.js');
      const r = await labSwitchNodeToWeft(name, opts.node, deps());
      process.stdout.write(
        `node ${opts.node}: ${r.from} stopped${r.removed.length > 0 ? `, ${r.removed.join(', ')} deleted` : ''}, weft's agent started\n`,
      );
    });

  withLabNameOptions(
    lab
      .command('add-node')
      .description(
        'add a node to a running lab (the next n<N>, on the segment the address plan gives it) and wait until it is Ready',
      ),
  ).action(async (opts: LabFlags) => {
    const name = labNameOf(opts, process.env);
    requireRoot('lab add-node');
    const { labAddNode } = await import('../lab/lab-nodes.js');
    process.stdout.write(`node ${await labAddNode(name, deps())} added and Ready\n`);
  });

  withLabNameOptions(
    lab
      .command('remove-node')
      .description(
        'remove a node as a machine that dies and is deleted: kill -9 of every process in it (agent, pod runner, BIRD), then its lease is revoked (with --api kube: its Node is deleted through the API) and its namespace removed',
      ),
  )
    .requiredOption('--node <name>', 'the node')
    .action(async (opts: LabFlags & { node: string }) => {
      const name = labNameOf(opts, process.env);
      requireRoot('lab remove-node');
      const { labRemoveNode } = await import('../lab/lab-nodes.js');
      await labRemoveNode(name, opts.node, deps());
      process.stdout.write(`node ${opts.node} removed\n`);
    });

  lab
    .command('list')
    .description('list the labs on this machine')
    .action(async () => {
      const { labList } = await import('../lab/lab.js');
      const names = labList(deps());
      process.stdout.write(names.length === 0 ? 'no labs\n' : `${names.join('\n')}\n`);
    });

  withLabNameOptions(
    lab
      .command('demo')
      .description(
        'bring up a 3-node lab, apply examples/xyz (namespaces x, y, z with pods a, b, c), show nodes, pods and the probe matrix, then remove the lab',
      ),
  )
    .option('--keep', 'leave the lab up to explore it', false)
    .action(async (opts: LabFlags & { keep: boolean }) => {
      const name = labNameOf(opts, process.env);
      requireRoot('lab demo');
      // Loaded here: the demo pulls in the view and table code the other lab commands do not need.
      const { runLabDemo } = await import('../lab/lab-demo.js');
      await runLabDemo({ name, keep: opts.keep, out: (t) => process.stdout.write(t) }, deps());
    });

  lab
    .command('gateway', { hidden: true })
    .description(
      "relay a port on the lab segment's gateway address to a store outside the lab (started by lab up --store etcd=URL)",
    )
    .requiredOption('--lab <name>', 'lab name')
    .requiredOption('--port <port>', 'port to serve in the segment namespace')
    .requiredOption('--target <url>', 'where to relay to')
    .action(async (opts: { lab: string; port: string; target: string }) => {
      const paths = new LabPaths(labRoot(process.env), checkLabName(opts.lab, '--lab'));
      const record = readLabRecord(paths);
      if (!record) throw new Error(`lab "${opts.lab}" does not exist`);
      const { runStoreGateway } = await import('../lab/store-gateway.js');
      await runStoreGateway({
        segmentNsPath: join(NETNS_RUN_DIR, record.segmentNs),
        port: Number(opts.port),
        target: new URL(opts.target),
        log: (l) => process.stderr.write(`${l}\n`),
      });
    });

  lab
    .command('supervise', { hidden: true })
    .description('restart any agent or pod runner of a lab that died (started by lab up)')
    .requiredOption('--lab <name>', 'lab name')
    .option('--every <duration>', 'how often to look', '1s')
    .action(async (opts: { lab: string; every: string }) => {
      const { superviseLab } = await import('../lab/lab.js');
      const { parseDuration } = await import('../core/duration.js');
      const stop = new AbortController();
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => stop.abort());
      await superviseLab(checkLabName(opts.lab, '--lab'), deps(), {
        everyMs: parseDuration(opts.every, '--every'),
        signal: stop.signal,
      });
    });

  lab
    .command('runner', { hidden: true })
    .description('the pod runner of one lab node (started by lab up)')
    .requiredOption('--lab <name>', 'lab name')
    .requiredOption('--node <name>', 'node name')
    .action(async (opts: { lab: string; node: string }) => {
      // Loaded here: the runner is a process per lab node, and needs none of the lab's other code.
      const { runPodRunner } = await import('../lab/runner-main.js');
      await runPodRunner(opts, process.env);
    });
}

/** `lab status`'s words for the nodes that run a peer instead of weft (none: ""). */
function peersSummary(spec: LabSpec): string {
  const flannel = spec.peers?.flannel ?? [];
  return flannel.length > 0 ? ` (flanneld on ${flannel.join(', ')} when the lab was made)` : '';
}

/** `lab status`'s words for the lab's cluster DNS. */
function dnsSummary(spec: LabSpec): string {
  const dns = spec.dns;
  if (!dns || dns.replicas === 0) return 'no cluster DNS';
  const forward = dns.upstreams.length > 0 ? `forwarding to ${dns.upstreams.join(',')}` : 'no upstream';
  return `cluster DNS kube-system/kube-dns ${clusterDnsIp(spec)} (${dns.domain}, ${dns.replicas} pods, ${forward})`;
}
