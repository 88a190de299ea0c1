/**
 * The lab's kubelet for one node: it follows the pods scheduled to its node through a cluster
 * cache (a watch on the lab's object store, see src/agent/cluster-cache.ts) and makes them real the way a container runtime does: a network namespace per pod, the
 * node's CNI conflist (written by the node's `weft agent`) run through the real plugins for ADD
 * and DEL, then the pod's declared ports served by real sockets in that namespace. It is the
 * writer of each pod's `status` (phase, IPs, conditions), and registers the node (subnet,
 * backend, readiness) for `weft get`.
 *
 * It runs inside the node's network namespace (entered with nsenter, so it stays in the host's
 * mount namespace and the pod namespaces it names are visible to everyone), as a kubelet runs on
 * its host: the plugins it execs, the agent's /healthz and the store all are where they would be.
 *
 * Crash safety: the runner's own sandbox record of a pod (its network namespace, container ID and
 * uid: what a CRI runtime keeps, see ports/sandbox-store.ts) is written before anything is made
 * for it, so a runner restarted after kill -9 finds every pod it started; pods whose object is
 * gone (or replaced by a new uid) are torn down, the others get their sockets back.
 *
 * Readiness: a pod's readiness probes run from here (./readiness-prober.ts, scheduled by
 * core/lab/readiness.ts); its Ready condition is written when it changes, never on every probe.
 *
 * Graceful deletion: a pod with metadata.deletionTimestamp (`weft delete` with a grace period)
 * keeps running and serving until that time (its EndpointSlice endpoint turns terminating), then
 * the runner tears the sandbox down and removes the object, as kubelet's final delete does. A
 * terminating pod that never ran here is removed at once.
 *
 * Programs: a container with a `command` runs it as a real process in the pod's namespace
 * (./program-runner.ts), restarted per restartPolicy with kubelet's back-off; the pod's phase and
 * containerStatuses follow it. A graceful deletion sends its process groups SIGTERM at once and
 * SIGKILL at the deadline; an immediate one gives them IMMEDIATE_GRACE_MS. A restarted runner
 * kills the programs its predecessor left (recorded in the sandbox record with their /proc start
 * time), and anything else in such a pod's namespace, and starts them again: it cannot wait for
 * the exit of a process that is not its child, so adopting them would leave their exit codes
 * unknown. Tearing down a pod that ran programs also kills whatever is left in its namespace.
 *
 * Scope: Kubernetes' pod lifecycle is reduced to what a pod network needs: Pending → Running,
 * or Failed with the reason when the sandbox cannot be made; readiness; graceful deletion;
 * programs and their restarts. No liveness or startup probes, or images.
 */

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerStatus, Pod, PodPhase } from '../core/k8s/objects.js';
import { isPodReady, nodePodStatus } from '../core/k8s/pod-status.js';
import { podNetworkMode } from '../core/k8s/pod-network.js';
import { labContainerId, labPodNamespace } from '../core/names.js';
import { parseSubnetEnv } from '../core/cni/subnet-env.js';
import type { Exec } from '../ports/exec.js';
import type { Logger } from '../ports/logger.js';
import type { Clock } from '../ports/clock.js';
import type { LeaseStore } from '../ports/lease-store.js';
import type { NodeInfo, ObjectStore, Stored } from '../ports/object-store.js';
import type { ProgramRecord, SandboxRecord, SandboxStore } from '../ports/sandbox-store.js';
import { KUBELET_BACKOFF, type BackoffConfig } from '../core/lab/container-run.js';
import { isSameProcess, pidsInNetns, signalGroup, signalProcess } from '../adapters/proc.js';
import { PodPrograms, runsProgram } from './program-runner.js';
import type { ClusterCache } from '../agent/cluster-cache.js';
import { NamedNetns, netnsEtcDir } from '../adapters/netns.js';
import { httpGetText } from '../adapters/http-get.js';
import { servePodPorts, type PodPort, type ServedPorts } from '../adapters/pod-ports.js';
import type { CniRuntime, ConfList } from '../cni/runtime.js';
import { CONFLIST_FILE } from '../agent/cni-files.js';
import { readNodeStatus } from '../agent/node-status.js';
import { PodProber } from './readiness-prober.js';
import {
  ownsResolvConf,
  podResolvConf,
  renderResolvConf,
  type ClusterDns,
  type ResolvConf,
} from '../core/lab/pod-dns.js';
import { PodMountNamespaces } from '../adapters/mount-ns.js';
import type { TimerHandle } from '../ports/clock.js';

