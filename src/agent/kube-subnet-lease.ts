/**
 * The subnet manager of `weft agent --kube-subnet-mgr` (flanneld's kube subnet manager,
 * flannel/pkg/subnet/kube): the Kubernetes API is the datastore, Node objects are the leases.
 *
 * - The node's subnet is its Node's spec.podCIDR, allocated by kube-controller-manager
 *   (--allocate-node-cidrs) or written by the installer; weft never allocates one here. A Node
 *   without it, a Node that does not exist, a podCIDR outside the net-conf Network, an API server
 *   that refuses us (401/403) or cannot be reached: start() rejects naming the cause, and the
 *   subnet controller retries with capped backoff, its status saying why (acceptance 3 of issue 17).
 * - The node publishes Flannel's annotations on its Node, so that a node running flanneld and
 *   one running weft read each other: flannel.alpha.coreos.com/public-ip, backend-type,
 *   backend-data (JSON; {"VNI":1,"VtepMAC":"…"} for vxlan, null for host-gw) and
 *   kube-subnet-manager: "true". They are a merge patch of the annotations only.
 * - Peers are the other Nodes with a podCIDR and those annotations, listed and then watched (with
 *   bookmarks); a watch that ends is resumed from its resourceVersion, a 410 lists again, and
 *   any failure keeps the peers as they are (an API server outage never removes a route).
 * - A Node's podCIDR does not expire: the lease's expiresAt is always a day ahead.
 */

import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { BackendData, Lease } from '../ports/lease-store.js';
import type { NetConf } from '../core/flannel/net-conf.js';
import { cidrContains, formatCidr, parseCidr } from '../core/net/ip.js';
import { RevisionTooOldError } from '../core/k8s/object-key.js';
import { KubeApiError, NODE_RESOURCE, type KubeClient, type KubeObject, type KubeWatch } from '../adapters/kube-api.js';
import type { LeaseAttrsIn, SubnetLeaser } from './agent.js';

export const FLANNEL_ANNOTATIONS = {
  publicIp: 'flannel.alpha.coreos.com/public-ip',
  backendType: 'flannel.alpha.coreos.com/backend-type',
  backendData: 'flannel.alpha.coreos.com/backend-data',
  kubeSubnetManager: 'flannel.alpha.coreos.com/kube-subnet-manager',
} as const;

const DAY_MS = 24 * 3600_000;

interface NodeObject extends KubeObject {
  spec?: { podCIDR?: string; podCIDRs?: string[] };
}

export interface KubeSubnetLeaseOptions {
  /** The API client (made on first use: a kubeconfig that cannot be read is an error start() reports and retries). */
  client: () => Promise<KubeClient>;
  nodeName: string;
  conf: NetConf;
  attrs: LeaseAttrsIn;
  clock: Clock;
  log: Logger;
  onPeersChanged: () => void;
  /** Backoff of the peer watch after a failure: first wait and cap (ms). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** A full re-list of the Nodes this often (ms, default 5 minutes), repairing anything a watch missed. */
  relistMs?: number;
}

/** The annotations this node publishes (Flannel's). */
export function flannelAnnotations(attrs: LeaseAttrsIn): Record<string, string> {
  const data = Object.keys(attrs.backendData).length > 0 ? attrs.backendData : null;
  return {
    [FLANNEL_ANNOTATIONS.publicIp]: attrs.publicIp,
    [FLANNEL_ANNOTATIONS.backendType]: attrs.backendType,
    [FLANNEL_ANNOTATIONS.backendData]: JSON.stringify(data),
    [FLANNEL_ANNOTATIONS.kubeSubnetManager]: 'true',
  };
}

