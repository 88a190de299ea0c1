/**
 * Wiring of `weft agent` and `weft agent cleanup`. runAgent turns the flags into controllers
 * (src/agent/agent.ts, controller-*.ts) and runs them with the controller runtime: health and
 * metrics are served from the start (NotReady while the store does not answer), the node status
 * document is kept, signals stop the controllers in reverse order. It decides nothing itself:
 * a flag that is wrong exits at once with the flag named; everything else is a controller's job.
 */

import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NodeExec, spawnChild } from '../adapters/exec.js';
import { systemClock } from '../adapters/clock.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { PromMetrics } from '../adapters/metrics-prom.js';
import { NftCommand } from '../adapters/nft.js';
import { NftSession } from '../adapters/nft-session.js';
import { Iproute2Netlink } from '../adapters/netlink-iproute2.js';
import { startStatusServer } from '../adapters/status-server.js';
import { startCniServer } from '../cni/server.js';
import { runInProcess } from '../cni/main.js';
import { IpSession } from '../adapters/ip-session.js';
import { parseDuration } from '../core/duration.js';
import { renderAgentMasqRemoval } from '../core/nft/agent-masq.js';
import { parseSubnetEnv } from '../core/cni/subnet-env.js';
import { nodeControllers, SubnetController } from './agent.js';
import { etcdEndpointList, openStore } from './open-store.js';
import { NODE_GUARD_TABLE, SERVICES_TABLE } from '../core/names.js';
import { BackendReconciler } from './backend-reconciler.js';
import type { BackendDeps } from './backends/backend.js';
import { allBackendKinds } from './backends/index.js';
import { CONFLIST_FILE, cniSocketPath, removeCniFiles, subnetEnvPath } from './cni-files.js';
import { SubnetLease } from './subnet-lease.js';
import { KubeSubnetLease } from './kube-subnet-lease.js';
import { lazyKubeClient, type KubeClient } from '../adapters/kube-api.js';
import { NetConfError, parseNetConf, type NetConf } from '../core/flannel/net-conf.js';
import { AgentConfigError } from './agent.js';
import { detectNodeAddress } from './node-address.js';
import { POLICY_KINDS, PolicyReconciler } from './policy-reconciler.js';
import { openCluster } from './open-cluster.js';
import { planRemoval } from '../core/nft/sync.js';
import { SKELETON as POLICY_SKELETON } from '../core/policy/policy-table.js';
import type { Controller, SyncTiming } from './controller.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { LeaseStore } from '../ports/lease-store.js';
import type { Metrics } from '../ports/metrics.js';
import { ControllerRuntime } from './controller-runtime.js';
import { PolicyController } from './controller-policy.js';
import { SERVICE_KINDS, servicesController } from './controller-services.js';
import { healthChecksController } from './controller-health-checks.js';
import { NodeHealthCheckServers } from '../adapters/health-check-servers.js';
import { ServiceController } from './controller-service.js';
import { nodeStatusPath, NodeStatusWriter, statusSocketPath } from './node-status.js';
import { DEFAULT_FLOW_CAPACITY, FlowLogService } from './flow-log.js';
import { DEFAULT_FLOW_LOG, FlowPolicyIndex } from '../core/policy/flow-log.js';
import type { Flow } from '../core/flows/flow.js';

export interface AgentCliOptions {
  store: string;
  storeFile: string;
  etcdEndpoints: string;
  etcdPrefix: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  runDir: string;
  cniConfDir: string;
  ipamDataDir: string;
  pluginPrefix: string;
  netConf?: string;
  nodeName: string;
  iface?: string;
  publicIp?: string;
  ipMasq: boolean;
  leaseTtl: string;
  renewMargin?: string;
  resync: string;
  metricsAddr: string;
  /** The lab's object store (SQLite): enforce the NetworkPolicies stored there for this node's pods. */
  objectsFile?: string;
  /** The cluster to follow, `sqlite:PATH` (--objects-file PATH is the lab's alias for it). */
  cluster?: string;
  /** Flow logging (with a cluster): on unless --no-flow-log. */
  flowLog?: boolean;
  /** Flows kept in the node's ring. */
  flowLogCapacity?: string;
  /** Flannel's flag: the Kubernetes API is the datastore (Node spec.podCIDR, Flannel's Node annotations). */
  kubeSubnetMgr?: boolean;
  /** The kubeconfig for the API (default with --kube-subnet-mgr: in-cluster config). */
  kubeconfig?: string;
  /**
   * Commander's `--no-services`: false when given. The node's Services (ClusterIP, NodePort,
   * LoadBalancer, health check node ports) are then another proxy's, kube-proxy's, as in a cluster
   * that keeps kube-proxy beside its pod network: the agent neither reads Services and
   * EndpointSlices nor keeps a Services table, and removes one it left before.
   */
  services?: boolean;
}

