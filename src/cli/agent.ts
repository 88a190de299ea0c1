// `weft agent` and `weft agent cleanup`: flag parsing and wiring only; see src/agent/.
import type { Command } from 'commander';
import { hostname } from 'node:os';
import { runAgent, runCleanup, type AgentCliOptions } from '../agent/main.js';
import { DEFAULT_AGENT_RUN_DIR } from '../core/names.js';
import { etcdOptions } from './etcd-options.js';

function common(cmd: Command): Command {
  return etcdOptions(cmd)
    .option('--store <kind>', 'datastore: embedded | etcd', 'embedded')
    .option(
      '--store-file <path>',
      'embedded store: the SQLite file shared by the agents of this machine',
      '/var/lib/weft/store.db',
    )
    .option('--run-dir <dir>', 'where subnet.env is written', DEFAULT_AGENT_RUN_DIR)
    .option('--cni-conf-dir <dir>', 'where the CNI conflist is written', '/etc/cni/net.d')
    .option('--ipam-data-dir <dir>', "host-local data dir for this node's pods", '/var/lib/cni/networks')
    .option('--plugin-prefix <prefix>', 'file name prefix the weft CNI plugins were installed with', 'weft-');
}

export function registerAgent(program: Command): void {
  const agent = common(
    program
      .command('agent')
      .description(
        'run the node agent: lease a pod subnet, program vxlan/host-gw routes to every peer, write subnet.env, ip-masq',
      )
      // Options after `cleanup` belong to cleanup, not to the agent command.
      .enablePositionalOptions(),
  )
    .option(
      '--net-conf <file>',
      'net-conf.json (Flannel format); stored as the cluster config when the store has none; otherwise the stored config is used',
    )
    .option('--node-name <name>', "this node's name", hostname())
    .option('--iface <name>', "underlay interface (default: the default route's)")
    .option('--public-ip <ip>', "underlay address to announce (default: the interface's first)")
    .option('--ip-masq', 'masquerade pod traffic leaving the cluster network (default)', true)
    .option('--no-ip-masq', 'do not masquerade')
    .option('--lease-ttl <duration>', 'subnet lease lifetime', '24h')
    .option('--renew-margin <duration>', 'renew this long before the lease runs out (default: half the TTL)')
    .option('--resync <duration>', 'full resync period', '30s')
    .option(
      '--metrics-addr <host:port>',
      'health (/healthz) and Prometheus metrics (/metrics) endpoint',
      '127.0.0.1:9777',
    )
    .option(
      '--cluster <source>',
      "the cluster to follow (sqlite:PATH, or kube: the API server): enforce its NetworkPolicies for this node's pods",
    )
    .option('--objects-file <path>', "a weft lab's object store (the same as --cluster sqlite:PATH)")
    .option(
      '--kube-subnet-mgr',
      "Flannel's flag: the Kubernetes API is the datastore (the node's subnet is its Node's spec.podCIDR; peers are the other Nodes; policies and Services come from the API); needs --net-conf",
      false,
    )
    .option('--kubeconfig <path>', 'the kubeconfig for the Kubernetes API (default: in-cluster config)')
    .option(
      '--flow-log',
      'log policy drops and allowed new connections to NFLOG, read by the agent, served on /flows (default, with --cluster)',
      true,
    )
    .option('--no-flow-log', 'no flow logging: the policy table logs nothing and the agent reads no NFLOG group')
    .option('--flow-log-capacity <n>', 'flows kept per node (a ring: the newest win)', '4096')
    .option('--services', "program the node's Services in nftables (default, with a cluster)", true)
    .option(
      '--no-services',
      'leave Services to another proxy (kube-proxy) on this node: no Services table, no health check node ports (and a Services table left from before is removed)',
    )
    .action(async (opts: AgentCliOptions) => {
      await runAgent(opts);
    });
  common(
    agent
      .command('cleanup')
      .description('remove every device, route, nftables table and file the agent made on this node, and nothing else'),
  )
    .option('--release-lease', "also revoke this node's lease in the store", false)
    .option('--iface <name>', 'underlay interface (to find the lease to release)')
    .option('--public-ip <ip>', 'underlay address (to find the lease to release)')
    .action(async (opts: AgentCliOptions & { releaseLease: boolean }) => {
      await runCleanup(opts);
    });
}
