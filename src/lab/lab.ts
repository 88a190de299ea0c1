/**
 * `weft lab up|down|status|list`: a whole cluster network made of namespaces on this machine.
 *
 * up:   an underlay segment namespace (bridge 10.99.0.0/24), N node namespaces on it, the store
 *       (the lab's SQLite files, or etcd in the segment namespace), one `weft agent` and one pod
 *       runner (the lab's kubelet) per node as real processes inside the node's namespace. With
 *       --segments K, K segment namespaces (10.99.k.0/24) joined by a router namespace, the nodes
 *       spread over them (the address plan: src/core/lab/lab-spec.ts); the store, the
 *       load-balancer pool and the outside clients stay on segment 0.
 * supervise: a process per lab (started by up) that restarts any agent or pod runner that died,
 *       as systemd or the kubelet restart a node's daemons, and runs the lab's controllers
 *       (EndpointSlices, and the gateway's routes of load-balancer addresses); it and restart-agents take the
 *       lab's supervisor lock, so one agent per node runs at any time.
 * outside: clients outside the cluster, namespaces on the segment that belong to no node
 *       (./outside.ts); the segment's gateway routes the load-balancer pool to the nodes.
 * down: stops the supervisor first (so nothing is restarted meanwhile), then ends every process inside the lab's namespaces (`ip netns pids`, which finds them even
 *       when lab.json is lost or the processes were orphaned by a kill -9) and the ones lab.json
 *       names, deletes every namespace with the lab's prefix (links, routes and nftables rules go
 *       with them) and removes the lab's directory. It works on whatever is left after a crash.
 *
 * The host's own namespace is never changed: nothing of the lab is reachable from it except
 * through the lab's commands (weft exec, weft probe), which enter the lab's namespaces.
 */

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Exec } from '../ports/exec.js';
import {
  clusterDnsIp,
  labNetConf,
  lbCidrOf,
  nodeSegment,
  nodeUnderlayAddress,
  segmentCidr,
  segmentGateway,
  segmentPrefix24,
  segmentRouter,
  segmentsOf,
  serviceCidrOf,
  peerOfNode,
  serviceRangesOf,
  UNDERLAY_CIDR,
  UNDERLAY_GATEWAY,
  type LabSpec,
} from '../core/lab/lab-spec.js';
import { clusterDnsManifest, dnsPodNames, DNS_NAMESPACE, DNS_SERVICE } from '../core/lab/cluster-dns.js';
import { planApply } from '../core/lab/apply-plan.js';
import {
  ingressControllerManifest,
  ingressPodNames,
  INGRESS_CLASS,
  INGRESS_NAMESPACE,
  INGRESS_SERVICE,
} from '../core/lab/ingress-controller.js';
import { parseManifestLocated } from '../core/k8s/parse.js';
import { isPodReady } from '../core/k8s/pod-status.js';
import { LAB_NS_PREFIX } from '../core/names.js';
import { NamedNetns, NETNS_ETC_DIR } from '../adapters/netns.js';
import { PodMountNamespaces } from '../adapters/mount-ns.js';
import { makeEtcdTls } from './etcd-tls.js';
import { singleEtcdArgs } from './etcd-args.js';
import { labApiPids, labApiUp, labKubeDir, nodeKubeconfigs } from './lab-kube.js';
import { corednsMissing, corednsPath, writeLabCorefile } from './peer-coredns.js';
import { LabClient } from './client.js';
import { reconcileScheduling } from './kube-scheduler.js';
import { KubeClusterSource } from '../adapters/cluster-source-kube.js';
import { KubeObjectStore } from '../adapters/object-store-kube.js';
import { KubeClient, loadKubeconfig } from '../adapters/kube-api.js';
import { processCommandLine, signalProcess, spawnDetached } from '../adapters/daemon.js';
import { pidsInNetns, pidsWithEnvironEntry, processAlive } from '../adapters/proc.js';
import { SqliteObjectStore } from '../adapters/object-store-sqlite.js';
import { systemClock } from '../adapters/clock.js';
import { FlockLocker } from '../adapters/file-lock.js';
import { installCni } from '../cni/install.js';
import { Underlay, type Segment } from './underlay.js';
import {
  LabPaths,
  labDirs,
  readLabRecord,
  writeLabRecord,
  type LabNodeRecord,
  type LabRecord,
  type LabSegmentRecord,
} from './lab-state.js';
import type { NodeInfo, ObjectStore } from '../ports/object-store.js';
import { readNodeStatus, type NodeStatusDocument } from '../agent/node-status.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { ClusterCache } from '../agent/cluster-cache.js';
import { SqliteClusterSource } from '../adapters/cluster-source-sqlite.js';
import { reconcileSlices, SLICE_KINDS } from './slice-controller.js';
import { CacheLoop } from './cache-loop.js';
import { prepareGateway } from './outside.js';
import { LB_ROUTE_KINDS, reconcileLbRoutes } from './lb-routes.js';
import { reconcileLbStatus } from './lb-status.js';
import { labRouterSpeaksBgp, syncRouterBird } from './router-bird.js';
import { ensureFlannelConflist, flanneldLog, flanneldMissing, startFlanneld, storeLabNetConf } from './peer-flannel.js';
import { kubeProxyLog, kubeProxyMissing, startKubeProxy } from './peer-kube-proxy.js';

export const CLI_PATH = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const ETCD_PORT = 2379;
/** The label (after the lab's namespace prefix) of segment k's namespace: "ul" for segment 0, as always. */
const segmentLabel = (k: number) => (k === 0 ? 'ul' : `ul${k}`);
const ROUTER_LABEL = 'rt';

export interface LabDeps {
  exec: Exec;
  root: string;
  /** Progress lines for people (stderr in the CLI). */
  progress: (line: string) => void;
}

/** The last lines of a process's log, for an error that outlives the file. */
function logTail(file: string, lines = 12): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return `(its log ${file} cannot be read: ${(err as Error).message})`;
  }
  const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
  return tail ? `the last lines of ${file}:\n${tail}` : `${file} is empty`;
}