/** The subnet in an existing subnet.env (network form), or undefined when there is none. */
/** The cluster source NetworkPolicy is read from (--cluster, or the lab's --objects-file), if any. */
function clusterSpecOf(opts: AgentCliOptions): string | undefined {
  return opts.cluster ?? (opts.objectsFile ? `sqlite:${opts.objectsFile}` : opts.kubeSubnetMgr ? 'kube' : undefined);
}

/** The --net-conf file's config; its errors are AgentConfigError (the operator's to fix). */
function netConfOf(text: string): NetConf {
  try {
    return parseNetConf(text);
  } catch (err) {
    if (err instanceof NetConfError) throw new AgentConfigError(`--net-conf: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Runs `step` until it succeeds or `stopped()`, with capped backoff, logging each failure once. */
async function retryUntil(
  step: () => Promise<void>,
  o: { what: string; clock: Clock; log: Logger; stopped: () => boolean },
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await step();
      return;
    } catch (err) {
      if (o.stopped()) throw err;
      const wait = Math.min(10_000, 200 * 2 ** Math.min(attempt - 1, 10));
      o.log.warn(`cannot ${o.what} yet; retrying`, { attempt, retryInMs: wait, error: (err as Error).message });
      await new Promise<void>((r) => o.clock.setTimeout(r, wait));
    }
  }
}

function readPreviousSubnet(runDir: string): string | undefined {
  try {
    return parseSubnetEnv(readFileSync(subnetEnvPath(runDir), 'utf8')).subnet;
  } catch {
    // No (usable) subnet.env: a first start, nothing to reuse.
    return undefined;
  }
}

/** The flags that are wrong on their face (durations, files, combinations): checked before anything starts. */
export function checkFlags(opts: AgentCliOptions): {
  ttlMs: number;
  renewMarginMs: number;
  resyncMs: number;
  flowCapacity: number;
  netConfText?: string;
} {
  const ttlMs = parseDuration(opts.leaseTtl, '--lease-ttl');
  const capacityText = opts.flowLogCapacity ?? String(DEFAULT_FLOW_CAPACITY);
  const flowCapacity = Number(capacityText);
  if (!/^\d+$/.test(capacityText) || flowCapacity < 1 || flowCapacity > 1_000_000)
    throw new Error(`--flow-log-capacity: "${capacityText}" must be a whole number from 1 to 1000000`);
  const renewMarginMs = opts.renewMargin ? parseDuration(opts.renewMargin, '--renew-margin') : Math.floor(ttlMs / 2);
  const resyncMs = parseDuration(opts.resync, '--resync');
  if (opts.kubeconfig !== undefined && !opts.kubeSubnetMgr && opts.cluster !== 'kube')
    throw new Error('--kubeconfig: only with --kube-subnet-mgr or --cluster kube (nothing else reads the API)');
  if (opts.kubeSubnetMgr && opts.store !== 'embedded')
    throw new Error(`--store ${opts.store}: not with --kube-subnet-mgr (the Kubernetes API is the datastore)`);
  if (opts.kubeSubnetMgr && !opts.netConf)
    throw new Error(
      "--kube-subnet-mgr: needs --net-conf FILE (the cluster's net-conf.json, as flanneld's --net-config-path; the API has no place for it)",
    );
  if (opts.services === false && clusterSpecOf(opts) === undefined)
    throw new Error(
      '--no-services: the agent programs Services only when it follows a cluster (--cluster, --objects-file or --kube-subnet-mgr); without one there are none to leave to another proxy',
    );
  if (renewMarginMs >= ttlMs) throw new Error(`--renew-margin: must be shorter than --lease-ttl (${opts.leaseTtl})`);
  if (!opts.netConf) return { ttlMs, renewMarginMs, resyncMs, flowCapacity };
  try {
    return { ttlMs, renewMarginMs, resyncMs, flowCapacity, netConfText: readFileSync(opts.netConf, 'utf8') };
  } catch (err) {
    throw new Error(`--net-conf ${opts.netConf}: ${(err as Error).message}`, { cause: err });
  }
}

/** What the controllers are built from: the process's adapters, and the callbacks into runAgent. */
interface AgentDeps {
  log: JsonLogger;
  exec: NodeExec;
  clock: Clock;
  metrics: Metrics;
  /** The lease store; undefined with --kube-subnet-mgr (the API is the datastore). */
  store: LeaseStore | undefined;
  /** The Kubernetes API client, made on first use (a bad kubeconfig is then a retried, reported error). */
  kube: () => Promise<KubeClient>;
  /** Another node holds this node's subnet now: the agent must exit (and be restarted). */
  onLost: (err: Error) => void;
  /** A controller's status changed and should reach the node status document at once. */
  onStatusChange: () => void;
}

/**
 * The agent's controllers, in start order, and what to close after they stopped: subnet →
 * backend → ip-masq → node-guard → cni-socket → cni-files (pods may start once it has run) → policy (with
 * --objects-file).
 */
/** How long an ADD through the agent waits for the pod's policy before it returns anyway. */
const ADMIT_TIMEOUT_MS = 5_000;

/**
 * The pod a successful ADD wired, from the CNI_ARGS a runtime passes (kubelet's K8S_POD_*) and
 * the result's first IPv4 address; undefined when either is missing (then nothing waits).
 */
export function addedPod(
  cniArgs: string | undefined,
  stdout: string,
): { namespace: string; name: string; uid: string; ip: string } | undefined {
  const args = new Map(
    (cniArgs ?? '')
      .split(';')
      .map((kv) => kv.split('='))
      .filter((kv): kv is [string, string] => kv.length === 2),
  );
  const namespace = args.get('K8S_POD_NAMESPACE');
  const name = args.get('K8S_POD_NAME');
  const uid = args.get('K8S_POD_UID');
  if (!namespace || !name || !uid) return undefined;
  let ips: Array<{ address?: string }> = [];
  try {
    ips = ((JSON.parse(stdout) as { ips?: Array<{ address?: string }> }).ips ?? []) as Array<{ address?: string }>;
  } catch {
    return undefined;
  }
  const ip = ips.map((i) => i.address?.split('/')[0]).find((a) => a !== undefined && !a.includes(':'));
  return ip ? { namespace, name, uid, ip } : undefined;
}

/**
 * With --no-services, the place of the Services controller: another proxy (kube-proxy) programs
 * the node's Services, so a Services table this agent left before (a node moved from weft's
 * Services to kube-proxy's) is removed at start, or its stale DNAT rules would answer before
 * kube-proxy's. Optional: a failure is logged and said in the node status, not fatal.
 */
function servicesOffController(exec: NodeExec, log: Logger, clock: Clock): Controller {
  return new ServiceController({
    name: 'services-off',
    describe: `no Services table (--no-services: another proxy programs Services on this node)`,
    optional: true,
    without: `weft's Services table ip ${SERVICES_TABLE} may be left from before`,
    log,
    clock,
    open: async () => {
      await new NftCommand(exec).apply(
        planRemoval({ family: 'ip', name: SERVICES_TABLE }),
        `remove weft's Services table ip ${SERVICES_TABLE} (--no-services)`,
      );
      return { close: () => undefined };
    },
  });
}

