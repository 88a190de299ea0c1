/**
 * `weft agent`: one per node. It holds the node's subnet lease, programs the backend (vxlan,
 * host-gw, DirectRouting) for every peer, keeps subnet.env and the CNI conflist up to date for
 * the `weft` CNI plugin, masquerades pod traffic leaving the cluster, and serves health and
 * metrics. The node's kernel state is a function of (own lease, peers, net-conf); every sync
 * recomputes it and applies only the difference, so a restart changes nothing that is right and
 * established flows do not notice.
 *
 * Scope: Flannel's job (flanneld). Policy and services come in later components.
 */

import type { Lease, LeaseStore } from '../ports/lease-store.js';
import type { Clock } from '../ports/clock.js';
import type { Exec } from '../ports/exec.js';
import type { Logger } from '../ports/logger.js';
import type { Nft } from '../ports/nft.js';
import { planBackend, vtepMacFor } from '../core/backend/plan.js';
import type { BackendNetConf } from '../core/backend/state.js';
import { renderAgentMasq, renderAgentMasqRemoval } from '../core/nft/agent-masq.js';
import { Metrics } from '../core/metrics.js';
import { BackendReconciler } from './backend-reconciler.js';
import { writeCniFiles, type CniFilesOptions } from './cni-files.js';
import { detectNodeAddress, type NodeAddress } from './node-address.js';
import { SyncRunner } from './sync-runner.js';
import { SubnetsExhaustedError } from '../core/flannel/subnet-pick.js';

/** What the agent needs from the subnet manager: the node's lease and the peers' leases. */
export interface SubnetLeaser {
  /** Holds (reuses or acquires) the node's lease; resolves with it. Rejects when none can be had. */
  start(): Promise<Lease>;
  /** The node's current lease. */
  lease(): Lease;
  /** Every other node's live lease. */
  peers(): Lease[];
  /** Stops renewing and watching; never revokes the lease (the node keeps its subnet across restarts). */
  stop(): Promise<void>;
}

export interface AgentConfig {
  nodeName: string;
  iface?: string;
  publicIp?: string;
  netConf: BackendNetConf;
  files: CniFilesOptions;
  ipMasq: boolean;
  resyncMs: number;
}

export interface AgentDeps {
  exec: Exec;
  nft: Nft;
  reconciler: BackendReconciler;
  clock: Clock;
  log: Logger;
  /** Builds the subnet manager once the node's address and lease attributes are known. */
  makeLeaser: (attrs: { publicIp: string; backendType: string; backendData: { VNI?: number; VtepMAC?: string }; nodeName: string }, onPeersChanged: () => void) => SubnetLeaser;
  store: LeaseStore;
}

export class Agent {
  readonly metrics = new Metrics();
  private readonly syncs = this.metrics.counter('weft_backend_syncs_total', 'Backend syncs by result.');
  private readonly changes = this.metrics.counter('weft_backend_changes_total', 'Kernel changes applied by the backend reconciler.');
  private readonly peersGauge = this.metrics.gauge('weft_peers', 'Peer nodes with a live lease.');
  private readonly peerErrors = this.metrics.gauge('weft_peer_errors', 'Peers the backend cannot serve (see the log).');
  private readonly leaseExpiry = this.metrics.gauge('weft_lease_expiry_seconds', 'When the node\'s lease runs out (unix time).');
  private leaser: SubnetLeaser | undefined;
  private runner: SyncRunner | undefined;
  private node: NodeAddress | undefined;
  private synced = false;
  private lastError = 'starting';
  private lastPeerErrors = '';
  /** What the last sync wrote (CNI files + masq), so unchanged state is not rewritten. */
  private lastApplied = '';

  constructor(
    private readonly cfg: AgentConfig,
    private readonly deps: AgentDeps,
  ) {}

  health(): { ok: boolean; reason: string } {
    if (this.synced) return { ok: true, reason: 'ok' };
    return { ok: false, reason: this.lastError };
  }

