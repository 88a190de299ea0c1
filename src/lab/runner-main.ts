/**
 * Wiring for `weft lab runner --lab NAME --node N` (started by `weft lab up` inside the node's
 * network namespace): opens the lab's stores and a cluster cache of its pods (a watch on the
 * object store's change log), builds the CNI runtime over the lab's plugin dir, and runs the
 * node's PodRunner until SIGTERM.
 */

import { nodeStatusPath } from '../agent/node-status.js';
import { NodeExec } from '../adapters/exec.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { SqliteObjectStore } from '../adapters/object-store-sqlite.js';
import { SqliteClusterSource } from '../adapters/cluster-source-sqlite.js';
import { ClusterCache } from '../agent/cluster-cache.js';
import { systemClock } from '../adapters/clock.js';
import { CniRuntime } from '../cni/runtime.js';
import { openStore } from '../agent/open-store.js';
import { CONFLIST_FILE, cniSocketPath, subnetEnvPath } from '../agent/cni-files.js';
import { watchFile } from '../adapters/file-watch.js';
import { join } from 'node:path';
import { checkLabName, clusterDnsIp, DEFAULT_CLUSTER_DOMAIN } from '../core/lab/lab-spec.js';
import { parseResolvConfText } from '../core/lab/pod-dns.js';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { LabPaths, labRoot, readLabRecord } from './lab-state.js';
import { PodRunner } from './pod-runner.js';
import { KubeClient, loadKubeconfig } from '../adapters/kube-api.js';
import { KubeNodeReporter } from './kube-node-status.js';
import { nodeKubeconfigs } from './lab-kube.js';
import type { ObjectStore } from '../ports/object-store.js';
import { KubeObjectStore } from '../adapters/object-store-kube.js';
import { KubeClusterSource } from '../adapters/cluster-source-kube.js';
import { backoffWithBase, type BackoffConfig } from '../core/lab/container-run.js';

/**
 * WEFT_LAB_BACKOFF_MS: the first delay of program restarts (kubelet's 10 s when unset), so tests
 * can watch a crash loop without waiting minutes; the ceiling and reset scale with it.
 */
export function backoffFromEnv(value: string | undefined): BackoffConfig | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 1)
    throw new Error(`WEFT_LAB_BACKOFF_MS: ${JSON.stringify(value)}: must be a positive integer (milliseconds)`);
  return backoffWithBase(ms);
}