async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => boolean | Promise<boolean>,
  onWait?: () => void,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    onWait?.();
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The store flags for `weft agent` and the pod runner. */
export function storeArgs(paths: LabPaths, record: LabRecord): string[] {
  if (record.spec.store.kind === 'embedded') return ['--store', 'embedded', '--store-file', paths.leases];
  const tls = record.etcdTls;
  return [
    '--store',
    'etcd',
    '--etcd-endpoints',
    (record.etcdEndpoints ?? []).join(','),
    ...(tls ? ['--etcd-cafile', tls.caFile, '--etcd-certfile', tls.certFile, '--etcd-keyfile', tls.keyFile] : []),
  ];
}

/** Namespaces whose name has the lab's prefix ([] when none). */
function labNamespaces(netns: NamedNetns, paths: LabPaths): string[] {
  return netns.list().filter((n) => n.startsWith(paths.nsPrefix));
}

function processEnv(paths: LabPaths): Record<string, string> {
  // WEFT_LAB_BACKOFF_MS (the pod runners' restart back-off, see runner-main.ts) passes through from
  // `lab up` to the supervisor and from it to every runner it (re)starts.
  const backoff = process.env.WEFT_LAB_BACKOFF_MS;
  return {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    WEFT_LOCK_DIR: paths.lockDir,
    ...labMemberEnv(paths),
    ...(backoff ? { WEFT_LAB_BACKOFF_MS: backoff } : {}),
  };
}

/**
 * The mark every process a lab starts carries in its environment (and passes to its children): how
 * `lab down` finds the lab's processes in the root namespace when lab.json cannot name them.
 */
const LAB_MEMBER_VAR = 'WEFT_LAB_MEMBER';
function labMemberEnv(paths: LabPaths): Record<string, string> {
  return { [LAB_MEMBER_VAR]: paths.nsPrefix };
}
function labMemberEntry(paths: LabPaths): string {
  return `${LAB_MEMBER_VAR}=${paths.nsPrefix}`;
}

/** Starts the node's `weft agent` (or its peer daemon, flanneld: ./peer-flannel.ts) inside its namespace; returns its PID. */
export function startAgent(paths: LabPaths, record: LabRecord, n: LabNodeRecord, netns: NamedNetns): number {
  if (n.peer === 'flannel') return startFlanneld(paths, record, n, netns, processEnv(paths));
  return spawnDetached({
    netns: netns.path(n.ns),
    argv: [
      process.execPath,
      CLI_PATH,
      'agent',
      // --api kube: Flannel's kube subnet manager (the node's subnet is its Node's podCIDR) and the
      // cluster from the API, as the weft ServiceAccount; else the lab's lease and object stores.
      ...(record.api
        ? ['--kube-subnet-mgr', '--kubeconfig', nodeKubeconfigs(paths.dir, n.name).agent]
        : [...storeArgs(paths, record), '--objects-file', paths.objects]),
      '--net-conf',
      paths.netConf,
      '--node-name',
      n.name,
      '--iface',
      'eth0',
      '--run-dir',
      paths.runDir(n.name),
      '--cni-conf-dir',
      paths.cniConfDir(n.name),
      '--ipam-data-dir',
      paths.ipamDir(n.name),
      '--metrics-addr',
      '127.0.0.1:9777',
      ...(record.spec.flowLog === false ? ['--no-flow-log'] : []),
      // --services kube-proxy: the real kube-proxy programs Services here (./peer-kube-proxy.ts).
      ...(record.spec.services === 'kube-proxy' ? ['--no-services'] : []),
      ...(record.spec.flowLogCapacity !== undefined
        ? ['--flow-log-capacity', String(record.spec.flowLogCapacity)]
        : []),
    ],
    logFile: `${paths.logDir}/agent-${n.name}.log`,
    env: processEnv(paths),
    context: `start the agent of ${n.name}`,
  });
}

/** Starts the node's pod runner inside its namespace; returns its PID. */
export function startRunner(paths: LabPaths, n: LabNodeRecord, netns: NamedNetns): number {
  return spawnDetached({
    netns: netns.path(n.ns),
    argv: [process.execPath, CLI_PATH, 'lab', 'runner', '--lab', paths.name, '--node', n.name],
    logFile: `${paths.logDir}/runner-${n.name}.log`,
    env: { ...processEnv(paths), WEFT_LAB_ROOT: paths.root },
    context: `start the pod runner of ${n.name}`,
  });
}

/** Whether node `n` runs the real kube-proxy (`--services kube-proxy`: every node does). */
export function runsKubeProxy(record: LabRecord): boolean {
  return record.spec.services === 'kube-proxy';
}

/** Starts node `n`'s kube-proxy (`--services kube-proxy` labs), with the lab's environment; its PID. */
export function startNodeKubeProxy(paths: LabPaths, record: LabRecord, n: LabNodeRecord, netns: NamedNetns): number {
  return startKubeProxy(paths, record, n, netns, processEnv(paths));
}

/** Whether the agent or runner at `pid` is still this lab's (a dead one's PID may be reused). */
export function isAgent(paths: LabPaths, pid: number | undefined): boolean {
  return pid !== undefined && (processCommandLine(pid)?.includes(paths.dir) ?? false);
}
export function isRunner(paths: LabPaths, pid: number | undefined): boolean {
  return pid !== undefined && (processCommandLine(pid)?.includes(`lab runner --lab ${paths.name} `) ?? false);
}