export interface PodRunnerOptions {
  lab: string;
  node: string;
  nodeIp: string;
  runDir: string;
  cniConfDir: string;
  /** Where pod statuses and the node are written. */
  store: ObjectStore;

  /** The runner's own sandbox records. */
  sandboxes: SandboxStore;
  /** Follows at least the Pod kind; started by the caller, which also nudges('store') on its Pod events. */
  cache: ClusterCache;
  leases: LeaseStore;
  exec: Exec;
  runtime: CniRuntime;
  clock: Clock;
  log: Logger;
  /** The agent's /healthz URL (inside the node namespace). */
  agentHealthUrl: string;
  /** The loop's timer (ms, for heartbeats and resyncs); nudge() wakes it sooner. */
  pollMs?: number;
  /** Full resync and node heartbeat period (ms). */
  resyncMs?: number;
  /** Pods set up or torn down at once. */
  parallel?: number;
  /** The directory of a pod's container logs (see LabPaths.podLogDir). */
  podLogDir: (namespace: string, name: string) => string;
  /** Restart back-off of programs; kubelet's when omitted. */
  backoff?: BackoffConfig;
  /** The cluster's DNS (kubelet's --cluster-dns and --cluster-domain) for the pods' resolv.conf. */
  clusterDns: ClusterDns;
  /** The node's own resolv.conf (kubelet's --resolv-conf), read when a pod is made. */
  nodeResolvConf: () => ResolvConf;
  /** Where hostNetwork pods' mount namespaces are bound (see adapters/mount-ns.ts). */
  mountNsDir: string;
}

/** How long an immediately deleted pod's programs get between SIGTERM and SIGKILL. */
const IMMEDIATE_GRACE_MS = 2_000;

interface LivePod {
  uid: string;
  sandbox: SandboxRecord;
  phase: PodPhase;
  ports: ServedPorts;
  /** The conflist the pod was added with (DEL must see the same network config). */
  conflist?: ConfList;
  /** A Running pod's address and start time, written again with each readiness change. */
  podIP?: string;
  startTime?: string;
  /** A Running pod's readiness probes. */
  prober?: PodProber;
  /** The pod's status writes, one after the other (a later write never lands before an earlier one). */
  statusWrites?: Promise<void>;
  /** The programs of its containers that have a command. */
  programs?: PodPrograms;
  /** Sandbox record rewrites (program PIDs), one after the other. */
  recordWrites?: Promise<void>;
}

const podKey = (ns: string, name: string) => `${ns}/${name}`;

/** An unchanged node status is written again after this long (kubelet's default is 10 s). */
const HEARTBEAT_WRITE_MS = 10_000;
/**
 * How long the node's lease, as last read, is trusted while subnet.env stays the same. Listing
 * every lease on each 2 s heartbeat was all of an idle etcd lab's load (it grows with nodes x
 * leases); the subnet cannot change without the agent rewriting subnet.env, which re-reads at once.
 */
const LEASE_REREAD_MS = 30_000;

/** The TCP and UDP ports a pod declares (SCTP cannot be served on this kernel; see the README). */
/** The CNI portMappings of a pod's hostPorts (the runtime's form: lower-case protocol). */
export function portMappingsOf(pod: Pod): Array<{ hostPort: number; containerPort: number; protocol: string }> {
  return pod.spec.containers.flatMap((c) =>
    c.ports.flatMap((p) =>
      p.hostPort === undefined
        ? []
        : [{ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol.toLowerCase() }],
    ),
  );
}

/** The ports the runner serves itself: those of containers without a program (a program serves its own). */
export function declaredPorts(pod: Pod): PodPort[] {
  const out: PodPort[] = [];
  for (const c of pod.spec.containers) {
    if (runsProgram(c)) continue;
    for (const p of c.ports) {
      if (p.protocol === 'TCP' || p.protocol === 'UDP') out.push({ protocol: p.protocol, port: p.containerPort });
    }
  }
  return out;
}