function agentControllers(
  opts: AgentCliOptions,
  flags: ReturnType<typeof checkFlags>,
  d: AgentDeps,
): { controllers: Controller[]; resources: Array<{ close(): unknown }>; flows: FlowLogService | undefined } {
  const { log, exec, clock, metrics, store } = d;
  const timing: SyncTiming = {
    minIntervalMs: 50,
    resyncMs: flags.resyncMs,
    backoffInitialMs: 200,
    backoffMaxMs: 10_000,
  };
  const previousSubnet = readPreviousSubnet(opts.runDir);
  /** The policy loop, once made: the CNI socket's ADDs wait for it (see addedPod). */
  let policy: PolicyReconciler | undefined;
  // The backend's own processes stop first (resources close in order); its kernel state stays.
  const resources: Array<{ close(): unknown }> = [{ close: () => node.stopBackend() }, ...(store ? [store] : [])];
  let flows: FlowLogService | undefined;
  const subnet: SubnetController = new SubnetController({
    nodeName: opts.nodeName,
    ...(opts.iface ? { iface: opts.iface } : {}),
    ...(opts.publicIp ? { publicIp: opts.publicIp } : {}),
    ...(flags.netConfText !== undefined ? { netConfText: flags.netConfText } : {}),
    exec,
    ...(store ? { store } : {}),
    ...(opts.kubeSubnetMgr ? { loadConf: () => Promise.resolve(netConfOf(flags.netConfText ?? '')) } : {}),
    clock,
    log,
    metrics,
    onPeersChanged: () => node.backend.trigger(),
    makeLeaser: (conf, attrs, onPeersChanged) =>
      opts.kubeSubnetMgr || !store
        ? new KubeSubnetLease({
            client: d.kube,
            nodeName: opts.nodeName,
            conf,
            attrs,
            clock,
            log: log.with({ component: 'kube-subnet-mgr' }),
            onPeersChanged,
          })
        : new SubnetLease({
            store,
            conf,
            attrs,
            ttlMs: flags.ttlMs,
            renewMarginMs: flags.renewMarginMs,
            relistMs: Math.min(flags.resyncMs, Math.max(1000, Math.floor(flags.ttlMs / 4))),
            clock,
            random: Math.random,
            log,
            onPeersChanged,
            onLost: d.onLost,
            ...(previousSubnet ? { previousSubnet } : {}),
          }),
  });
  const backendDeps: BackendDeps = {
    netlink: new Iproute2Netlink(exec),
    exec,
    spawn: spawnChild,
    clock,
    log,
    metrics,
    runDir: opts.runDir,
  };
  const node = nodeControllers({
    subnet,
    backendDeps,
    nft: new NftCommand(exec),
    files: {
      runDir: opts.runDir,
      cniConfDir: opts.cniConfDir,
      pluginPrefix: opts.pluginPrefix,
      ipamDataDir: opts.ipamDataDir,
      networkName: 'weft',
    },
    ipMasq: opts.ipMasq,
    awaitPolicy: clusterSpecOf(opts) !== undefined,
    storeEndpoints: opts.store === 'etcd' ? etcdEndpointList(opts.etcdEndpoints) : [],
    clock,
    log,
    metrics,
    timing,
  });
  // The node's CNI socket: the weft plugin wrappers run their calls here (see src/cni/server.ts),
  // with one long-lived `ip` for the node side of every ADD and DEL (src/adapters/ip-session.ts).
  const cniLog = log.with({ component: 'cni' });
  const cniSocket = new ServiceController({
    name: 'cni-socket',
    describe: cniSocketPath(opts.runDir),
    optional: true,
    without: 'the plugin wrappers will run the plugins themselves',
    log: cniLog,
    clock,
    open: async () => {
      const ipSession = new IpSession();
      const nft = new NftSession(exec);
      const server = await startCniServer({
        socketPath: cniSocketPath(opts.runDir),
        run: async (t, e, s) => {
          const r = await runInProcess(t, e, s, { ipSession, nft });
          // Calico's and Cilium's way: an ADD returns once the pod's policy is in the kernel.
          const pod = r.exitCode === 0 && e.CNI_COMMAND === 'ADD' ? addedPod(e.CNI_ARGS, r.stdout) : undefined;
          if (pod && policy) {
            const t0 = clock.now();
            const ok = await policy.admit(pod, ADMIT_TIMEOUT_MS);
            cniLog.info(ok ? 'pod policy programmed before ADD returned' : 'ADD returned before the pod policy', {
              pod: `${pod.namespace}/${pod.name}`,
              ip: pod.ip,
              waitMs: clock.now() - t0,
            });
          }
          return r;
        },
        log: (m, f) => cniLog.info(m, f),
      });
      return {
        close: async () => {
          await server.close();
          ipSession.close();
          nft.close();
        },
      };
    },
  });
  const controllers: Controller[] = [subnet, node.backend, node.masq, node.nodeGuard, cniSocket, node.cniFiles];
  // NetworkPolicy needs the cluster's objects: a cluster source (--cluster, or the lab's
  // --objects-file), followed by one cache that the policy controller reads.
  const clusterSpec = clusterSpecOf(opts);
  let stoppingCluster = false;
  if (clusterSpec) {
    const withServices = opts.services !== false;
    const cluster = openCluster(clusterSpec, [...POLICY_KINDS, ...(withServices ? SERVICE_KINDS : [])], {
      clock,
      log: log.with({ component: 'cluster' }),
      kube: d.kube,
    });
    const policyNft = new NftSession(exec);
    // The flow log (with flow logging on): the agent reads the policy table's NFLOG group.
    const flowIndex = new FlowPolicyIndex();
    if (opts.flowLog !== false) {
      flows = new FlowLogService({
        node: opts.nodeName,
        group: DEFAULT_FLOW_LOG.group,
        capacity: flags.flowCapacity,
        podAt: (ip) => {
          const pods = cluster.cache.podsWithIP(ip);
          const p = pods.find((x) => !x.object.spec.hostNetwork) ?? pods[0];
          return p ? `${p.object.metadata.namespace}/${p.object.metadata.name}` : undefined;
        },
        index: flowIndex,
        metrics,
        log: log.with({ component: 'flows' }),
        clock,
      });
    }
    const flowLog = flows;
    const servicesNft = new NftSession(exec);
    // The Services layer and its health check node ports, unless another proxy (--no-services) has them.
    const services = withServices
      ? servicesController({
          node: opts.nodeName,
          cache: cluster.cache,
          nft: servicesNft,
          exec,
          network: node.network,
          clock,
          log: log.with({ component: 'services' }),
          metrics,
          timing,
        })
      : undefined;
    const healthChecks = services
      ? healthChecksController({
          node: opts.nodeName,
          cache: cluster.cache,
          servers: new NodeHealthCheckServers(),
          proxyHealthy: () => services.controller.status().ready,
          clock,
          log: log.with({ component: 'health-checks' }),
          metrics,
          timing,
        })
      : undefined;
    resources.push(
      { close: () => ((stoppingCluster = true), cluster.close()) },
      policyNft,
      servicesNft,
      ...(services && healthChecks ? [{ close: services.close }, { close: healthChecks.close }] : []),
    );
    controllers.push(
      new ServiceController({
        name: 'cluster',
        describe: `the cluster cache of ${clusterSpec}`,
        optional: false,
        log: log.with({ component: 'cluster' }),
        clock,
        open: async () => {
          // The API server may refuse or be away for a while (RBAC not bound yet, a restart): the
          // agent waits for it, saying why, rather than exiting; a lab store opens at once.
          await retryUntil(() => cluster.cache.start(), {
            what: 'list the cluster',
            clock,
            log: log.with({ component: 'cluster' }),
            stopped: () => stoppingCluster,
          });
          return {
            close: () => {
              stoppingCluster = true;
            },
          };
        },
      }),
      new PolicyController({
        nft: policyNft,
        log: log.with({ component: 'policy' }),
        clock,
        metrics,
        onChange: d.onStatusChange,
        make: (hooks) =>
          (policy = new PolicyReconciler({
            node: opts.nodeName,
            cache: cluster.cache,
            nft: hooks.nft,
            log: hooks.log,
            clock,
            onApplied: hooks.onApplied,
            ...(flowLog ? { flowLog: DEFAULT_FLOW_LOG, onPlanned: (chains) => flowIndex.update(chains) } : {}),
          })),
      }),
      ...(flowLog
        ? [
            new ServiceController({
              name: 'flow-log',
              describe: `the flow log (NFLOG group ${DEFAULT_FLOW_LOG.group}, read by the agent)`,
              optional: true,
              without: 'policy verdicts are enforced but not logged',
              log: log.with({ component: 'flows' }),
              clock,
              open: () => flowLog.open(),
              warning: () => flowLog.problem(),
            }),
          ]
        : []),
      ...(services && healthChecks
        ? [services.controller, healthChecks.controller]
        : [servicesOffController(exec, log.with({ component: 'services' }), clock)]),
    );
  }
  return { controllers, resources, flows };
}