/** A peer's lease from its Node, or a reason it is none (not annotated yet, no podCIDR, bad data). */
export function leaseOfNode(node: NodeObject, now: number): Lease | { skip: string } {
  const a = node.metadata.annotations ?? {};
  const name = node.metadata.name;
  const cidr = node.spec?.podCIDR;
  if (!cidr) return { skip: `Node ${name}: no spec.podCIDR yet` };
  const publicIp = a[FLANNEL_ANNOTATIONS.publicIp];
  const backendType = a[FLANNEL_ANNOTATIONS.backendType];
  if (!publicIp || !backendType) return { skip: `Node ${name}: no Flannel annotations (no agent has published yet)` };
  let backendData: BackendData = {};
  const raw = a[FLANNEL_ANNOTATIONS.backendData];
  if (raw !== undefined && raw !== '' && raw !== 'null') {
    try {
      const d = JSON.parse(raw) as unknown;
      if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new Error('not a JSON object');
      const o = d as Record<string, unknown>;
      backendData = {
        ...(typeof o.VNI === 'number' ? { VNI: o.VNI } : {}),
        ...(typeof o.VtepMAC === 'string' ? { VtepMAC: o.VtepMAC } : {}),
      };
    } catch (err) {
      return { skip: `Node ${name}: annotation ${FLANNEL_ANNOTATIONS.backendData}: ${(err as Error).message}` };
    }
  }
  let subnet: string;
  try {
    const n = parseCidr(cidr);
    subnet = formatCidr(n);
  } catch (err) {
    return { skip: `Node ${name}: spec.podCIDR "${cidr}": ${(err as Error).message}` };
  }
  return { subnet, publicIp, backendType, backendData, nodeName: name, expiresAt: now + DAY_MS };
}

export class KubeSubnetLease implements SubnetLeaser {
  private own: Lease | undefined;
  private peerMap = new Map<string, Lease>();
  private watch: KubeWatch | undefined;
  private timer: TimerHandle | undefined;
  private relistTimer: TimerHandle | undefined;
  private stopped = false;
  private failures = 0;
  private rv = '';
  private skipped = new Map<string, string>();

  constructor(private readonly o: KubeSubnetLeaseOptions) {}