export class PodRunner {
  private readonly live = new Map<string, LivePod>();
  private readonly busy = new Set<string>();
  private readonly netns: NamedNetns;
  /** hostNetwork pods' own mount namespaces (their resolv.conf), named by container ID. */
  private readonly mounts: PodMountNamespaces;
  private stopped = false;
  private dirty = true;
  /** The cache said pods changed since the last sync. */
  private podsChanged = true;
  private lastResync = 0;
  private lastHeartbeat = 0;
  private nodeReady = false;
  /** The last node info written (without its time), and when. */
  private lastNodeInfo = '';
  private lastNodeWrite = Number.NEGATIVE_INFINITY;
  /** The node's lease as last read, with the subnet.env text and time it was read at. */
  private leaseRead: { env: string; at: number; subnet?: string; backend?: string } | undefined;
  private running = 0;
  private wake: (() => void) | undefined;
  private nudged = false;
  private heartbeatDue = false;
  /** Wake-ups at the end of terminating pods' grace periods, by pod key. */
  private readonly deadlines = new Map<string, { at: number; timer: TimerHandle }>();

  constructor(private readonly o: PodRunnerOptions) {
    this.netns = new NamedNetns(o.exec);
    this.mounts = new PodMountNamespaces(o.exec, o.mountNsDir);
  }

  private conflist(): ConfList | undefined {
    const path = join(this.o.cniConfDir, CONFLIST_FILE);
    if (!existsSync(path)) return undefined;
    return JSON.parse(readFileSync(path, 'utf8')) as ConfList;
  }

  /** Takes back the pods a previous runner of this node left (see the file comment). */
  async recover(): Promise<void> {
    for (const sb of await this.o.sandboxes.sandboxes()) {
      if (sb.node !== this.o.node) continue;
      const key = podKey(sb.namespace, sb.name);
      const pod = this.o.cache.get('Pod', sb.namespace, sb.name);
      const nsAlive = sb.netns === '' || this.netns.list().includes(sb.netns);
      // The programs a previous runner started are killed (see the file comment) and started again
      // below, with whatever they left in the pod's namespace (a daemon in a session of its own),
      // as a container runtime's restart ends everything in the container.
      await this.killRecorded(key, sb.programs ?? []);
      if (sb.netns !== '' && (sb.programs ?? []).length > 0 && nsAlive)
        this.killLeftovers(key, this.netns.path(sb.netns));
      const phase = pod?.object.status?.phase;
      if (
        pod &&
        pod.meta.uid === sb.uid &&
        (phase === 'Running' || phase === 'Succeeded' || phase === 'Failed') &&
        nsAlive &&
        (pod.object.status?.podIP !== undefined || sb.network === 'none')
      ) {
        try {
          const netnsPath = sb.netns === '' ? undefined : this.netns.path(sb.netns);
          const ports = await servePodPorts(key, declaredPorts(pod.object), netnsPath);
          const status = pod.object.status;
          const live: LivePod = {
            uid: sb.uid,
            sandbox: sb,
            phase: 'Running',
            ports,
            ...(sb.network === 'none' ? {} : { conflist: this.conflist(), podIP: status?.podIP ?? this.o.nodeIp }),
            ...(status?.startTime === undefined ? {} : { startTime: status.startTime }),
          };
          // The probes start from the stored readiness, so a runner restart does not flap endpoints.
          this.startProber(key, live, pod.object, netnsPath, isPodReady(pod.object));
          this.startPrograms(key, live, pod.object, status?.containerStatuses ?? []);
          this.live.set(key, live);
          live.programs?.start(false);
          live.prober?.start();
          this.o.log.info('pod recovered', { pod: key });
          continue;
        } catch (err) {
          this.o.log.warn('cannot serve a recovered pod; tearing it down', { pod: key, error: (err as Error).message });
        }
      }
      await this.teardown(key, {
        uid: sb.uid,
        sandbox: sb,
        phase: 'Failed',
        ports: { close: async () => undefined },
        ...(sb.network === 'none' ? {} : { conflist: this.conflist() }),
      });
    }
  }

  /**
   * Wakes the loop: `store` when the object store may have changed, `node` when a file the
   * agent writes for this node did (its status is then refreshed at once). A nudge that comes
   * while the loop is busy is kept for its next turn.
   */
  nudge(what: 'store' | 'node'): void {
    if (what === 'node') this.heartbeatDue = true;
    else this.podsChanged = true;
    this.nudged = true;
    this.wake?.();
  }

