/**
 * The vxlan and host-gw backends (Flannel's): no process of their own, only kernel state planned
 * from the leases (src/core/backend/plan.ts) and applied as a difference (../backend-reconciler.ts).
 * They differ only in the plan, so one file serves both.
 */

import { planBackend, vtepMacFor } from '../../core/backend/plan.js';
import { BackendReconciler } from '../backend-reconciler.js';
import type { Backend, BackendDeps, BackendKind, BackendSyncInput, BackendSyncResult } from './backend.js';

class KernelRoutesBackend implements Backend {
  private readonly reconciler: BackendReconciler;

  constructor(
    readonly type: 'vxlan' | 'host-gw',
    deps: BackendDeps,
  ) {
    this.reconciler = new BackendReconciler(deps.netlink);
  }

  async sync(input: BackendSyncInput): Promise<BackendSyncResult> {
    const desired = planBackend(input);
    const summary = await this.reconciler.reconcile(desired);
    const b = input.conf.backend;
    return {
      podMtu: desired.podMtu,
      described: summary.described,
      peerErrors: summary.peerErrors,
      guardPorts: this.type === 'vxlan' ? [{ protocol: 'udp', port: b.port }] : [],
    };
  }

  problem(): undefined {
    return undefined;
  }

  async stop(): Promise<void> {}
}

function kernelRoutesKind(type: 'vxlan' | 'host-gw'): BackendKind {
  return {
    type,
    leaseData: (conf, publicIp) => (type === 'vxlan' ? { VNI: conf.backend.vni, VtepMAC: vtepMacFor(publicIp) } : {}),
    create: (deps) => new KernelRoutesBackend(type, deps),
  };
}

export const VXLAN: BackendKind = kernelRoutesKind('vxlan');
export const HOST_GW: BackendKind = kernelRoutesKind('host-gw');
