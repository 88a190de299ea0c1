/**
 * The lab kubelet's node registration and heartbeat through the Kubernetes API (`--api kube`), as
 * kubelet does it: it creates its Node (labels kubernetes.io/hostname and kubernetes.io/os, the
 * InternalIP and Hostname addresses) if there is none, keeps the Ready condition in step with what
 * the pod runner found (the agent healthy and the CNI config written; its message otherwise), and
 * renews its Lease in kube-node-lease, which the controller manager's node lifecycle controller
 * reads as the heartbeat. It runs with the node's own client certificate (system:node:NAME), so the
 * Node authorizer and NodeRestriction admission limit it to its own Node and Lease.
 *
 * The Node's spec.podCIDR is not ours: the controller manager allocates it (--allocate-node-cidrs)
 * and the agent's kube subnet manager reads it.
 */

import type { NodeInfo } from '../ports/object-store.js';
import { KubeApiError, NODE_RESOURCE, type KubeClient, type KubeResource } from '../adapters/kube-api.js';

const LEASE_RESOURCE: KubeResource = {
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  plural: 'leases',
  namespaced: true,
};

/** kubelet's default node lease duration. */
const LEASE_SECONDS = 40;

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

interface KubeNode {
  metadata: { name: string; resourceVersion?: string };
  status?: { conditions?: Condition[] };
}

/** The Ready condition for a node's state, keeping the transition time while the status is unchanged. */
export function readyCondition(info: NodeInfo, previous: Condition | undefined, now: string): Condition {
  const status = info.ready ? 'True' : 'False';
  return {
    type: 'Ready',
    status,
    reason: info.ready ? 'KubeletReady' : 'KubeletNotReady',
    message: info.ready ? (info.message ?? 'weft lab kubelet is posting ready status') : (info.message ?? 'not ready'),
    lastHeartbeatTime: now,
    lastTransitionTime: previous?.status === status ? previous.lastTransitionTime : now,
  };
}

export class KubeNodeReporter {
  private registered = false;
  private ready: Condition | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly node: string,
    /** What `kubectl get nodes -o wide` shows: the lab kubelet's version, the kernel, the "runtime". */
    private readonly nodeInfo: Record<string, string>,
  ) {}

  /** Registers the node (once), writes its Ready condition and addresses, and renews its Lease. */
  async report(info: NodeInfo): Promise<void> {
    const now = new Date(Date.parse(info.heartbeat)).toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (!this.registered) await this.register(info);
    this.ready = readyCondition(info, this.ready, now);
    await this.client.patch(
      NODE_RESOURCE,
      this.node,
      {
        status: {
          conditions: [this.ready],
          addresses: [
            { type: 'InternalIP', address: info.internalIP },
            { type: 'Hostname', address: this.node },
          ],
          nodeInfo: this.nodeInfo,
        },
      },
      { type: 'strategic', subresource: 'status' },
    );
    await this.renewLease(now);
  }

  private async register(info: NodeInfo): Promise<void> {
    const existing = await this.client.find<KubeNode>(NODE_RESOURCE, this.node);
    if (!existing) {
      try {
        await this.client.create(NODE_RESOURCE, {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: this.node,
            labels: { 'kubernetes.io/hostname': this.node, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
          },
          status: { addresses: [{ type: 'InternalIP', address: info.internalIP }] },
        });
      } catch (err) {
        if (!(err instanceof KubeApiError && err.code === 409)) throw err;
      }
    } else {
      this.ready = existing.status?.conditions?.find((c) => c.type === 'Ready');
    }
    this.registered = true;
  }

  private async renewLease(now: string): Promise<void> {
    const renewTime = now.replace(/Z$/, '.000000Z');
    const lease = await this.client.find<{ metadata: { resourceVersion: string }; spec: Record<string, unknown> }>(
      LEASE_RESOURCE,
      this.node,
      'kube-node-lease',
    );
    const spec = { holderIdentity: this.node, leaseDurationSeconds: LEASE_SECONDS, renewTime };
    if (!lease) {
      try {
        await this.client.create(
          LEASE_RESOURCE,
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.node, namespace: 'kube-node-lease' },
            spec,
          },
          'kube-node-lease',
        );
      } catch (err) {
        if (!(err instanceof KubeApiError && err.code === 409)) throw err;
      }
      return;
    }
    await this.client.patch(LEASE_RESOURCE, this.node, { spec }, { namespace: 'kube-node-lease', type: 'merge' });
  }
}