  /** Leases a subnet, writes the CNI files, programs masq, and starts the sync loop. */
  async start(): Promise<Lease> {
    const log = this.deps.log;
    const optsAddr: { iface?: string; publicIp?: string } = {};
    if (this.cfg.iface) optsAddr.iface = this.cfg.iface;
    if (this.cfg.publicIp) optsAddr.publicIp = this.cfg.publicIp;
    this.node = await detectNodeAddress(this.deps.exec, optsAddr);
    const backend = this.cfg.netConf.backend;
    const backendData = backend.type === 'vxlan' ? { VNI: backend.vni, VtepMAC: vtepMacFor(this.node.publicIp) } : {};
    log.info('node address', { iface: this.node.iface, publicIp: this.node.publicIp, mtu: this.node.mtu, backend: backend.type });
    this.runner = new SyncRunner({
      name: 'backend',
      clock: this.deps.clock,
      minIntervalMs: 50,
      resyncMs: this.cfg.resyncMs,
      backoffInitialMs: 200,
      backoffMaxMs: 10_000,
      sync: () => this.sync(),
      onError: (err, attempt) => {
        this.lastError = err.message;
        this.syncs.inc({ result: 'error' });
        log.error('backend sync failed; will retry', { attempt, error: err.message });
      },
    });
    this.leaser = this.deps.makeLeaser(
      { publicIp: this.node.publicIp, backendType: backend.type, backendData, nodeName: this.cfg.nodeName },
      () => this.runner?.trigger(),
    );
    // A store that is slow or briefly unreachable at start-up (20 agents booting against one
    // etcd) is retried, as flanneld does; only a real answer ("no free subnet") is fatal.
    let lease: Lease | undefined;
    for (let attempt = 1; !lease; attempt++) {
      try {
        lease = await this.leaser.start();
      } catch (err) {
        if (err instanceof SubnetsExhaustedError || attempt >= 20) throw err;
        log.warn('cannot hold a subnet lease yet; retrying', { attempt, error: (err as Error).message });
        await new Promise<void>((resolve) => this.deps.clock.setTimeout(resolve, Math.min(5_000, 200 * 2 ** attempt)));
      }
    }
    log.info('subnet lease held', { subnet: lease.subnet, expiresAt: new Date(lease.expiresAt).toISOString() });
    // Every sync goes through the runner, so syncs never overlap (two at once would race on the
    // same kernel objects). start() resolves after the first successful one: the CNI files are
    // written by it, so pods never start on a node whose routes are not there yet. A failing sync
    // is retried with backoff and logged; health reports it meanwhile.
    this.runner.trigger();
    await this.runner.whenIdle();
    return lease;
  }

  /** One pass: desired backend state from the leases → kernel; CNI files; masq. */
  private async sync(): Promise<void> {
    if (!this.leaser || !this.node) throw new Error('agent: sync before start');
    const own = this.leaser.lease();
    const peers = this.leaser.peers();
    const node = {
      subnet: own.subnet,
      publicIp: this.node.publicIp,
      underlay: { name: this.node.iface, cidr: `${this.node.publicIp}/${this.node.prefixLen}`, mtu: this.node.mtu },
    };
    const desired = planBackend({ node, conf: this.cfg.netConf, peers });
    const summary = await this.deps.reconciler.reconcile(desired);
    if (summary.changes.length > 0) {
      this.changes.inc({}, summary.changes.length);
      this.deps.log.info('backend changes applied', { count: summary.changes.length, changes: summary.described });
    }
    const errs = summary.peerErrors.map((e) => e.message).join('; ');
    if (errs !== this.lastPeerErrors) {
      if (errs) this.deps.log.warn('peers the backend cannot serve', { errors: summary.peerErrors.map((e) => e.message) });
      this.lastPeerErrors = errs;
    }
    const env = { network: this.cfg.netConf.network, subnet: own.subnet, mtu: desired.podMtu, ipMasq: this.cfg.ipMasq };
    const key = JSON.stringify(env);
    if (key !== this.lastApplied) {
      // Rebuilt once per agent start and whenever the subnet or MTU change; the nft swap is
      // atomic and conntrack keeps the NAT of established flows.
      writeCniFiles(this.cfg.files, env);
      await this.deps.nft.apply(
        this.cfg.ipMasq ? renderAgentMasq({ network: env.network, subnet: env.subnet }) : renderAgentMasqRemoval(),
        'agent ip-masq',
      );
      this.lastApplied = key;
      this.deps.log.info('subnet.env and CNI config written', { subnet: env.subnet, mtu: env.mtu, ipMasq: env.ipMasq });
    }
    this.peersGauge.set(peers.length);
    this.peerErrors.set(summary.peerErrors.length);
    this.leaseExpiry.set(Math.round(own.expiresAt / 1000));
    this.syncs.inc({ result: 'ok' });
    this.synced = true;
    this.lastError = '';
  }

  /** Stops loops and connections. Leaves the kernel state and the lease as they are. */
  async stop(): Promise<void> {
    this.runner?.stop();
    await this.leaser?.stop();
    await this.deps.store.close();
  }
}
