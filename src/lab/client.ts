/**
 * What the kubectl-like commands do against a running lab: apply and delete manifests (all or
 * nothing), change labels, read objects with their status, find a pod's namespace, and probe
 * pods with real traffic. The commands under src/cli only parse flags and print.
 */

import { noNetworkReason, podNetworkMode } from '../core/k8s/pod-network.js';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { PodMountNamespaces } from '../adapters/mount-ns.js';
import { fileURLToPath } from 'node:url';
import type { Exec } from '../ports/exec.js';
import type { K8sObject, Pod, PodStatus, Service } from '../core/k8s/objects.js';
import type { PolicyCluster } from '../core/policy/evaluate.js';
import type { ReachPod } from '../core/policy/reach.js';
import { parseManifestLocated, type LocatedObject } from '../core/k8s/parse.js';
import { applyLabelChanges, parseLabelArgs } from '../core/k8s/labels.js';
import { matrixFrom, type MatrixProtocol, type ProbeMatrix } from '../core/lab/probe-table.js';
import type { ConnectionOutcome, ServiceProbeSource } from '../core/lab/service-probe.js';
import { NAMESPACE_NAME_LABEL, planApply, planDelete, RESOURCE_NAMES } from '../core/lab/apply-plan.js';
import { checkLabName, DEFAULT_OUTSIDE_ADDRESS, labNetConf, serviceRangesOf } from '../core/lab/lab-spec.js';
import { parseNetConf } from '../core/flannel/net-conf.js';
import { formatIp, ipFromValue, networkOf, tryParseCidr } from '../core/net/ip.js';
import { explainServiceJourney, type JourneyBackend, type JourneyNode } from '../core/services/explain.js';
import { RevisionConflictError } from '../core/k8s/object-key.js';
import { reachPodOf } from '../core/lab/dashboard.js';
import type { NodeInfo, ObjectStore, Stored } from '../ports/object-store.js';
import { KubeObjectStore } from '../adapters/object-store-kube.js';
import { KubeClient, loadKubeconfig } from '../adapters/kube-api.js';
import type { SandboxRecord } from '../ports/sandbox-store.js';
import { SqliteObjectStore } from '../adapters/object-store-sqlite.js';
import { FlockLocker } from '../adapters/file-lock.js';
import { systemClock } from '../adapters/clock.js';
import { NETNS_RUN_DIR } from '../adapters/netns.js';
import { LabPaths, readLabRecord, type LabRecord } from './lab-state.js';
import { traceRealPacket, type RealTrace, type TraceNamespace } from './packet-trace.js';
import { ensureOutsideClient } from './outside.js';
import { loadBalancerTarget, type LoadBalancerTarget } from '../core/lab/lb-trace.js';
import type { TraceProtocol } from '../core/trace/trace-table.js';
import { join } from 'node:path';

const PROBE_FROM = fileURLToPath(new URL('./probe-from.js', import.meta.url));

/** The environment of a probe helper that sends its UDP attempts from ports base, base + 1, ... */
const udpSourceEnv = (base: number) => ({
  PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
  WEFT_PROBE_UDP_SOURCE_BASE: String(base),
});

/** A real trace and what the model needs to predict it (src/core/trace/predict.ts). */
export interface LabTrace {
  real: RealTrace;
  model: {
    from: ReachPod & { label?: string };
    pods: ReachPod[];
    policy: PolicyCluster;
    /** Through a Service: its name and the endpoints (address:port) the model may choose. */
    service?: { name: string; candidates: string[] };
    /** Traced to a node's address (a NodePort): that node, where the packet enters the cluster. */
    entry?: string;
    /** Every address a node sends from (a masqueraded source), to its node. */
    nodeAddresses: Record<string, string>;
    /** From outside to a load-balancer address: the gateway's label, the address, the nodes it routes it to. */
    loadBalancer?: { gateway: string; address: string; nodes: string[] };
  };
}

export interface PodView {
  stored: Stored<Pod>;
  /** The pod's status as its node reports it (absent until it does). */
  status?: PodStatus;
  /** The node's sandbox for the pod (its network namespace), while the pod runner has one. */
  sandbox?: SandboxRecord;
}

export interface ProbeResult {
  from: string;
  to: string;
  connected: boolean;
}