  async start(): Promise<Lease> {
    this.watch?.stop().catch(() => undefined);
    this.watch = undefined;
    this.timer?.cancel();
    this.relistTimer?.cancel();
    const client = await this.o.client();
    const name = this.o.nodeName;
    let node: NodeObject;
    try {
      node = await client.get<NodeObject>(NODE_RESOURCE, name);
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404)
        throw new Error(`Node ${name} does not exist in the API server (is --node-name the kubelet's node name?)`, {
          cause: err,
        });
      throw err;
    }
    const cidr = node.spec?.podCIDR;
    if (!cidr)
      throw new Error(
        `Node ${name} has no spec.podCIDR (kube-controller-manager assigns one with --allocate-node-cidrs; the agent waits for it)`,
      );
    const n = parseCidr(cidr);
    if (!cidrContains(parseCidr(this.o.conf.network), n.address))
      throw new Error(`Node ${name}: spec.podCIDR ${cidr} is outside the net-conf Network ${this.o.conf.network}`);
    const subnet = formatCidr(n);
    await client.patch(NODE_RESOURCE, name, { metadata: { annotations: flannelAnnotations(this.o.attrs) } });
    this.own = {
      subnet,
      publicIp: this.o.attrs.publicIp,
      backendType: this.o.attrs.backendType,
      backendData: this.o.attrs.backendData,
      nodeName: name,
      expiresAt: this.o.clock.now() + DAY_MS,
    };
    await this.relist(client);
    this.watchNodes(client);
    this.scheduleRelist();
    return this.lease();
  }

  lease(): Lease {
    if (!this.own) throw new Error('kube subnet lease: not started');
    return { ...this.own, expiresAt: this.o.clock.now() + DAY_MS };
  }

  peers(): Lease[] {
    return [...this.peerMap.values()].sort((a, b) => (a.subnet < b.subnet ? -1 : 1));
  }

  private setPeer(node: NodeObject, deleted: boolean): boolean {
    const name = node.metadata.name;
    if (name === this.o.nodeName) return false;
    const before = this.peerMap.get(name);
    const l = deleted ? undefined : leaseOfNode(node, this.o.clock.now());
    if (l && 'skip' in l) {
      if (this.skipped.get(name) !== l.skip) this.o.log.info('node is not a peer yet', { reason: l.skip });
      this.skipped.set(name, l.skip);
    } else this.skipped.delete(name);
    const lease = l && !('skip' in l) ? l : undefined;
    if (lease) this.peerMap.set(name, lease);
    else this.peerMap.delete(name);
    const key = (x: Lease | undefined) =>
      x ? JSON.stringify([x.subnet, x.publicIp, x.backendType, x.backendData]) : '';
    return key(before) !== key(lease);
  }

  private async relist(client: KubeClient): Promise<void> {
    const list = await client.list<NodeObject>(NODE_RESOURCE);
    const names = new Set(list.items.map((n) => n.metadata.name));
    let changed = false;
    for (const name of [...this.peerMap.keys()])
      if (!names.has(name)) {
        this.peerMap.delete(name);
        changed = true;
      }
    for (const node of list.items) changed = this.setPeer(node, false) || changed;
    this.rv = list.metadata.resourceVersion;
    if (changed) this.o.onPeersChanged();
  }

  private scheduleRelist(): void {
    if (this.stopped) return;
    this.relistTimer = this.o.clock.setTimeout(
      () => {
        void this.o
          .client()
          .then((c) => this.relist(c))
          .catch((err: unknown) =>
            this.o.log.warn('cannot list Nodes; keeping the last known peers', { error: (err as Error).message }),
          )
          .finally(() => this.scheduleRelist());
      },
      this.o.relistMs ?? 5 * 60_000,
    );
  }

  private watchNodes(client: KubeClient): void {
    if (this.stopped) return;
    this.watch = client.watch<NodeObject>(
      NODE_RESOURCE,
      { resourceVersion: this.rv, allowWatchBookmarks: true, timeoutSeconds: 300 },
      {
        onEvent: (e) => {
          this.failures = 0;
          if (e.object.metadata.resourceVersion) this.rv = e.object.metadata.resourceVersion;
          if (e.type === 'BOOKMARK') return;
          if (this.setPeer(e.object, e.type === 'DELETED')) this.o.onPeersChanged();
        },
        onEnd: (err) => {
          this.watch = undefined;
          if (this.stopped) return;
          if (err === undefined) {
            this.watchNodes(client);
            return;
          }
          this.failures++;
          const wait = Math.min(
            this.o.retryMaxMs ?? 10_000,
            (this.o.retryInitialMs ?? 250) * 2 ** Math.min(this.failures - 1, 10),
          );
          this.o.log.warn('Node watch ended; keeping the peers and trying again', {
            error: err.message,
            attempt: this.failures,
            retryInMs: wait,
          });
          this.timer = this.o.clock.setTimeout(() => {
            if (!(err instanceof RevisionTooOldError)) {
              this.watchNodes(client);
              return;
            }
            this.relist(client).then(
              () => this.watchNodes(client),
              (e: unknown) => this.watch === undefined && this.retryRelist(client, e as Error),
            );
          }, wait);
        },
      },
    );
  }

  private retryRelist(client: KubeClient, err: Error): void {
    if (this.stopped) return;
    this.failures++;
    const wait = Math.min(
      this.o.retryMaxMs ?? 10_000,
      (this.o.retryInitialMs ?? 250) * 2 ** Math.min(this.failures - 1, 10),
    );
    this.o.log.warn('cannot list Nodes; keeping the peers and trying again', { error: err.message, retryInMs: wait });
    this.timer = this.o.clock.setTimeout(() => {
      this.relist(client).then(
        () => this.watchNodes(client),
        (e: unknown) => this.retryRelist(client, e as Error),
      );
    }, wait);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.relistTimer?.cancel();
    await this.watch?.stop();
  }
}