export async function runAgent(opts: AgentCliOptions): Promise<void> {
  const flags = checkFlags(opts);
  const log = new JsonLogger((l) => process.stderr.write(l), { node: opts.nodeName });
  const clock = systemClock;
  const metrics = new PromMetrics();
  const store = opts.kubeSubnetMgr ? undefined : await openStore(opts);
  const { controllers, resources, flows } = agentControllers(opts, flags, {
    log,
    exec: new NodeExec(),
    clock,
    metrics,
    store,
    kube: lazyKubeClient(opts.kubeconfig, process.env, { userAgent: `weft-agent/${opts.nodeName}` }),
    onLost: (err) => {
      log.error('exiting: the subnet lease was lost', { error: err.message });
      void shutdown(3);
    },
    onStatusChange: () => statusDoc.write(),
  });
  const runtime = new ControllerRuntime(controllers, log);
  const statusDoc = new NodeStatusWriter({
    runDir: opts.runDir,
    node: opts.nodeName,
    statuses: () => runtime.statuses(),
    clock,
    // A look every 2 s (it writes only what changed); the policy controller also writes at once.
    everyMs: 2000,
    onError: (err) => log.warn('cannot write the node status document', { error: err.message }),
  });
  // The status socket lives in the run dir, which a first start has not made yet.
  mkdirSync(opts.runDir, { recursive: true });
  const status = await startStatusServer(
    opts.metricsAddr,
    {
      health: () => runtime.health(),
      metrics: () => metrics.render(),
      ...(flows
        ? {
            flows: {
              node: opts.nodeName,
              capacity: flows.capacity,
              list: () => flows.list(),
              follow: (fn: (f: Flow) => void) => flows.follow(fn),
            },
          }
        : {}),
    },
    { socketPath: statusSocketPath(opts.runDir) },
  );
  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      await runtime.stop();
      statusDoc.stop();
      for (const r of resources) await r.close();
      await status.close();
    })());
  async function shutdown(code: number): Promise<void> {
    log.info('stopping; kernel state and lease are left in place', { code });
    await stopAll();
    process.exit(code);
  }
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  statusDoc.start();
  try {
    await runtime.start();
  } catch (err) {
    await stopAll();
    throw err;
  }
  if (stopping) return;
  statusDoc.write();
  log.info('agent running', { metrics: opts.metricsAddr, controllers: controllers.map((c) => c.name) });
}