/** Runs `fn` holding the lab's supervisor lock (restarts of agents and runners never overlap). */
export async function withSupervisorLock<T>(paths: LabPaths, fn: () => Promise<T>): Promise<T> {
  const lock = await new FlockLocker().acquire(join(paths.dir, 'supervisor.lock'));
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/**
 * One look of the supervisor: restarts every agent and pod runner of the lab that is not
 * running, and records their new PIDs. Returns what it restarted ("agent n1"); nothing while the
 * lab is being made or is gone.
 */
export async function superviseOnce(name: string, deps: LabDeps): Promise<string[]> {
  const paths = new LabPaths(deps.root, name);
  if (!existsSync(paths.record)) return [];
  return withSupervisorLock(paths, async () => {
    const record = readLabRecord(paths);
    if (!record || record.state !== 'up') return [];
    const netns = new NamedNetns(deps.exec);
    const restarted: string[] = [];
    // The router's BIRD: restarted when dead, its sessions following the nodes' leases.
    restarted.push(...(await syncRouterBird(deps.exec, netns, paths, record)));
    for (const n of record.nodes) {
      // A flannel node's CNI config follows flanneld's subnet.env (./peer-flannel.ts).
      if (n.peer) ensureFlannelConflist(paths, n);
      if (!isAgent(paths, n.agentPid)) {
        n.agentPid = startAgent(paths, record, n, netns);
        restarted.push(`${n.peer === 'flannel' ? 'flanneld' : 'agent'} ${n.name}`);
      }
      if (!isRunner(paths, n.runnerPid)) {
        n.runnerPid = startRunner(paths, n, netns);
        restarted.push(`pod runner ${n.name}`);
      }
      if (runsKubeProxy(record) && !isAgent(paths, n.kubeProxyPid)) {
        n.kubeProxyPid = startNodeKubeProxy(paths, record, n, netns);
        restarted.push(`kube-proxy ${n.name}`);
      }
    }
    if (restarted.length > 0) writeLabRecord(paths, record);
    return restarted;
  });
}

/**
 * `weft lab supervise`: looks every `everyMs` and restarts what died, until `signal` (SIGTERM in
 * the CLI) or the lab is gone; and runs the lab's EndpointSlice controller (./slice-controller.ts) and its load-balancer routes (./lb-routes.ts). A process that keeps dying is restarted at most once per look (its log says why).
 */
export async function superviseLab(
  name: string,
  deps: LabDeps,
  o: { everyMs: number; signal: AbortSignal },
): Promise<void> {
  const paths = new LabPaths(deps.root, name);
  // The lab's own controllers live here too (the EndpointSlice controller, the gateway's
  // load-balancer routes): one per lab, kept by the process that is.
  const store = new SqliteObjectStore(paths.objects, systemClock);
  const logOf = (component: string) => new JsonLogger((line) => process.stderr.write(line), { component, lab: name });
  // One cache over the lab's objects for the lab's own controllers.
  const cache = new ClusterCache({
    source: new SqliteClusterSource({ store, path: paths.objects, clock: systemClock }),
    kinds: [...new Set([...SLICE_KINDS, ...LB_ROUTE_KINDS])],
    clock: systemClock,
    log: logOf('cluster'),
  });
  await cache.start();
  const loops = [
    new CacheLoop({
      cache,
      kinds: SLICE_KINDS,
      reconcile: reconcileSlices({ cache, store, log: logOf('endpointslice-controller') }),
      what: 'write endpoint slices',
      clock: systemClock,
      log: logOf('endpointslice-controller'),
    }),
  ];
  // The gateway's routes of LoadBalancer addresses (what the nodes would announce by BGP), over the
  // cluster's Services: the lab store's, or with --api kube the API server's.
  const record = readLabRecord(paths);
  const lbRoutes = (over: ClusterCache) =>
    record &&
    new CacheLoop({
      cache: over,
      kinds: LB_ROUTE_KINDS,
      reconcile: reconcileLbRoutes({
        cache: over,
        exec: deps.exec,
        segmentNs: record.segmentNs,
        ...(record.routerNs
          ? { router: { ns: record.routerNs, ip: segmentRouter(0), gatewayCidr: UNDERLAY_CIDR } }
          : {}),
        nodes: record.nodes.map((n) => ({ name: n.name, ip: n.ip })),
        lbCidr: lbCidrOf(record.spec),
        log: logOf('lb-routes'),
      }),
      what: 'change load-balancer routes',
      clock: systemClock,
      log: logOf('lb-routes'),
    });
  // --api kube: the scheduler binds the pods kubectl made without a node (./kube-scheduler.ts), and
  // the load-balancer controller gives LoadBalancer Services their addresses (./lb-status.ts).
  let kube: { client: KubeClient; cache: ClusterCache } | undefined;
  if (record?.api) {
    const client = new KubeClient(await loadKubeconfig(record.api.adminKubeconfig));
    const kubeCache = new ClusterCache({
      source: new KubeClusterSource({ client, clock: systemClock, log: logOf('kube-source') }),
      kinds: ['Pod', ...LB_ROUTE_KINDS],
      clock: systemClock,
      log: logOf('cluster'),
    });
    kube = { client, cache: kubeCache };
    await kubeCache.start();
    const nodes = new KubeObjectStore(client);
    loops.push(
      new CacheLoop({
        cache: kubeCache,
        kinds: ['Pod'],
        reconcile: reconcileScheduling({
          cache: kubeCache,
          client,
          nodes: () => nodes.nodes(),
          log: logOf('scheduler'),
        }),
        what: 'bind pods to nodes',
        clock: systemClock,
        log: logOf('scheduler'),
      }),
      new CacheLoop({
        cache: kubeCache,
        kinds: ['Service'],
        reconcile: reconcileLbStatus({
          cache: kubeCache,
          client,
          lbCidr: lbCidrOf(record.spec),
          log: logOf('load-balancer'),
        }),
        what: 'give load-balancer addresses',
        clock: systemClock,
        log: logOf('load-balancer'),
      }),
    );
  }
  const routes = lbRoutes(kube?.cache ?? cache);
  if (routes) loops.push(routes);
  try {
    await superviseLoop(name, deps, o, paths);
  } finally {
    for (const l of loops) l.stop();
    await cache.stop();
    await store.close();
    if (kube) {
      await kube.cache.stop();
      kube.client.close();
    }
  }
}

async function superviseLoop(
  name: string,
  deps: LabDeps,
  o: { everyMs: number; signal: AbortSignal },
  paths: LabPaths,
): Promise<void> {
  while (!o.signal.aborted && existsSync(paths.dir)) {
    try {
      const restarted = await superviseOnce(name, deps);
      if (restarted.length > 0)
        deps.progress(`${new Date().toISOString()} restarted ${restarted.join(', ')} (see ${paths.logDir})`);
    } catch (err) {
      deps.progress(`${new Date().toISOString()} cannot supervise lab ${name}: ${(err as Error).message}`);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.everyMs);
      o.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
}

/**
 * Restarts the agents of the given nodes (all when none are named), as an operator restarts
 * flanneld: the old process gets SIGTERM (and SIGKILL after 3 s) if it still runs, then a new one
 * starts; the kernel state it left is kept and reconciled by the new one.
 */
export async function labRestartAgents(name: string, nodes: string[], deps: LabDeps): Promise<string[]> {
  const paths = new LabPaths(deps.root, name);
  if (!readLabRecord(paths)) throw new Error(`lab "${name}" does not exist`);
  return withSupervisorLock(paths, async () => {
    const record = readLabRecord(paths);
    if (!record) throw new Error(`lab "${name}" does not exist`);
    const netns = new NamedNetns(deps.exec);
    for (const want of nodes)
      if (!record.nodes.some((n) => n.name === want)) throw new Error(`--node: lab ${name} has no node "${want}"`);
    const chosen = record.nodes.filter((n) => nodes.length === 0 || nodes.includes(n.name));
    for (const n of chosen) {
      const old = n.agentPid;
      if (old !== undefined && processCommandLine(old)?.includes(paths.dir)) {
        signalProcess(old, 'SIGTERM');
        const end = Date.now() + 3_000;
        while (processCommandLine(old) !== undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
        if (processCommandLine(old) !== undefined) signalProcess(old, 'SIGKILL');
      }
      n.agentPid = startAgent(paths, record, n, netns);
    }
    writeLabRecord(paths, record);
    return chosen.map((n) => n.name);
  });
}

export async function labUp(spec: LabSpec, deps: LabDeps): Promise<LabRecord> {
  const paths = new LabPaths(deps.root, spec.name);
  const netns = new NamedNetns(deps.exec);
  const say = deps.progress;
  const existing = readLabRecord(paths);
  if (existing) {
    throw new Error(
      `lab "${spec.name}" already exists (${existing.state}, ${existing.nodes.length} nodes); remove it first with: weft lab down --name ${spec.name}`,
    );
  }
  if (labNamespaces(netns, paths).length > 0 || existsSync(paths.dir)) {
    say(`removing what a previous lab "${spec.name}" left behind`);
    await labDown(spec.name, deps);
  }
  const peerMissing = spec.peers?.flannel?.length ? flanneldMissing() : undefined;
  if (peerMissing) throw new Error(`--peer flannel: ${peerMissing}`);
  const corednsNotBuilt = spec.dns?.server === 'coredns' ? corednsMissing() : undefined;
  if (corednsNotBuilt) throw new Error(`--dns coredns: ${corednsNotBuilt}`);
  const proxyMissing = spec.services === 'kube-proxy' ? kubeProxyMissing() : undefined;
  if (proxyMissing) throw new Error(`--services kube-proxy: ${proxyMissing}`);
  const started = Date.now();
  const record: LabRecord = {
    spec,
    state: 'creating',
    created: new Date().toISOString(),
    segmentNs: `${paths.nsPrefix}ul`,
    nodes: [],
  };
  try {
    for (const d of [paths.dir, paths.logDir, paths.lockDir]) mkdirSync(d, { recursive: true });
    // Written first, so that `lab down` finds this lab even if `up` is killed half-way.
    writeLabRecord(paths, record);
    installCni({ binDir: paths.binDir, prefix: 'weft-' });
    writeFileSync(paths.netConf, labNetConf(spec));

    const underlay = new Underlay(deps.exec, paths.nsPrefix);
    const ks = segmentsOf(spec);
    say(
      ks.length === 1
        ? `lab ${spec.name}: underlay segment ${segmentCidr(0)} and ${spec.nodes} node namespaces`
        : `lab ${spec.name}: ${ks.length} underlay segments ${ks.map(segmentCidr).join(', ')} joined by a router, and ${spec.nodes} node namespaces`,
    );
    const segments: Segment[] = [];
    for (const k of ks) segments.push(await underlay.addSegment(segmentLabel(k), segmentPrefix24(k)));
    if (segments.length > 1) {
      record.routerNs = await underlay.addRouter(ROUTER_LABEL, segments);
      record.segments = segments.map(
        (seg, k): LabSegmentRecord => ({
          index: k,
          cidr: segmentCidr(k),
          gateway: segmentGateway(k),
          router: segmentRouter(k),
          ns: seg.ns,
        }),
      );
      if (labRouterSpeaksBgp(spec)) {
        say(`router: BIRD speaks BGP with the nodes of every segment (route reflector), before the agents start`);
        await syncRouterBird(deps.exec, netns, paths, record);
      }
    }
    for (let i = 1; i <= spec.nodes; i++) {
      const k = nodeSegment(i, spec.segments);
      const n = await underlay.addNode(`n${i}`, segments[k]!, i);
      // The address plan is the core's (lab-spec.ts); the underlay makes what it says.
      if (n.ip !== nodeUnderlayAddress(i, spec.segments))
        throw new Error(`node n${i}: made at ${n.ip}, the address plan says ${nodeUnderlayAddress(i, spec.segments)}`);
      const peer = peerOfNode(spec, n.name);
      record.nodes.push({
        name: n.name,
        ns: n.ns,
        ip: n.ip,
        ...(segments.length > 1 ? { segment: k } : {}),
        ...(peer ? { peer } : {}),
      });
      for (const d of [paths.runDir(n.name), paths.cniConfDir(n.name), paths.ipamDir(n.name)])
        mkdirSync(d, { recursive: true });
    }
    writeLabRecord(paths, record);
    // The gateway routes load-balancer addresses to the nodes (the supervisor keeps the routes: ./lb-routes.ts).
    await prepareGateway(deps, record);

    if (spec.store.kind === 'etcd') {
      if (spec.store.managed) {
        const url = `https://${UNDERLAY_GATEWAY}:${ETCD_PORT}`;
        say(`store: starting etcd at ${url} (in the segment namespace; TLS with client certificates)`);
        mkdirSync(paths.etcdData, { recursive: true, mode: 0o700 });
        const tls = await makeEtcdTls(deps.exec, paths.etcdTlsDir, [UNDERLAY_GATEWAY, '127.0.0.1'], spec.name);
        record.etcdTls = { caFile: tls.caFile, certFile: tls.clientCert, keyFile: tls.clientKey };
        record.etcdPid = spawnDetached({
          netns: netns.path(record.segmentNs),
          argv: [
            '/usr/bin/etcd',
            ...singleEtcdArgs({
              name: 'lab',
              dataDir: paths.etcdData,
              listenClientUrls: `${url},https://127.0.0.1:${ETCD_PORT}`,
              advertiseClientUrl: url,
              peerUrl: 'http://127.0.0.1:2380',
            }),
            '--cert-file',
            tls.serverCert,
            '--key-file',
            tls.serverKey,
            '--trusted-ca-file',
            tls.caFile,
            '--client-cert-auth',
            // Metrics without TLS, on the segment namespace's loopback only (bench/etcd-idle.ts).
            '--listen-metrics-urls',
            `http://127.0.0.1:${ETCD_PORT + 2}`,
          ],
          logFile: `${paths.logDir}/etcd.log`,
          context: "start the lab's etcd",
        });
        record.etcdEndpoints = [url];
      } else {
        // The nodes reach the user's etcd through relays on the segment's gateway address.
        record.gatewayPids = [];
        record.etcdEndpoints = [];
        for (const [i, target] of spec.store.endpoints.entries()) {
          const port = ETCD_PORT + i;
          record.gatewayPids.push(
            spawnDetached({
              argv: [
                process.execPath,
                CLI_PATH,
                'lab',
                'gateway',
                '--lab',
                spec.name,
                '--port',
                String(port),
                '--target',
                target,
              ],
              logFile: `${paths.logDir}/gateway-${port}.log`,
              env: {
                PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
                WEFT_LAB_ROOT: deps.root,
                ...labMemberEnv(paths),
              },
              context: `start the store gateway on port ${port}`,
            }),
          );
          record.etcdEndpoints.push(`http://${UNDERLAY_GATEWAY}:${port}`);
        }
        say(
          `store: etcd at ${spec.store.endpoints.join(',')}, reached by the nodes through ${record.etcdEndpoints.join(',')}`,
        );
      }
    } else {
      say(`store: embedded (${paths.leases})`);
    }
    writeLabRecord(paths, record);
    if (spec.api === 'kube') {
      record.api = await labApiUp(
        {
          exec: deps.exec,
          say,
          root: deps.root,
          cliPath: CLI_PATH,
          env: { ...processEnv(paths), WEFT_LAB_ROOT: deps.root },
        },
        spec,
        paths.dir,
        paths.logDir,
        record.nodes.map((n) => n.name),
        {
          flanneld: spec.peers?.flannel ?? [],
          kubeProxy: spec.services === 'kube-proxy' ? record.nodes.map((n) => n.name) : [],
        },
      );
      writeLabRecord(paths, record);
    }

    const objects = new SqliteObjectStore(paths.objects, systemClock);
    try {
      await objects.commit({
        put: [
          {
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: { name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' }, annotations: {} },
          },
        ],
        delete: [],
      });
      // Cluster DNS and the ingress controller, stored through the same parser and plan as
      // `weft apply` (their pods start with the nodes). With --api kube they go to the API server
      // and their pods read the cluster from it, as deploy/weft-dns.yaml's and
      // deploy/weft-ingress.yaml's ServiceAccounts.
      const system = { spec, nodes: record.nodes.map((n) => n.name), weft: [process.execPath, CLI_PATH] };
      const dnsKubeconfig = record.api?.dnsKubeconfig;
      const dns = clusterDnsManifest({
        ...system,
        cluster: dnsKubeconfig ? { kubeconfig: dnsKubeconfig } : { objectsFile: paths.objects },
        ...(spec.dns?.server === 'coredns' && dnsKubeconfig
          ? {
              coredns: {
                binary: corednsPath(),
                corefile: writeLabCorefile(labKubeDir(paths.dir), spec.dns, dnsKubeconfig),
              },
            }
          : {}),
      });
      const ingressKubeconfig = record.api?.ingressKubeconfig;
      const ingress = ingressControllerManifest({
        ...system,
        cluster: ingressKubeconfig ? { kubeconfig: ingressKubeconfig } : { objectsFile: paths.objects },
        workRoot: join(paths.dir, 'ingress'),
      });
      if (record.api) {
        for (const manifest of [dns, ingress]) if (manifest !== '') await applyThroughApi(deps, spec.name, manifest);
      } else
        for (const manifest of [dns, ingress]) {
          if (manifest === '') continue;
          const puts = planApply(
            await objects.list(),
            system.nodes,
            parseManifestLocated(manifest),
            serviceRangesOf(spec),
          );
          await objects.commit({ put: puts, delete: [] });
        }
    } finally {
      await objects.close();
    }

    const flannelNodes = record.nodes.filter((n) => n.peer === 'flannel');
    if (flannelNodes.length > 0 && record.api)
      // kube-subnet-mgr mode: flanneld reads the lab's net-conf.json file, as weft's agents do.
      say(
        `peers: flanneld on ${flannelNodes.map((n) => n.name).join(', ')} (kube-subnet-mgr mode as kube-flannel/flannel; net-conf.json ${paths.netConf})`,
      );
    else if (flannelNodes.length > 0) {
      // flanneld reads net-conf.json from etcd and never writes it (./peer-flannel.ts).
      const how = await storeLabNetConf(deps.exec, paths, record, flannelNodes[0]!, netns, [
        process.execPath,
        CLI_PATH,
      ]);
      say(
        `peers: flanneld on ${flannelNodes.map((n) => n.name).join(', ')} (etcd mode; net-conf.json ${how === 'stored' ? 'stored' : 'already'} at /coreos.com/network/config)`,
      );
    }
    // With --api kube, flanneld starts once its Node has a podCIDR: its kube subnet manager exits
    // at once without one ("pod cidr not assigned"), where a cluster's kubelet would restart its pod
    // until the controller manager has allocated it. The wait below starts it.
    const waitsForPodCidr = (n: LabNodeRecord) => n.peer === 'flannel' && record.api !== undefined;
    for (const n of record.nodes) {
      if (!waitsForPodCidr(n)) n.agentPid = startAgent(paths, record, n, netns);
      n.runnerPid = startRunner(paths, n, netns);
      if (runsKubeProxy(record)) n.kubeProxyPid = startNodeKubeProxy(paths, record, n, netns);
    }
    writeLabRecord(paths, record);
    if (runsKubeProxy(record))
      say(`services: the real kube-proxy (nftables mode) on every node; the agents run --no-services`);
    say(
      `started ${spec.nodes - flannelNodes.length} agents, ${flannelNodes.length > 0 ? `${flannelNodes.length} flanneld, ` : ''}and ${spec.nodes} pod runners; waiting for every node to be Ready`,
    );

    let lastReady = -1;
    // The nodes' kubelets register them where the cluster is: the lab store, or the API server.
    const objectsRead = clusterObjects(paths, record);
    try {
      await waitUntil(`every node to be Ready (see ${paths.logDir})`, 30_000 + spec.nodes * 1_000, async () => {
        for (const n of record.nodes) {
          if (n.peer) ensureFlannelConflist(paths, n);
          // The failed lab is removed with its logs: the error carries the log's last lines.
          if (n.agentPid && processCommandLine(n.agentPid) === undefined)
            throw new Error(
              `the ${n.peer ? 'flanneld' : 'agent'} of ${n.name} exited: ${logTail(n.peer ? flanneldLog(paths, n.name) : `${paths.logDir}/agent-${n.name}.log`)}`,
            );
          if (n.kubeProxyPid && processCommandLine(n.kubeProxyPid) === undefined)
            throw new Error(`the kube-proxy of ${n.name} exited: ${logTail(kubeProxyLog(paths, n.name))}`);
          if (n.runnerPid && processCommandLine(n.runnerPid) === undefined)
            throw new Error(`the pod runner of ${n.name} exited: ${logTail(`${paths.logDir}/runner-${n.name}.log`)}`);
        }
        const infos = await objectsRead.nodes();
        for (const n of record.nodes)
          if (waitsForPodCidr(n) && n.agentPid === undefined && infos.some((i) => i.name === n.name && i.podCIDR)) {
            n.agentPid = startAgent(paths, record, n, netns);
            writeLabRecord(paths, record);
          }
        const ready = infos.filter((n) => n.ready).length;
        if (ready !== lastReady) {
          say(`  nodes ready ${ready}/${spec.nodes}`);
          lastReady = ready;
        }
        return ready === spec.nodes;
      });
    } finally {
      await objectsRead.close();
    }
    // The router's sessions to the nodes now that they hold leases (the supervisor keeps them after).
    if (labRouterSpeaksBgp(spec)) await syncRouterBird(deps.exec, netns, paths, record);
    record.state = 'up';
    // The trailing flag keeps " --lab NAME " in its command line, which `lab down` looks for.
    record.supervisorPid = spawnDetached({
      argv: [process.execPath, CLI_PATH, 'lab', 'supervise', '--lab', spec.name, '--every', '1s'],
      logFile: `${paths.logDir}/supervisor.log`,
      env: { ...processEnv(paths), WEFT_LAB_ROOT: deps.root },
      context: `start the supervisor of lab ${spec.name}`,
    });
    writeLabRecord(paths, record);
    await waitForClusterDns(spec, paths, record, say);
    await waitForIngress(spec, paths, record, say);
    say(
      `lab ${spec.name} is up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${spec.nodes} nodes${(spec.segments ?? 1) > 1 ? ` on ${spec.segments} segments` : ''}, ${spec.backend}${spec.directRouting ? ' with DirectRouting' : ''}, ${spec.store.kind} store, pods in ${spec.network}, services in ${serviceCidrOf(spec)}, load balancers in ${lbCidrOf(spec)}`,
    );
    return record;
  } catch (err) {
    say(`lab up failed: ${(err as Error).message}; removing what was made`);
    await labDown(spec.name, deps).catch((e: unknown) => say(`cleanup also failed: ${(e as Error).message}`));
    throw err;
  }
}

/** The cluster's objects as the lab's user sees them: the lab store, or (`--api kube`) the API server as admin. */
export function clusterObjects(paths: LabPaths, record: LabRecord): ObjectStore {
  return record.api
    ? new KubeObjectStore(loadKubeconfig(record.api.adminKubeconfig).then((c) => new KubeClient(c)))
    : new SqliteObjectStore(paths.objects, systemClock);
}

/** Stores a system manifest through the API server, as `weft apply` does there (server-side apply, dry-run first). */
async function applyThroughApi(deps: LabDeps, name: string, manifest: string): Promise<void> {
  const client = LabClient.open(deps.root, name, deps.exec);
  try {
    await client.apply(parseManifestLocated(manifest));
  } finally {
    await client.close();
  }
}

/** Waits for the cluster DNS pods to be Ready (their EndpointSlice follows), as kubeadm waits for CoreDNS. */
async function waitForClusterDns(
  spec: LabSpec,
  paths: LabPaths,
  record: LabRecord,
  say: (line: string) => void,
): Promise<void> {
  const names = spec.dns ? dnsPodNames(spec.dns) : [];
  if (names.length === 0) return;
  say(
    `cluster DNS: ${names.length} ${spec.dns?.server === 'coredns' ? 'CoreDNS' : 'weft dns'} pods in ${DNS_NAMESPACE} behind ${DNS_SERVICE} (${clusterDnsIp(spec)})${record.api ? ', reading the API server as ServiceAccount kube-system/weft-dns' : ''}`,
  );
  await waitForSystemPods(spec, paths, record, DNS_NAMESPACE, names, 'the cluster DNS pods');
}

/** Waits for the ingress controller's pods to be Ready (nginx answering), when the lab has them. */
async function waitForIngress(
  spec: LabSpec,
  paths: LabPaths,
  record: LabRecord,
  say: (line: string) => void,
): Promise<void> {
  const names = ingressPodNames(spec.ingress?.replicas ?? 0);
  if (names.length === 0) return;
  say(
    `ingress: ${names.length} weft ingress pods in ${INGRESS_NAMESPACE} behind ${INGRESS_NAMESPACE}/${INGRESS_SERVICE}, IngressClass ${INGRESS_CLASS} (default)`,
  );
  await waitForSystemPods(spec, paths, record, INGRESS_NAMESPACE, names, 'the ingress controller pods');
}

async function waitForSystemPods(
  spec: LabSpec,
  paths: LabPaths,
  record: LabRecord,
  namespace: string,
  names: readonly string[],
  what: string,
): Promise<void> {
  const objects = clusterObjects(paths, record);
  try {
    await waitUntil(
      `${what} to be Ready (see weft logs -n ${namespace} ${names[0]}${spec.name === 'weft' ? '' : ` --lab ${spec.name}`})`,
      30_000,
      async () => {
        const pods = (await objects.list('Pod')).filter((p) => p.object.metadata.namespace === namespace);
        return names.every((n) => {
          const pod = pods.find((p) => p.object.metadata.name === n)?.object;
          return pod?.kind === 'Pod' && isPodReady(pod);
        });
      },
    );
  } finally {
    await objects.close();
  }
}

export interface LabDownReport {
  processes: number;
  namespaces: number;
}

/** Removes lab NAME entirely; a lab that does not exist is not an error (nothing to do). */
export async function labDown(name: string, deps: LabDeps): Promise<LabDownReport> {
  const paths = new LabPaths(deps.root, name);
  const netns = new NamedNetns(deps.exec);
  let record: LabRecord | undefined;
  try {
    record = readLabRecord(paths);
  } catch {
    record = undefined; // A torn lab.json: the namespace prefix still finds everything.
  }
  // The supervisor first, and wait for it: it would restart what is stopped below. Then read
  // lab.json again, for the PIDs of anything it started just before it stopped.
  const supervisor = record?.supervisorPid;
  if (supervisor !== undefined && processCommandLine(supervisor)?.includes(`lab supervise --lab ${name} `)) {
    signalProcess(supervisor, 'SIGTERM');
    const end = Date.now() + 3_000;
    while (processCommandLine(supervisor) !== undefined && Date.now() < end)
      await new Promise((r) => setTimeout(r, 50));
    if (processCommandLine(supervisor) !== undefined) signalProcess(supervisor, 'SIGKILL');
    try {
      record = readLabRecord(paths) ?? record;
    } catch {
      // Torn meanwhile: the PIDs read before and the namespace prefix still find everything.
    }
  }
  const namespaces = labNamespaces(netns, paths);
  const pids = new Set<number>();
  for (const ns of namespaces) {
    const r = await deps.exec.tryRun({ argv: ['ip', 'netns', 'pids', ns], context: `list processes in ${ns}` });
    for (const line of r.stdout.split('\n')) if (/^\d+$/.test(line.trim())) pids.add(Number(line.trim()));
  }
  // Processes lab.json names are ours only if their command line still points at this lab.
  for (const pid of [
    record?.etcdPid,
    ...(record?.gatewayPids ?? []),
    ...labApiPids(record?.api),
    ...(record?.nodes ?? []).flatMap((n) => [n.agentPid, n.runnerPid, n.kubeProxyPid]),
  ]) {
    if (pid === undefined) continue;
    const cmd = processCommandLine(pid);
    if (cmd && (cmd.includes(paths.dir) || cmd.includes(`--lab ${name} `) || cmd.includes(paths.nsPrefix)))
      pids.add(pid);
  }
  // Processes outside the lab's namespaces that lab.json no longer names (a torn record, or `lab
  // down` run without the WEFT_LAB_ROOT the lab was made under: the control plane of `--api kube`,
  // the relays) carry the lab's member mark in their environment.
  for (const pid of pidsWithEnvironEntry(labMemberEntry(paths))) if (pid !== process.pid) pids.add(pid);
  // A process has ended once it is gone or a zombie (its exit is done; whoever adopted it reaps it).
  const untilEnded = async (ms: number) => {
    const end = Date.now() + ms;
    while ([...pids].some(processAlive) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  };
  for (const pid of pids) signalProcess(pid, 'SIGTERM');
  await untilEnded(3_000);
  for (const pid of pids) if (processAlive(pid)) signalProcess(pid, 'SIGKILL');
  // Once more, with SIGKILL: a pod's program started while the above ran (a runner restarting a
  // program that had just exited) is in a namespace of the lab too.
  for (const pid of pidsInNetns(...namespaces.map((n) => netns.path(n)))) {
    if (pids.has(pid)) continue;
    pids.add(pid);
    signalProcess(pid, 'SIGKILL');
  }
  // SIGKILL is not instant either (a big process frees its memory first): lab down returns once
  // every process it ended has.
  await untilEnded(5_000);

  // One `ip -batch` for all namespaces: a 200-pod lab has hundreds.
  if (namespaces.length > 0) {
    await deps.exec.tryRun({
      argv: ['ip', '-force', '-batch', '-'],
      input: namespaces.map((n) => `netns del ${n}`).join('\n') + '\n',
      context: `delete the namespaces of lab ${name}`,
    });
    const left = labNamespaces(netns, paths);
    for (const ns of left) await netns.delete(ns);
  }
  // hostNetwork pods' mount namespaces (bound to files under each node's run directory) are
  // released before the directory can go.
  const nodesDir = join(paths.dir, 'nodes');
  if (existsSync(nodesDir))
    for (const node of readdirSync(nodesDir))
      await new PodMountNamespaces(deps.exec, paths.mountNsDir(node)).removeAll();
  // The pods' /etc/netns/NAME directories (their resolv.conf), including any a crashed runner left.
  if (existsSync(NETNS_ETC_DIR))
    for (const d of readdirSync(NETNS_ETC_DIR))
      if (d.startsWith(paths.nsPrefix)) rmSync(join(NETNS_ETC_DIR, d), { recursive: true, force: true });
  rmSync(paths.dir, { recursive: true, force: true });
  if (namespaces.length > 0 || pids.size > 0)
    deps.progress(
      `lab ${name}: ended ${pids.size} processes, deleted ${namespaces.length} namespaces and ${paths.dir}`,
    );
  return { processes: pids.size, namespaces: namespaces.length };
}

export interface LabStatus {
  name: string;
  state: string;
  spec?: LabSpec;
  /** The segments (one for labs of one segment) and the router joining them, if any. */
  segments: Array<{ index: number; cidr: string; gateway: string; router?: string; ns: string }>;
  routerNs?: string;
  /** `controllers`: the node's agent's status document (src/agent/node-status.ts), once it wrote one. */
  nodes: Array<{
    name: string;
    ns: string;
    ip: string;
    segment: number;
    /** The peer daemon the node runs instead of weft's agent (`agent` then says whether it runs). */
    peer?: string;
    agent: boolean;
    runner: boolean;
    /** Whether the node's kube-proxy runs (`--services kube-proxy` labs only). */
    kubeProxy?: boolean;
    info?: NodeInfo;
    controllers?: NodeStatusDocument['controllers'];
  }>;
  namespaces: number;
  pods: number;
  /** The lab's Kubernetes API (`--api kube`). */
  /** The lab's API (--api kube); `error` when it could not be read for this status. */
  api?: { url: string; nodeUrl: string; kubeconfig: string; error?: string };
}

export async function labStatus(name: string, deps: LabDeps): Promise<LabStatus> {
  const paths = new LabPaths(deps.root, name);
  const netns = new NamedNetns(deps.exec);
  const record = readLabRecord(paths);
  const namespaces = labNamespaces(netns, paths);
  if (!record) {
    if (namespaces.length === 0) throw new Error(`lab "${name}" does not exist (weft lab list shows the labs)`);
    return {
      name,
      state: 'broken (no lab.json; run weft lab down to remove it)',
      segments: [],
      nodes: [],
      namespaces: namespaces.length,
      pods: 0,
    };
  }
  // The nodes and pods are where the cluster is: the lab store, or the API server (--api kube).
  const api = record.api;
  const store: ObjectStore = api
    ? new KubeObjectStore(loadKubeconfig(api.adminKubeconfig).then((c) => new KubeClient(c)))
    : new SqliteObjectStore(paths.objects, systemClock);
  try {
    // A status is asked for most when something is broken: an API server that does not answer is
    // said (apiError), and the lab's processes are still shown.
    let infos: NodeInfo[] = [];
    let pods = 0;
    let apiError: string | undefined;
    try {
      infos = await store.nodes();
      pods = (await store.list('Pod')).length;
    } catch (err) {
      if (!api) throw err;
      apiError = `cannot read nodes and pods from the API server ${api.controlPlane.url}: ${(err as Error).message}`;
    }
    const alive = (pid: number | undefined) => pid !== undefined && processCommandLine(pid) !== undefined;
    return {
      name,
      state: record.state,
      spec: record.spec,
      segments: record.segments ?? [
        { index: 0, cidr: segmentCidr(0), gateway: segmentGateway(0), ns: record.segmentNs },
      ],
      ...(record.routerNs ? { routerNs: record.routerNs } : {}),
      ...(record.api
        ? {
            api: {
              url: record.api.controlPlane.url,
              nodeUrl: record.api.nodeUrl,
              kubeconfig: record.api.adminKubeconfig,
              ...(apiError ? { error: apiError } : {}),
            },
          }
        : {}),
      nodes: record.nodes.map((n) => {
        const info = infos.find((i) => i.name === n.name);
        const doc = readNodeStatus(paths.runDir(n.name));
        return {
          name: n.name,
          ns: n.ns,
          ip: n.ip,
          segment: n.segment ?? 0,
          ...(n.peer ? { peer: n.peer } : {}),
          agent: alive(n.agentPid),
          runner: alive(n.runnerPid),
          ...(runsKubeProxy(record) ? { kubeProxy: alive(n.kubeProxyPid) } : {}),
          ...(info ? { info } : {}),
          ...(doc ? { controllers: doc.controllers } : {}),
        };
      }),
      namespaces: namespaces.length,
      pods,
    };
  } finally {
    await store.close();
  }
}

/** Lab names: those with a directory, and those whose namespaces exist without one. */
export function labList(deps: LabDeps): string[] {
  const names = new Set(labDirs(deps.root));
  for (const ns of new NamedNetns(deps.exec).list()) {
    if (!ns.startsWith(LAB_NS_PREFIX)) continue;
    const rest = ns.slice(LAB_NS_PREFIX.length);
    const dash = rest.indexOf('-');
    if (dash > 0) names.add(rest.slice(0, dash));
  }
  return [...names].sort();
}