/** The file itself, or a directory's .yaml/.yml/.json files in name order (kubectl's order). */
function manifestFiles(p: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(p).isDirectory();
  } catch (err) {
    throw new Error(
      `-f ${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
    );
  }
  if (!isDir) return [p];
  const found = readdirSync(p)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => join(p, f));
  if (found.length === 0) throw new Error(`-f ${p}: no .yaml, .yml or .json files in the directory`);
  return found;
}

/** The pods a manifest names, for waiting on them. */
export function podRefs(objects: readonly LocatedObject[]): Array<{ namespace: string; name: string }> {
  return objects.flatMap((l) =>
    l.object.kind === 'Pod' ? [{ namespace: l.object.metadata.namespace, name: l.object.metadata.name }] : [],
  );
}

/** The trace label of the lab's segment gateway (it routes load-balancer addresses to nodes). */
const LB_GATEWAY_LABEL = 'gateway';

export const podViewName = (p: PodView) => `${p.stored.object.metadata.namespace}/${p.stored.object.metadata.name}`;

/**
 * Every address a node sends from: its underlay address, and on its pod subnet the network
 * address (the VXLAN device's) and the first one (the bridge's): a packet masqueraded by a node
 * leaves with one of them.
 */
function nodeAddresses(nodes: readonly NodeInfo[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of nodes) {
    out[n.internalIP] = n.name;
    const net = n.podCIDR ? tryParseCidr(n.podCIDR) : undefined;
    if (net && net.address.family === 4) {
      const base = networkOf(net).address.value;
      out[formatIp(ipFromValue(4, base))] = n.name;
      out[formatIp(ipFromValue(4, base + 1n))] = n.name;
    }
  }
  return out;
}

/** Pods in namespace/name order, the order of every matrix. */
export function sortPods(pods: PodView[]): PodView[] {
  return [...pods].sort((a, b) => podViewName(a).localeCompare(podViewName(b)));
}

export class LabClient {
  private constructor(
    readonly paths: LabPaths,
    readonly record: LabRecord,
    /** The cluster's objects: the lab's SQLite store, or (`--api kube`) the API server. */
    readonly store: ObjectStore,
    /** The nodes' pod sandboxes, always in the lab's SQLite store (a container runtime's own records). */
    private readonly local: SqliteObjectStore,
    private readonly exec: Exec,
  ) {}

  static open(root: string, name: string, exec: Exec): LabClient {
    const paths = new LabPaths(root, checkLabName(name, '--lab'));
    const record = readLabRecord(paths);
    if (!record)
      throw new Error(
        `lab "${name}" does not exist: start it with weft lab up${name === 'weft' ? '' : ` --name ${name}`}`,
      );
    const local = new SqliteObjectStore(paths.objects, systemClock);
    const admin = record.api?.adminKubeconfig;
    const store = admin ? new KubeObjectStore(loadKubeconfig(admin).then((c) => new KubeClient(c))) : local;
    return new LabClient(paths, record, store, local, exec);
  }

  async close(): Promise<void> {
    if (this.store !== this.local) await this.store.close();
    await this.local.close();
  }

  get nodeNames(): string[] {
    return this.record.nodes.map((n) => n.name);
  }

  /** Reads manifests from files, directories (their .yaml/.yml/.json files, sorted) or "-" (stdin). */
  static readManifests(paths: string[], stdin: () => string): LocatedObject[] {
    if (paths.length === 0) throw new Error('-f: give a file, a directory or - (stdin)');
    const out: LocatedObject[] = [];
    const problems: string[] = [];
    for (const p of paths) {
      const files = p === '-' ? ['-'] : manifestFiles(p);
      for (const f of files) {
        const text = f === '-' ? stdin() : readFileSync(f, 'utf8');
        try {
          const located = parseManifestLocated(text);
          for (const l of located) out.push({ object: l.object, where: `${f === '-' ? 'stdin' : f}: ${l.where}` });
        } catch (err) {
          for (const line of (err as Error).message.split('\n')) problems.push(`${f === '-' ? 'stdin' : f}: ${line}`);
        }
      }
    }
    if (problems.length > 0) throw new Error(problems.join('\n'));
    return out;
  }

  /**
   * Stores the objects in one transaction (retrying if another apply moved the store on), and
   * returns kubectl's lines (`pod/a created`). Throws, storing nothing, when any object is refused.
   */
  async apply(objects: readonly LocatedObject[]): Promise<string[]> {
    for (let attempt = 0; ; attempt++) {
      const rev = await this.store.revision();
      const puts = planApply(await this.store.list(), this.nodeNames, objects, serviceRangesOf(this.record.spec));
      try {
        const actions = await this.store.commit({ put: puts, delete: [] }, rev);
        return puts.map((o, i) => `${RESOURCE_NAMES[o.kind].singular}/${o.metadata.name} ${actions[i]}`);
      } catch (err) {
        if (!(err instanceof RevisionConflictError) || attempt >= 20) throw err;
      }
    }
  }

  /**
   * Deletes the objects in one transaction: at once, or for pods with a grace period (the flag's,
   * else their spec's) by marking them terminating; their node removes them when it is up (see
   * planDelete). Returns kubectl's lines.
   */
  async delete(
    objects: readonly LocatedObject[],
    ignoreNotFound: boolean,
    gracePeriodSeconds?: number,
  ): Promise<string[]> {
    for (let attempt = 0; ; attempt++) {
      const rev = await this.store.revision();
      const plan = planDelete(await this.store.list(), objects, ignoreNotFound, {
        now: Date.now(),
        ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
      });
      try {
        await this.store.commit({ put: plan.terminate, delete: plan.all }, rev);
        return plan.named.map((k) => `${RESOURCE_NAMES[k.kind].singular}/${k.name} deleted`);
      } catch (err) {
        if (!(err instanceof RevisionConflictError) || attempt >= 20) throw err;
      }
    }
  }

  /** `weft label pod|namespace NAME k=v k-`; returns kubectl's line. */
  async label(
    kind: 'Pod' | 'Namespace',
    name: string,
    namespace: string,
    args: string[],
    overwrite: boolean,
  ): Promise<string> {
    const changes = parseLabelArgs(args);
    for (let attempt = 0; ; attempt++) {
      const rev = await this.store.revision();
      const key = { kind, namespace: kind === 'Namespace' ? '' : namespace, name };
      const stored = await this.store.get(key);
      if (!stored)
        throw new Error(
          `${RESOURCE_NAMES[kind].plural} "${name}" not found${kind === 'Pod' ? ` in namespace "${namespace}"` : ''}`,
        );
      const { labels } = applyLabelChanges(stored.object.metadata.labels, changes, overwrite);
      // As the API server does, a namespace always keeps the label naming it.
      if (kind === 'Namespace') labels[NAMESPACE_NAME_LABEL] = name;
      const updated = { ...stored.object, metadata: { ...stored.object.metadata, labels } } as K8sObject;
      try {
        const [action] = await this.store.commit({ put: [updated], delete: [] }, rev);
        return `${RESOURCE_NAMES[kind].singular}/${name} ${action === 'unchanged' ? 'not labeled' : 'labeled'}`;
      } catch (err) {
        if (!(err instanceof RevisionConflictError) || attempt >= 20) throw err;
      }
    }
  }

  /** The nodes' pod sandboxes (a pod's stays until its node has torn it down, after the object is gone). */
  sandboxes(): Promise<SandboxRecord[]> {
    return this.local.sandboxes();
  }

  async pods(): Promise<PodView[]> {
    const sandboxes = await this.local.sandboxes();
    return (await this.store.list('Pod')).map((stored) => {
      const { namespace, name } = stored.object.metadata;
      const sandbox = sandboxes.find((s) => s.namespace === namespace && s.name === name && s.uid === stored.meta.uid);
      return {
        stored,
        ...(stored.object.status ? { status: stored.object.status } : {}),
        ...(sandbox ? { sandbox } : {}),
      };
    });
  }

  /** What policy evaluation needs: namespace labels and the stored policies. */
  async policyCluster(): Promise<PolicyCluster> {
    const namespaces = new Map(
      (await this.store.list('Namespace')).map((n) => [n.object.metadata.name, n.object.metadata.labels]),
    );
    const policies = (await this.store.list('NetworkPolicy')).map((p) => p.object);
    return { namespaces, policies };
  }

  /** Pods as `weft reach` sees them (address and node from their status). */
  static reachPod(v: PodView): ReachPod {
    return reachPodOf(v.stored.object);
  }

  async nodes(): Promise<NodeInfo[]> {
    return this.store.nodes();
  }

  /**
   * What `weft explain FROM service/...` needs beyond the objects: the pod network, the nodes'
   * addresses and leases, and the backend the lab's agents run (from the lab's net-conf).
   */
  async journeyContext(): Promise<{ clusterCidr: string; nodes: JourneyNode[]; backend: JourneyBackend }> {
    const conf = parseNetConf(labNetConf(this.record.spec));
    const backendType = conf.backend.type;
    const nodes = (await this.nodes()).map((n) => ({
      name: n.name,
      internalIP: n.internalIP,
      ...(n.podCIDR ? { podCIDR: n.podCIDR } : {}),
    }));
    return {
      clusterCidr: conf.network,
      nodes,
      // The lab's nodes reach the underlay through eth0 (src/lab/underlay.ts).
      backend: { ...conf.backend, type: backendType, underlayDevice: 'eth0' },
    };
  }

  /**
   * Waits until every pod named is Running (throws with the reasons when one is Failed or the
   * time runs out), or, with `gone`, until none of them has a sandbox any more (its node tore it
   * down) and, for a ref with a uid, that pod is no longer stored (a terminating pod is removed by
   * its node once its grace period is over).
   */
  async waitForPods(
    refs: Array<{ namespace: string; name: string; uid?: string }>,
    timeoutMs: number,
    gone = false,
  ): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const views = await this.pods();
      const sandboxes = await this.local.sandboxes();
      const pending: string[] = [];
      for (const r of refs) {
        const ref = `${r.namespace}/${r.name}`;
        const v = views.find(
          (p) => p.stored.object.metadata.namespace === r.namespace && p.stored.object.metadata.name === r.name,
        );
        if (gone) {
          const stored = r.uid !== undefined && v?.stored.meta.uid === r.uid;
          if (stored || sandboxes.some((s) => s.namespace === r.namespace && s.name === r.name)) pending.push(ref);
          continue;
        }
        // A pod whose programs ran to their end (Succeeded, or Failed with containers that
        // exited) came up as asked; Failed without them is a sandbox that could not be made.
        const ran = (v?.status?.containerStatuses ?? []).some((c) => c.state.terminated !== undefined);
        if (v?.status?.phase === 'Succeeded' || (v?.status?.phase === 'Failed' && ran)) continue;
        if (v?.status?.phase === 'Failed')
          throw new Error(`pod ${ref} failed: ${v.status.message ?? 'no reason given'}`);
        if (v?.status?.phase !== 'Running')
          pending.push(`${ref} (${v?.status?.message ?? v?.status?.phase ?? 'not scheduled yet'})`);
      }
      if (pending.length === 0) return;
      if (Date.now() > end)
        throw new Error(
          `timed out after ${timeoutMs / 1000} s waiting for pods to be ${gone ? 'gone' : 'Running'}: ${pending.slice(0, 10).join(', ')}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The path of the network namespace pod namespace/name runs in (the node's for hostNetwork pods). */
  async podNetnsPath(namespace: string, name: string): Promise<string> {
    const view = (await this.pods()).find(
      (p) => p.stored.object.metadata.namespace === namespace && p.stored.object.metadata.name === name,
    );
    if (!view) throw new Error(`pods "${name}" not found in namespace "${namespace}"`);
    if (view.status?.phase !== 'Running')
      throw new Error(
        `pod ${namespace}/${name} is not running (${view.status?.phase ?? 'Pending'}${view.status?.message ? `: ${view.status.message}` : ''})`,
      );
    if (!view.sandbox) throw new Error(`pod ${namespace}/${name} is running but its node has no sandbox record for it`);
    if (view.sandbox.netns === '') return join(NETNS_RUN_DIR, this.paths.nodeNs(view.sandbox.node));
    return join(NETNS_RUN_DIR, view.sandbox.netns);
  }

  /**
   * A hostNetwork pod's own mount namespace (its resolv.conf, see adapters/mount-ns.ts), when its
   * node made one for it; undefined for every other pod.
   */
  async podMountNs(namespace: string, name: string): Promise<string | undefined> {
    const sandbox = (await this.pods()).find(
      (p) => p.stored.object.metadata.namespace === namespace && p.stored.object.metadata.name === name,
    )?.sandbox;
    if (!sandbox || sandbox.netns !== '') return undefined;
    return new PodMountNamespaces(this.exec, this.paths.mountNsDir(sandbox.node)).find(sandbox.containerId);
  }

  /**
   * `weft trace`: one real probe packet from pod `from` (namespace/name) to `to` (a pod
   * namespace/name, `service/namespace/name`, or an IPv4 address), followed through every node,
   * pod and router namespace of the lab by nftables tracing (./packet-trace.ts). From outside,
   * `service/…` is a LoadBalancer Service's address (or `to` is one): the segment's gateway,
   * which routes it to a node, is watched too.
   */
  async trace(from: string, to: string, port: number | undefined, protocol: TraceProtocol): Promise<LabTrace> {
    const pods = await this.pods();
    const find = (ref: string, what: string): PodView => {
      const [ns, name, extra] = ref.split('/');
      if (!ns || !name || extra !== undefined) throw new Error(`${what}: "${ref}" is not NAMESPACE/POD`);
      const v = pods.find((p) => p.stored.object.metadata.namespace === ns && p.stored.object.metadata.name === name);
      if (!v) throw new Error(`${what}: pods "${name}" not found in namespace "${ns}"`);
      if (v.status?.phase !== 'Running' || !v.sandbox) throw new Error(`${what}: pod ${ref} is not running`);
      if (podNetworkMode(v.stored.object) === 'none') throw new Error(`${what}: ${noNetworkReason(v.stored.object)}`);
      return v;
    };
    const outside = from === 'outside' || from.startsWith('outside=');
    const source = outside ? undefined : find(from, 'FROM');
    let daddr: string;
    let dport = port;
    let svc: (Service & { spec: { clusterIP: string } }) | undefined;
    const nodes = await this.nodes();
    const lb: LoadBalancerTarget | undefined = outside
      ? loadBalancerTarget({
          to,
          port,
          services: (await this.store.list('Service')).map((s) => s.object),
          slices: (await this.store.list('EndpointSlice')).map((s) => s.object),
          nodes: nodes.map((n) => ({ name: n.name, ip: n.internalIP })),
        })
      : undefined;
    if (lb) {
      if (protocol !== 'tcp')
        throw new Error(`--protocol: to a load-balancer address weft traces TCP (the Service's port)`);
      daddr = lb.address;
      dport = lb.port;
    } else if (/^\d+\.\d+\.\d+\.\d+$/.test(to)) daddr = to;
    else if (to.startsWith('node/')) {
      const node = nodes.find((n) => n.name === to.slice('node/'.length));
      if (!node) throw new Error(`TO: no node "${to.slice('node/'.length)}" in the lab (${this.nodeNames.join(', ')})`);
      daddr = node.internalIP;
    } else if (to.startsWith('service/')) {
      const [, ns, name] = to.split('/');
      const found = (await this.store.list('Service')).find(
        (s) => s.object.metadata.namespace === ns && s.object.metadata.name === name,
      )?.object;
      if (!found) throw new Error(`TO: services "${name}" not found in namespace "${ns}"`);
      if (!found.spec.clusterIP || found.spec.clusterIP === 'None')
        throw new Error(`TO: service ${ns}/${name} has no ClusterIP (headless or ExternalName): trace a pod instead`);
      svc = found as Service & { spec: { clusterIP: string } };
      daddr = svc.spec.clusterIP;
      dport ??= svc.spec.ports[0]?.port;
    } else {
      const target = find(to, 'TO');
      if (!target.status?.podIP) throw new Error(`TO: pod ${to} has no IP yet`);
      daddr = target.status.podIP;
    }
    if (protocol !== 'icmp' && dport === undefined)
      throw new Error(`--port: a ${protocol.toUpperCase()} trace needs a port`);
    const entry = nodes.find((n) => n.internalIP === daddr);
    if (outside && !entry && !lb)
      throw new Error(
        `TO: from outside, trace to a node (node/NAME or its address) and a NodePort, or to service/NAMESPACE/NAME of type LoadBalancer (or its address); ${to} is neither`,
      );
    const namespaces: TraceNamespace[] = this.record.nodes.map((n) => ({
      label: `node ${n.name}`,
      netns: join(NETNS_RUN_DIR, this.paths.nodeNs(n.name)),
    }));
    if (this.record.routerNs) namespaces.push({ label: 'router', netns: join(NETNS_RUN_DIR, this.record.routerNs) });
    // The gateway routes load-balancer addresses (and only those: node-to-node traffic is bridged
    // there, never routed, so it is watched only for these traces).
    if (lb)
      namespaces.push({ label: LB_GATEWAY_LABEL, netns: join(NETNS_RUN_DIR, this.record.segmentNs), router: true });
    for (const v of pods)
      if (v.status?.phase === 'Running' && v.sandbox && v.sandbox.netns !== '')
        namespaces.push({ label: `pod ${podViewName(v)}`, netns: this.sandboxNetns(v.sandbox) });
    let fromNs: TraceNamespace;
    let fromModel: ReachPod & { label?: string };
    if (!source) {
      const address = from.includes('=') ? from.slice(from.indexOf('=') + 1) : DEFAULT_OUTSIDE_ADDRESS;
      const ns = await ensureOutsideClient(this.paths.name, address, {
        exec: this.exec,
        root: this.paths.root,
        progress: () => undefined,
      });
      fromNs = { label: 'outside', netns: join(NETNS_RUN_DIR, ns) };
      namespaces.push(fromNs);
      fromModel = {
        namespace: '',
        name: 'outside',
        labels: {},
        ip: address,
        hostNetwork: true,
        ports: [],
        label: 'outside',
      };
    } else {
      fromNs =
        source.sandbox!.netns === ''
          ? namespaces.find((n) => n.label === `node ${source.sandbox!.node}`)!
          : namespaces.find((n) => n.label === `pod ${from}`)!;
      fromModel = LabClient.reachPod(source);
    }
    const policy = await this.policyCluster();
    const reachPods = pods.map(LabClient.reachPod);
    let service: LabTrace['model']['service'];
    if (svc && source) {
      const sp = svc.spec.ports.find((p) => p.port === dport && p.protocol === protocol.toUpperCase());
      let candidates: string[] = [];
      if (sp) {
        const journey = explainServiceJourney({
          client: fromModel,
          service: svc,
          port: sp,
          services: (await this.store.list('Service')).map((s) => s.object),
          slices: (await this.store.list('EndpointSlice')).map((s) => s.object),
          pods: reachPods,
          policy,
          ...(await this.journeyContext()),
        });
        candidates = journey.candidates.map((c) => `${c.address}:${c.port}`);
      }
      service = { name: `${svc.metadata.namespace}/${svc.metadata.name}`, candidates };
    }
    const real = await traceRealPacket({
      exec: this.exec,
      namespaces,
      probe: { from: fromNs, daddr, ...(dport !== undefined ? { port: dport } : {}), protocol },
    });
    return {
      real,
      model: {
        from: fromModel,
        pods: reachPods,
        policy,
        ...(service ? { service } : {}),
        ...(lb ? { service: { name: lb.service, candidates: lb.candidates } } : {}),
        ...(lb ? { loadBalancer: { gateway: LB_GATEWAY_LABEL, address: lb.address, nodes: lb.nodes } } : {}),
        ...(entry ? { entry: entry.name } : {}),
        nodeAddresses: nodeAddresses(nodes),
      },
    };
  }

  /** probe() as the matrix `weft probe` prints, pods named namespace/name in the given order. */
  async probeMatrix(pods: PodView[], port: number, protocol: 'TCP' | 'UDP', timeoutMs: number): Promise<ProbeMatrix> {
    const results = await this.probe(pods, port, protocol, timeoutMs);
    const connected = new Map(results.map((r) => [`${r.from} ${r.to}`, r.connected]));
    return matrixFrom(
      pods.map(podViewName),
      port,
      protocol as MatrixProtocol,
      (from, to) => connected.get(`${from} ${to}`) ?? false,
    );
  }

  /**
   * Real traffic from every pod to every pod (ordered pairs, a pod to itself included), each
   * source probing all destinations at once from inside its own namespace. Pods that are not
   * Running count as not connected in both roles.
   */
  async probe(pods: PodView[], port: number, protocol: 'TCP' | 'UDP', timeoutMs: number): Promise<ProbeResult[]> {
    const name = podViewName;
    const targets = pods.map((p) => (p.status?.phase === 'Running' ? p.status.podIP : undefined));
    const udpBase = protocol === 'UDP' ? await this.nextUdpSourceBlock(pods.length) : undefined;
    const rows = await Promise.all(
      pods.map(async (src): Promise<boolean[]> => {
        const none = pods.map(() => false);
        if (src.status?.phase !== 'Running' || !src.sandbox) return none;
        // No route leaves a pod with no network: every probe from it fails at once (say why: noNetworkReason).
        if (podNetworkMode(src.stored.object) === 'none') return none;
        const nsPath = this.sandboxNetns(src.sandbox);
        const hosts = targets.map((t) => t ?? '0.0.0.0');
        const r = await this.exec.tryRun({
          argv: [process.execPath, PROBE_FROM, protocol.toLowerCase(), String(port), String(timeoutMs), ...hosts],
          netns: nsPath,
          timeoutMs: timeoutMs + 10_000,
          context: `probe from ${name(src)}`,
          ...(udpBase === undefined ? {} : { env: udpSourceEnv(udpBase) }),
        });
        if (r.exitCode !== 0)
          throw new Error(`probe from ${name(src)}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
        const got = JSON.parse(r.stdout) as boolean[];
        return got.map((ok, i) => ok && targets[i] !== undefined);
      }),
    );
    const out: ProbeResult[] = [];
    pods.forEach((src, i) =>
      pods.forEach((dst, j) => out.push({ from: name(src), to: name(dst), connected: rows[i]![j]! })),
    );
    return out;
  }

  /**
   * `weft probe --to service/...`: from each source pod, `connections` new connections at once to
   * the VIP (each from its own source port, so each is a new flow the Service balances afresh),
   * and which pod answered each (its greeting names it). Pods that are not Running fail every
   * connection with "not running".
   */
  async probeService(
    pods: PodView[],
    vip: string,
    port: number,
    protocol: 'TCP' | 'UDP',
    connections: number,
    timeoutMs: number,
  ): Promise<ServiceProbeSource[]> {
    const udpBase = protocol === 'UDP' ? await this.nextUdpSourceBlock(connections) : undefined;
    return Promise.all(
      pods.map(async (src): Promise<ServiceProbeSource> => {
        const from = podViewName(src);
        if (src.status?.phase !== 'Running' || !src.sandbox)
          return { from, outcomes: Array.from({ length: connections }, () => ({ error: 'not running' })) };
        if (podNetworkMode(src.stored.object) === 'none')
          return {
            from,
            outcomes: Array.from({ length: connections }, () => ({ error: 'no network (weft.dev/network: none)' })),
          };
        return this.probeFrom(
          this.sandboxNetns(src.sandbox),
          from,
          vip,
          port,
          protocol,
          connections,
          timeoutMs,
          udpBase,
        );
      }),
    );
  }

  /**
   * `connections` new connections at once from the namespace at `netnsPath` (an outside client,
   * a node) to host:port, and which pod answered each (its greeting names it).
   */
  async probeFrom(
    netnsPath: string,
    from: string,
    host: string,
    port: number,
    protocol: 'TCP' | 'UDP',
    connections: number,
    timeoutMs: number,
    udpBase?: number,
  ): Promise<ServiceProbeSource> {
    const r = await this.exec.tryRun({
      argv: [
        process.execPath,
        PROBE_FROM,
        'who',
        protocol.toLowerCase(),
        String(port),
        String(timeoutMs),
        String(connections),
        host,
      ],
      netns: netnsPath,
      timeoutMs: timeoutMs + 10_000,
      context: `probe from ${from} to ${host}:${port}/${protocol}`,
      ...(udpBase === undefined ? {} : { env: udpSourceEnv(udpBase) }),
    });
    if (r.exitCode !== 0) throw new Error(`probe from ${from}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
    return { from, outcomes: JSON.parse(r.stdout) as ConnectionOutcome[] };
  }

  private sandboxNetns(sandbox: SandboxRecord): string {
    return sandbox.netns === ''
      ? join(NETNS_RUN_DIR, this.paths.nodeNs(sandbox.node))
      : join(NETNS_RUN_DIR, sandbox.netns);
  }

  /**
   * The first of `count` UDP source ports for one probe run, or undefined (any port) when more
   * than a block is needed. Each run takes the next block of 100 ports in 33000-60999, so a
   * probe's datagrams never match a flow conntrack still remembers from an earlier probe (it
   * keeps UDP flows up to 120 s, and a remembered flow that was allowed then would be let through
   * as "established" now, after a policy change denied it). 280 blocks: reuse comes after 280
   * probe runs, minutes apart in practice.
   */
  private async nextUdpSourceBlock(count: number): Promise<number | undefined> {
    if (count > 100) return undefined;
    const file = join(this.paths.dir, 'probe-udp-block');
    const lock = await new FlockLocker().acquire(`${file}.lock`);
    try {
      let n = 0;
      try {
        n = Number(readFileSync(file, 'utf8').trim()) || 0;
      } catch {
        // First probe of this lab.
      }
      writeFileSync(file, `${(n + 1) % 280}\n`);
      return 33000 + n * 100;
    } finally {
      await lock.release();
    }
  }
}