/** Removes the agent's backend devices and routes, its nft table and its files; nothing else. */
export async function runCleanup(opts: AgentCliOptions & { releaseLease: boolean }): Promise<void> {
  const exec = new NodeExec();
  const removed = await new BackendReconciler(new Iproute2Netlink(exec)).teardown();
  // What a backend type leaves beyond weft-marked routes and devices (its daemon's files, ...).
  const deps: BackendDeps = {
    netlink: new Iproute2Netlink(exec),
    exec,
    spawn: spawnChild,
    clock: systemClock,
    log: new JsonLogger((line) => process.stderr.write(line)),
    metrics: new PromMetrics(),
    runDir: opts.runDir,
  };
  for (const kind of allBackendKinds()) removed.described.push(...((await kind.cleanup?.(deps)) ?? []));
  await new NftCommand(exec).apply(renderAgentMasqRemoval(), "cleanup: remove the agent's ip-masq table");
  await new NftCommand(exec).apply(planRemoval(POLICY_SKELETON), "cleanup: remove the agent's NetworkPolicy table");
  await new NftCommand(exec).apply(
    planRemoval({ family: 'inet', name: NODE_GUARD_TABLE }),
    "cleanup: remove the agent's node guard table",
  );
  await new NftCommand(exec).apply(
    planRemoval({ family: 'ip', name: SERVICES_TABLE }),
    "cleanup: remove the agent's Services table",
  );
  removeCniFiles({ runDir: opts.runDir, cniConfDir: opts.cniConfDir });
  rmSync(nodeStatusPath(opts.runDir), { force: true });
  for (const line of removed.described) process.stdout.write(`removed ${line}\n`);
  process.stdout.write(
    `removed nft tables inet weft-agent-masq, inet weft-policy, inet ${NODE_GUARD_TABLE} and ip ${SERVICES_TABLE}, ${subnetEnvPath(opts.runDir)}, ${join(opts.cniConfDir, CONFLIST_FILE)}\n`,
  );
  if (opts.releaseLease) {
    const node = await detectNodeAddress(exec, {
      ...(opts.iface ? { iface: opts.iface } : {}),
      ...(opts.publicIp ? { publicIp: opts.publicIp } : {}),
    });
    const store = await openStore(opts);
    try {
      for (const l of await store.listLeases()) {
        if (l.publicIp !== node.publicIp) continue;
        await store.revoke(l.subnet);
        process.stdout.write(`released lease ${l.subnet}\n`);
      }
    } finally {
      await store.close();
    }
  }
}