  /** Runs until stop(): syncs when the cache's pods changed and every resync period. */
  async run(): Promise<void> {
    const pollMs = this.o.pollMs ?? 150;
    const resyncMs = this.o.resyncMs ?? 2_000;
    while (!this.stopped) {
      this.nudged = false;
      try {
        const now = this.o.clock.now();
        // Until the node is Ready its status is refreshed every second (and at once when the
        // agent writes its files, see nudge()), so `lab up` sees it soon.
        if (this.heartbeatDue || now - this.lastHeartbeat >= (this.nodeReady ? resyncMs : 1_000)) {
          this.heartbeatDue = false;
          this.lastHeartbeat = now;
          await this.heartbeat();
        }
        if (this.podsChanged || this.dirty || now - this.lastResync >= resyncMs) {
          this.podsChanged = false;
          this.dirty = false;
          this.lastResync = now;
          await this.sync();
        }
      } catch (err) {
        this.o.log.error('sync failed', { error: (err as Error).message });
      }
      if (this.nudged) continue;
      await new Promise<void>((resolve) => {
        // Until the node is Ready the loop looks every second (see above); after, only its timer.
        const t = this.o.clock.setTimeout(resolve, this.nodeReady ? pollMs : Math.min(pollMs, 1_000));
        this.wake = () => {
          t.cancel();
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  stop(): void {
    this.stopped = true;
    // No program starts again from now on (see PodPrograms.freeze).
    for (const live of this.live.values()) live.programs?.freeze();
    for (const d of this.deadlines.values()) d.timer.cancel();
    this.deadlines.clear();
    this.wake?.();
  }

  /** Starts create/teardown tasks for what differs between the cluster and this node. */
  async sync(): Promise<void> {
    // Program logs are bounded here, on every sync and resync (see program-runner.ts).
    for (const live of this.live.values()) live.programs?.rotateLogs();
    const desired = new Map<string, Stored<Pod>>();
    for (const pod of this.o.cache.podsOnNode(this.o.node))
      desired.set(podKey(pod.object.metadata.namespace, pod.object.metadata.name), pod);
    for (const [key, live] of this.live) {
      if (desired.get(key)?.meta.uid !== live.uid) this.schedule(key, () => this.teardown(key, live));
    }
    const now = this.o.clock.now();
    for (const [key, pod] of desired) {
      const deletion = pod.object.metadata.deletionTimestamp;
      const live = this.live.get(key);
      if (deletion === undefined) {
        if (!live) this.schedule(key, () => this.create(key, pod));
        continue;
      }
      // Being deleted gracefully: nothing new starts; a running pod stays until its deadline.
      const at = Date.parse(deletion);
      if (!live || live.uid !== pod.meta.uid || !(at > now)) {
        this.schedule(key, () => this.finishDeletion(key, pod, live?.uid === pod.meta.uid ? live : undefined));
      } else {
        // kubelet's graceful stop: SIGTERM now, SIGKILL when the grace period ends (teardown).
        live.programs?.terminate();
        this.armDeadline(key, at);
      }
    }
    for (const [key, d] of this.deadlines) {
      const pod = desired.get(key);
      if (pod?.object.metadata.deletionTimestamp === undefined) {
        d.timer.cancel();
        this.deadlines.delete(key);
      }
    }
  }

  /** Wakes the loop when a terminating pod's grace period ends (the resync alone could be 10 s late). */
  private armDeadline(key: string, at: number): void {
    const known = this.deadlines.get(key);
    if (known?.at === at) return;
    known?.timer.cancel();
    const timer = this.o.clock.setTimeout(
      () => {
        this.deadlines.delete(key);
        this.nudge('store');
      },
      Math.max(0, at - this.o.clock.now()) + 10,
    );
    this.deadlines.set(key, { at, timer });
  }

  /**
   * The end of a graceful deletion: the sandbox goes (when this node has one for the pod), then
   * the object, only while it is still this pod (kubelet's final delete with the pod's uid).
   */
  private async finishDeletion(key: string, pod: Stored<Pod>, live: LivePod | undefined): Promise<void> {
    this.deadlines.get(key)?.timer.cancel();
    this.deadlines.delete(key);
    if (live) await this.teardown(key, live);
    const { namespace, name } = pod.object.metadata;
    if (await this.o.store.removePod(namespace, name, pod.meta.uid))
      this.o.log.info('pod deleted after its grace period', { pod: key });
  }

  /** Starts the pod's readiness probes; each change of its readiness rewrites its status. */
  private startProber(
    key: string,
    live: LivePod,
    pod: Pod,
    netnsPath: string | undefined,
    ready: boolean,
    startedAt?: number,
  ): void {
    if (!pod.spec.containers.some((c) => c.readinessProbe)) return;
    live.prober = new PodProber({
      key,
      pod,
      podIP: live.sandbox.network === 'none' ? undefined : (live.podIP ?? this.o.nodeIp),
      netnsPath,
      exec: this.o.exec,
      clock: this.o.clock,
      log: this.o.log,
      startedAt: startedAt ?? (live.startTime === undefined ? this.o.clock.now() : Date.parse(live.startTime)),
      ready,
      onChange: () => this.writeRunning(key, live),
    });
  }

  /** Writes a Running pod's status with its readiness now, after any write still under way. */
  private writeRunning(key: string, live: LivePod): Promise<void> {
    const write = async () => {
      if (this.live.get(key) !== live) return; // torn down meanwhile: its status is not ours to write
      const probeReady = live.prober?.ready ?? true;
      const programs = live.programs;
      const startedAt = live.startTime === undefined ? this.o.clock.now() : Date.parse(live.startTime);
      await this.setStatus(live.sandbox, {
        phase: programs ? programs.phase() : 'Running',
        ...(live.podIP === undefined ? {} : { podIP: live.podIP }),
        ...(live.startTime === undefined ? {} : { startTime: live.startTime }),
        ready: probeReady && (programs?.allRunning ?? true),
        ...(programs ? { containerStatuses: programs.statuses(probeReady, startedAt) } : {}),
      });
    };
    live.statusWrites = (live.statusWrites ?? Promise.resolve())
      .then(write)
      .catch((err: unknown) =>
        this.o.log.error('pod status write failed', { pod: key, error: (err as Error).message }),
      );
    return live.statusWrites;
  }

  /** Makes the pod's programs (none when no container has a command); started by the caller. */
  private startPrograms(key: string, live: LivePod, pod: Pod, recovered?: readonly ContainerStatus[]): void {
    if (!pod.spec.containers.some(runsProgram)) return;
    live.programs = new PodPrograms({
      key,
      podName: pod.metadata.name,
      containers: pod.spec.containers,
      restartPolicy: pod.spec.restartPolicy ?? 'Always',
      netnsName: live.sandbox.netns === '' ? undefined : live.sandbox.netns,
      ...(live.sandbox.netns === '' && this.mounts.find(live.sandbox.containerId)
        ? { mountNs: this.mounts.path(live.sandbox.containerId) }
        : {}),
      logDir: this.o.podLogDir(pod.metadata.namespace, pod.metadata.name),
      backoff: this.o.backoff ?? KUBELET_BACKOFF,
      clock: this.o.clock,
      log: this.o.log,
      ...(recovered ? { recovered } : {}),
      // A restarted program is a new container: its readiness starts over (kubelet's), so the
      // previous run's passing probes never make the new one Ready before it answers.
      onRestart: () => {
        if (!live.prober) return;
        live.prober.stop();
        const netnsPath = live.sandbox.netns === '' ? undefined : this.netns.path(live.sandbox.netns);
        this.startProber(key, live, pod, netnsPath, false, this.o.clock.now());
        live.prober.start();
      },
      onChange: () => void this.writeRunning(key, live),
      onRecords: (records) => this.recordPrograms(key, live, records),
    });
  }

  /** Rewrites the pod's sandbox record with its running programs, after any rewrite under way. */
  private recordPrograms(key: string, live: LivePod, programs: ProgramRecord[]): void {
    live.sandbox = { ...live.sandbox, programs };
    const record = live.sandbox;
    live.recordWrites = (live.recordWrites ?? Promise.resolve())
      .then(async () => {
        if (this.live.get(key) === live) await this.o.sandboxes.putSandbox(record);
      })
      .catch((err: unknown) =>
        this.o.log.error('sandbox record write failed', { pod: key, error: (err as Error).message }),
      );
  }

  /** Kills the recorded programs that still run (the same PID with the same start time). */
  private async killRecorded(key: string, programs: readonly ProgramRecord[]): Promise<void> {
    for (const p of programs) {
      if (!isSameProcess(p.pid, p.startTime)) continue;
      this.o.log.info('killing a program left by a previous runner', { pod: key, container: p.container, pid: p.pid });
      signalGroup(p.pid, 'SIGKILL');
      // Wait (bounded) until it is gone, so a new copy never runs beside it.
      for (let i = 0; i < 50 && isSameProcess(p.pid, p.startTime); i++)
        await new Promise<void>((resolve) => this.o.clock.setTimeout(resolve, 20));
    }
  }

  /** SIGKILLs every process still in the pod's network namespace (see teardown and recover). */
  private killLeftovers(key: string, netnsPath: string): void {
    for (const pid of pidsInNetns(netnsPath)) {
      this.o.log.warn("killing a process left in the pod's namespace", { pod: key, pid });
      signalProcess(pid, 'SIGKILL');
    }
  }

  private schedule(key: string, task: () => Promise<void>): void {
    if (this.busy.has(key) || this.running >= (this.o.parallel ?? 3)) return;
    this.busy.add(key);
    this.running++;
    task()
      .catch((err: unknown) => this.o.log.error('pod task failed', { pod: key, error: (err as Error).message }))
      .finally(() => {
        this.busy.delete(key);
        this.running--;
        // Something finished: look again at once (more work may be waiting for a slot).
        this.dirty = true;
        this.wake?.();
      });
  }

  /** Writes the pod's status (phase Pending, Running or Failed) while the pod is still `sb.uid`. */
  private async setStatus(
    sb: SandboxRecord,
    s: {
      phase: PodPhase;
      message?: string;
      podIP?: string;
      startTime?: string;
      ready?: boolean;
      containerStatuses?: ContainerStatus[];
    },
  ): Promise<void> {
    await this.o.store.setPodStatus(sb.namespace, sb.name, sb.uid, nodePodStatus({ ...s, hostIP: this.o.nodeIp }));
  }

  private async create(key: string, stored: Stored<Pod>): Promise<void> {
    const pod = stored.object;
    const { namespace, name } = pod.metadata;
    const mode = podNetworkMode(pod);
    const hostNetwork = mode === 'host';
    const sb: SandboxRecord = {
      namespace,
      name,
      uid: stored.meta.uid,
      node: this.o.node,
      netns: hostNetwork ? '' : labPodNamespace(this.o.lab, namespace, name),
      containerId: labContainerId(this.o.lab, stored.meta.uid),
      ...(mode === 'none' ? { network: 'none' as const } : {}),
    };
    // A pod with no network gets its namespace (lo only) and nothing of CNI, as `docker run --network=none`.
    const conflist = mode === 'pod' ? this.conflist() : undefined;
    if (mode === 'pod' && !conflist) {
      // As kubelet does while the network plugin is not ready: wait, retrying on resync (a
      // status write equal to the stored one changes nothing).
      await this.setStatus(sb, {
        phase: 'Pending',
        message: `network not ready: no CNI config in ${this.o.cniConfDir} yet`,
      });
      return;
    }
    // Recorded first, so a runner killed from here on finds what it made (see recover()).
    await this.o.sandboxes.putSandbox(sb);
    await this.setStatus(sb, { phase: 'Pending', message: 'creating the pod sandbox' });
    let podIP: string | undefined = mode === 'host' ? this.o.nodeIp : undefined;
    let added = false;
    try {
      if (!hostNetwork) {
        await this.netns.add(sb.netns);
        this.writeResolvConf(key, pod, sb.netns);
      }
      if (conflist) {
        const mappings = portMappingsOf(pod);
        const result = await this.o.runtime.add(conflist, {
          containerId: sb.containerId,
          netns: this.netns.path(sb.netns),
          ifname: 'eth0',
          // What kubelet passes (libcni's K8S_POD_* args); IgnoreUnknown lets plugins skip them.
          args: [
            ['IgnoreUnknown', '1'],
            ['K8S_POD_NAMESPACE', namespace],
            ['K8S_POD_NAME', name],
            ['K8S_POD_INFRA_CONTAINER_ID', sb.containerId],
            ['K8S_POD_UID', stored.meta.uid],
          ],
          // hostPorts, as kubelet offers them (the portMappings capability; portmap DNATs them).
          ...(mappings.length > 0 ? { capabilityArgs: { portMappings: mappings } } : {}),
        });
        added = true;
        const ip = result.ips?.[0]?.address.split('/')[0];
        if (!ip) throw new Error('the CNI result has no IP address');
        podIP = ip;
      }
      if (hostNetwork && ownsResolvConf(pod)) await this.writeHostNetworkResolvConf(key, pod, sb.containerId);
      const netnsPath = hostNetwork ? undefined : this.netns.path(sb.netns);
      const ports = await servePodPorts(key, declaredPorts(pod), netnsPath);
      const live: LivePod = {
        uid: sb.uid,
        sandbox: sb,
        phase: 'Running',
        ports,
        ...(conflist ? { conflist } : {}),
        ...(podIP === undefined ? {} : { podIP }),
        startTime: new Date(this.o.clock.now()).toISOString(),
      };
      this.startProber(key, live, pod, netnsPath, false);
      this.startPrograms(key, live, pod);
      this.live.set(key, live);
      // Running, Ready unless a readiness probe has yet to pass; the probes start after this write.
      await this.writeRunning(key, live);
      live.programs?.start(true);
      live.prober?.start();
      this.o.log.info('pod running', { pod: key, ip: podIP });
    } catch (err) {
      const message = (err as Error).message;
      this.o.log.error('pod failed', { pod: key, error: message });
      // Undo what was made, then report: the pod stays Failed until it is deleted.
      if (added && conflist) await this.cniDel(key, conflist, sb);
      if (sb.netns) {
        await this.netns.delete(sb.netns).catch(() => undefined);
        rmSync(netnsEtcDir(sb.netns), { recursive: true, force: true });
      } else await this.mounts.remove(sb.containerId);
      this.live.set(key, { uid: sb.uid, sandbox: sb, phase: 'Failed', ports: { close: async () => undefined } });
      await this.setStatus(sb, { phase: 'Failed', message });
    }
  }

  /** The pod's resolv.conf, as kubelet makes it (core/lab/pod-dns.ts), where `ip netns exec` binds it. */
  private writeResolvConf(key: string, pod: Pod, netns: string): void {
    const dir = netnsEtcDir(netns);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'resolv.conf'), this.resolvConfText(key, pod));
  }

  /** A hostNetwork pod's resolv.conf, in a mount namespace of its own (it shares its node's network namespace). */
  private async writeHostNetworkResolvConf(key: string, pod: Pod, name: string): Promise<void> {
    await this.mounts.create(name, this.resolvConfText(key, pod));
  }

  /** The pod's resolv.conf text; what kubelet's limits cut is logged (kubelet reports it as events). */
  private resolvConfText(key: string, pod: Pod): string {
    const r = podResolvConf(pod, this.o.clusterDns, this.o.nodeResolvConf());
    for (const w of r.warnings) this.o.log.warn('DNS config of the pod was cut', { pod: key, reason: w });
    return renderResolvConf(r.conf);
  }

  /** CNI DEL; a failure is logged (its callers go on removing the pod's namespace either way). */
  private async cniDel(
    key: string,
    conflist: ConfList,
    st: Pick<SandboxRecord, 'containerId' | 'netns'>,
  ): Promise<void> {
    try {
      await this.o.runtime.del(conflist, {
        containerId: st.containerId,
        netns: this.netns.path(st.netns),
        ifname: 'eth0',
      });
    } catch (err) {
      this.o.log.warn('CNI DEL failed', { pod: key, error: (err as Error).message });
    }
  }

  private async teardown(key: string, live: LivePod): Promise<void> {
    live.prober?.stop();
    await live.ports.close();
    // After a graceful deletion's deadline the programs had their SIGTERM: SIGKILL at once.
    if (live.programs) await live.programs.stop(live.programs.terminating ? 0 : IMMEDIATE_GRACE_MS);
    else await this.killRecorded(key, live.sandbox.programs ?? []);
    await live.recordWrites;
    const sb = live.sandbox;
    // Whatever a program left in the pod's namespace outside its process group (a daemon that
    // called setsid, one started in the moment before its record was written) goes with the pod,
    // as everything in a container goes with it.
    if (sb.netns !== '' && (live.programs || sb.programs)) this.killLeftovers(key, this.netns.path(sb.netns));
    if (sb.netns !== '') {
      const conflist = sb.network === 'none' ? undefined : (live.conflist ?? this.conflist());
      // DEL is idempotent: it also cleans up after a half-made pod. Without any conflist (the
      // agent never wrote one) there is nothing of the network to undo.
      if (conflist) await this.cniDel(key, conflist, sb);
      await this.netns.delete(sb.netns);
      rmSync(netnsEtcDir(sb.netns), { recursive: true, force: true });
    } else await this.mounts.remove(sb.containerId);
    this.live.delete(key);
    await this.o.sandboxes.removeSandbox(sb.namespace, sb.name, sb.uid);
    // Clears the status only if the pod is still this one (a deleted pod took its status with it;
    // one re-created with a new uid is not ours to clear).
    await this.o.store.setPodStatus(sb.namespace, sb.name, sb.uid, undefined);
    this.o.log.info('pod removed', { pod: key });
  }

  /** Registers the node: subnet and backend from its lease, ready when the agent is healthy. */
  async heartbeat(): Promise<void> {
    const info: NodeInfo = {
      name: this.o.node,
      internalIP: this.o.nodeIp,
      ready: false,
      heartbeat: new Date(this.o.clock.now()).toISOString(),
    };
    let envText = '';
    try {
      envText = readFileSync(join(this.o.runDir, 'subnet.env'), 'utf8');
      info.podCIDR = parseSubnetEnv(envText).subnet;
    } catch {
      info.message = 'the agent has not written subnet.env yet';
    }
    const now = this.o.clock.now();
    const known = this.leaseRead;
    if (known && known.env === envText && now - known.at < LEASE_REREAD_MS) {
      if (known.subnet) info.podCIDR = known.subnet;
      if (known.backend) info.backend = known.backend;
    } else {
      try {
        const lease = (await this.o.leases.listLeases()).find((l) => l.publicIp === this.o.nodeIp);
        this.leaseRead = {
          env: envText,
          at: now,
          ...(lease ? { subnet: lease.subnet, backend: lease.backendType } : {}),
        };
        if (lease) {
          info.podCIDR = lease.subnet;
          info.backend = lease.backendType;
        }
      } catch (err) {
        this.leaseRead = undefined;
        info.message = `cannot read the leases: ${(err as Error).message}`;
      }
    }
    try {
      const r = await httpGetText(this.o.agentHealthUrl, 1_000);
      // The agent's /healthz starts with one summary line ("ok", or "not ready: …"), then a line
      // per controller; the node's message keeps the summary, so `weft get nodes` stays one line.
      const summary = (r.text.trim().split('\n')[0] ?? '').replace(/^not ready:\s*/, '');
      if (r.ok && info.message === undefined) info.ready = existsSync(join(this.o.cniConfDir, CONFLIST_FILE));
      else info.message ??= `agent not ready: ${summary}`;
      if (info.ready === false) info.message ??= 'no CNI config yet';
      // A ready node can still have something to say (host-gw peers on another segment are not
      // routed): the ready controllers' warnings, from the agent's status document.
      if (info.ready) {
        const notes = this.readControllerNotes();
        if (notes) info.message = notes;
      }
    } catch (err) {
      info.message ??= `agent does not answer at ${this.o.agentHealthUrl}: ${(err as Error).message}`;
    }
    this.nodeReady = info.ready;
    // Written when something but the time changed, else every HEARTBEAT_WRITE_MS (kubelet's
    // node status update frequency): every write to the store wakes every agent's policy loop,
    // and 50 runners writing every 200 ms while their nodes came up kept a 50-node lab busy.
    const key = JSON.stringify({ ...info, heartbeat: '' });
    if (key === this.lastNodeInfo && now - this.lastNodeWrite < HEARTBEAT_WRITE_MS) return;
    try {
      await this.o.store.putNode(info);
    } catch (err) {
      // The store or API server away: said, and written again on the next heartbeat.
      this.o.log.warn('cannot write the node status', { error: (err as Error).message });
      return;
    }
    this.lastNodeInfo = key;
    this.lastNodeWrite = now;
  }

  /** The warnings of the agent's ready controllers ("backend: 1 peer not routed: …"), or undefined when none. */
  private readControllerNotes(): string | undefined {
    let notes: string[] = [];
    try {
      notes = (readNodeStatus(this.o.runDir)?.controllers ?? []).flatMap((c) =>
        c.ready && c.warning ? [`${c.name}: ${c.warning}`] : [],
      );
    } catch (err) {
      // A torn or unreadable document: the next heartbeat reads it again.
      this.o.log.warn('cannot read the agent status document', { error: (err as Error).message });
    }
    return notes.length > 0 ? notes.join('; ') : undefined;
  }

  /** Stops serving (the pods' namespaces and addresses stay, as containers outlive kubelet). */
  async close(): Promise<void> {
    for (const live of this.live.values()) {
      live.prober?.stop();
      await live.ports.close();
    }
  }
}