export async function runPodRunner(
  opts: { lab: string; node: string },
  env: Record<string, string | undefined>,
): Promise<void> {
  const paths = new LabPaths(labRoot(env), checkLabName(opts.lab, '--lab'));
  const record = readLabRecord(paths);
  if (!record) throw new Error(`lab "${opts.lab}" does not exist`);
  const node = record.nodes.find((n) => n.name === opts.node);
  if (!node) throw new Error(`--node: lab ${opts.lab} has no node "${opts.node}"`);
  const backoff = backoffFromEnv(env.WEFT_LAB_BACKOFF_MS);
  const log = new JsonLogger((line) => process.stderr.write(line), { component: 'pod-runner', node: node.name });
  const exec = new NodeExec();
  const store = new SqliteObjectStore(paths.objects, systemClock);
  const leases = await openStore({
    store: record.spec.store.kind,
    storeFile: paths.leases,
    etcdEndpoints: (record.etcdEndpoints ?? []).join(','),
    etcdPrefix: '/coreos.com/network',
    ...(record.etcdTls
      ? {
          etcdCafile: record.etcdTls.caFile,
          etcdCertfile: record.etcdTls.certFile,
          etcdKeyfile: record.etcdTls.keyFile,
        }
      : {}),
  });
  const runDir = paths.runDir(node.name);
  const cniConfDir = paths.cniConfDir(node.name);
  const runtime = new CniRuntime({
    exec,
    binDirs: [paths.binDir],
    // WEFT_CNI_SOCKET: the plugin wrappers hand their calls to this node's agent (the lab's nodes
    // share one file system, so the default /run/weft/cni.sock cannot be every node's).
    env: {
      PATH: env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      WEFT_LOCK_DIR: paths.lockDir,
      WEFT_CNI_SOCKET: cniSocketPath(runDir),
    },
  });
  // --api kube: the node's kubelet (its own certificate) registers the node, keeps it Ready, reads
  // the pods and writes their status through the API; the sandboxes stay in the lab's SQLite file.
  const kube = record.api
    ? new KubeClient(await loadKubeconfig(nodeKubeconfigs(paths.dir, node.name).kubelet))
    : undefined;
  const reporter = kube
    ? new KubeNodeReporter(kube, node.name, {
        kubeletVersion: 'weft-lab',
        kubeProxyVersion: '',
        containerRuntimeVersion: 'weft-lab://netns',
        kernelVersion: release(),
        osImage: 'weft lab node (network namespace)',
        operatingSystem: 'linux',
        architecture: 'amd64',
        machineID: '',
        systemUUID: '',
        bootID: '',
      })
    : undefined;
  const objects: ObjectStore = kube ? new KubeObjectStore(kube, (info) => reporter!.report(info)) : store;
  const cache = new ClusterCache({
    source: kube
      ? new KubeClusterSource({
          client: kube,
          clock: systemClock,
          log: log.with({ component: 'kube-source' }),
          fieldSelectors: { Pod: `spec.nodeName=${node.name}` },
        })
      : new SqliteClusterSource({ store, path: paths.objects, clock: systemClock }),
    kinds: ['Pod'],
    clock: systemClock,
    log: log.with({ component: 'cluster' }),
  });
  const runner = new PodRunner({
    lab: opts.lab,
    node: node.name,
    nodeIp: node.ip,
    runDir,
    cniConfDir,
    store: objects,
    sandboxes: store,
    cache,
    leases,
    exec,
    runtime,
    clock: systemClock,
    log,
    agentHealthUrl: 'http://127.0.0.1:9777/healthz',
    // The cache's Pod events and the agent's files wake the loop (below), so the timer is only for
    // heartbeats and the resync, at kubelet's 10 s: a 50-node lab idles at a few ms of CPU a second.
    pollMs: 10_000,
    resyncMs: 10_000,
    podLogDir: (namespace, name) => paths.podLogDir(namespace, name),
    ...(backoff ? { backoff } : {}),
    // kubelet's --cluster-dns and --cluster-domain: the lab's kube-dns Service, when it has DNS.
    clusterDns: {
      nameservers: record.spec.dns && record.spec.dns.replicas > 0 ? [clusterDnsIp(record.spec)] : [],
      domain: record.spec.dns?.domain ?? DEFAULT_CLUSTER_DOMAIN,
    },
    mountNsDir: paths.mountNsDir(node.name),
    // kubelet's --resolv-conf: the nodes share the host's file system, so the host's file.
    nodeResolvConf: () => {
      try {
        return parseResolvConfText(readFileSync('/etc/resolv.conf', 'utf8'));
      } catch {
        return { nameservers: [], searches: [], options: [] };
      }
    },
  });
  const unsubscribe = cache.subscribe(['Pod'], () => runner.nudge('store'));
  const stopWatching = [
    watchFile(join(cniConfDir, CONFLIST_FILE), () => runner.nudge('node')),
    watchFile(subnetEnvPath(runDir), () => runner.nudge('node')),
    // The agent rewrites its node status whenever a controller's state changes: the node's
    // readiness follows at once, without asking /healthz every few seconds.
    watchFile(nodeStatusPath(runDir), () => runner.nudge('node')),
  ];
  const stop = () => runner.stop();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await cache.start();
  await runner.recover();
  await runner.heartbeat();
  log.info('pod runner started');
  await runner.run();
  for (const stop of stopWatching) stop();
  unsubscribe();
  await cache.stop();
  await runner.close();
  if (objects !== store) await objects.close();
  await leases.close();
  await store.close();
  log.info('pod runner stopped');
}
