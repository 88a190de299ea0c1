/**
 * The node-network controllers of `weft agent` (Flannel's job, flanneld's loops), one Controller
 * each, run in this order by the controller runtime:
 *
 * - subnet:    finds the node's underlay address, reads the cluster's net-conf from the store,
 *              holds the node's subnet lease (renewed by SubnetLease) and watches the peers'.
 *              A store that does not answer is retried for ever with capped backoff, reported
 *              as "starting" meanwhile; a bad or missing config is fatal (the operator's to fix).
 * - backend:   (own lease, peers, net-conf) → routes, VXLAN device, neighbours, FDB, applied as a
 *              difference by the BackendReconciler; resolves its start after the first success,
 *              so pods never start on a node whose routes are not there yet.
 * - ip-masq:   the agent's masquerade table for pod traffic leaving the cluster network, kept
 *              by nftlayer's NftTableSync (full rebuild at start, after a failure and every
 *              `masqResyncMs`; otherwise only the differences).
 * - cni-files: subnet.env and the conflist for the `weft` CNI plugin, last: once they exist the
 *              runtime may start pods here.
 *
 * The node's kernel state is a function of (own lease, peers, net-conf); every sync recomputes it
 * and applies only the difference, so a restart changes nothing that is right and established
 * flows do not notice. Each sync-driven controller is a SyncController (one SyncRunner: bounded
 * rate, backoff, periodic resync).
 */

import type { BackendData, Lease, LeaseStore } from '../ports/lease-store.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Exec } from '../ports/exec.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';
import type { Nft } from '../ports/nft.js';
import { backendNetConf, NetConfError, parseNetConf, type NetConf } from '../core/flannel/net-conf.js';
import { agentMasqTable } from '../core/nft/agent-masq.js';
import { AGENT_MASQ_TABLE } from '../core/names.js';
import { nodeGuardTable, storeEndpointOf, type NodeGuardInput } from '../core/nft/node-guard.js';
import { NftTableSync } from '../adapters/nft-sync.js';
import { BACKEND_CHANGES, BACKEND_SYNCS, LEASE_EXPIRY, PEER_ERRORS, PEERS } from '../core/metrics.js';
import { SubnetsExhaustedError } from '../core/flannel/subnet-pick.js';
import { resolveLeases } from '../core/flannel/lease-conflicts.js';
import type { Backend, BackendDeps } from './backends/backend.js';
import { backendKind } from './backends/index.js';
import { writeCniFiles, type CniFilesOptions } from './cni-files.js';
import { detectNodeAddress, type NodeAddress } from './node-address.js';
import {
  ControllerMetrics,
  SyncController,
  type Controller,
  type ControllerStatus,
  type SyncTiming,
} from './controller.js';

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

export type LeaseAttrsIn = {
  publicIp: string;
  backendType: string;
  backendData: BackendData;
  nodeName: string;
};

/** The config every controller needs, known once the subnet controller has started. */
export interface NodeNetwork {
  node: NodeAddress;
  conf: NetConf;
  leaser: SubnetLeaser;
}

/** A config error retrying cannot fix: the agent exits with it. */
export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
}

/**
 * The cluster config: the stored one; `fileText` (a --net-conf file) is stored first when the
 * store has none. Store errors are thrown as they are (retried by the caller); config errors are
 * AgentConfigError.
 */
export async function loadNetConf(
  store: LeaseStore,
  fileText: string | undefined,
  fileName = '--net-conf',
): Promise<NetConf> {
  const parse = (text: string, what: string): NetConf => {
    try {
      return parseNetConf(text);
    } catch (err) {
      if (err instanceof NetConfError) throw new AgentConfigError(`${what}: ${err.message}`, { cause: err });
      throw err;
    }
  };
  if (fileText !== undefined) {
    const conf = parse(fileText, fileName);
    const stored = await store.getConfig();
    if (stored === undefined) {
      await store.putConfig(fileText);
      return conf;
    }
    return parse(stored, 'the stored network config');
  }
  const stored = await store.getConfig();
  if (stored === undefined)
    throw new AgentConfigError('no network config: pass --net-conf FILE or store one with `weft net-conf put`');
  return parse(stored, 'the stored network config');
}

export interface SubnetControllerOptions {
  nodeName: string;
  iface?: string;
  publicIp?: string;
  /** The --net-conf file's text, if one was given. */
  netConfText?: string;
  exec: Exec;
  /** Where the network config is stored (etcd or embedded); not used when `loadConf` is given. */
  store?: LeaseStore;
  /**
   * Reads the network config another way: with --kube-subnet-mgr it is the --net-conf file only
   * (Flannel's kube subnet manager reads net-conf.json from its ConfigMap, not from a store).
   */
  loadConf?: () => Promise<NetConf>;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  /** Builds the subnet manager once the node's address, config and lease attributes are known. */
  makeLeaser: (conf: NetConf, attrs: LeaseAttrsIn, onPeersChanged: () => void) => SubnetLeaser;
  /** Called on every peer change (the backend's trigger). */
  onPeersChanged: () => void;
  /** Start-up retry backoff: first wait and cap (ms). */
  retryInitialMs?: number;
  retryMaxMs?: number;
}

/**
 * The node's subnet lease as a controller. Its start retries for ever (store unreachable,
 * leases not readable yet) with capped exponential backoff, and is ready once the lease is held;
 * it turns not-ready when the lease has run out (the store has been away longer than the TTL).
 */
export class SubnetController implements Controller {
  readonly name = 'subnet';
  private net: NodeNetwork | undefined;
  private leaser: SubnetLeaser | undefined;
  private started = false;
  private stopped = false;
  private attempts = 0;
  private lastError: string | undefined;
  private wait: { timer: TimerHandle; resolve: () => void } | undefined;
  private readonly m: ControllerMetrics;
  private readonly leaseExpiry;

  constructor(private readonly o: SubnetControllerOptions) {
    this.m = new ControllerMetrics(this.name, o.metrics);
    this.leaseExpiry = o.metrics.gauge(LEASE_EXPIRY);
  }

  /** The node's address, config and leaser; throws before start() has resolved. */
  network(): NodeNetwork {
    if (!this.net) throw new Error('subnet controller: not started');
    return this.net;
  }

  async start(): Promise<void> {
    this.started = true;
    const { log } = this.o;
    // The node's own address comes from its own kernel: a failure here is a wrong --iface or
    // --public-ip, which retrying cannot fix.
    let node: NodeAddress;
    try {
      node = await detectNodeAddress(this.o.exec, {
        ...(this.o.iface ? { iface: this.o.iface } : {}),
        ...(this.o.publicIp ? { publicIp: this.o.publicIp } : {}),
      });
    } catch (err) {
      throw new AgentConfigError((err as Error).message, { cause: err });
    }
    const { loadConf, store } = this.o;
    const conf = loadConf
      ? await this.retry('read the network config', loadConf)
      : await this.retry('read the network config from the store', () => {
          if (!store) throw new AgentConfigError('no network config source (a store or a --net-conf file)');
          return loadNetConf(store, this.o.netConfText);
        });
    if (!conf) return;
    const backend = backendNetConf(conf).backend;
    const backendData = backendKind(backend.type).leaseData(backendNetConf(conf), node.publicIp);
    log.info('node address', { iface: node.iface, publicIp: node.publicIp, mtu: node.mtu, backend: backend.type });
    const leaser = this.o.makeLeaser(
      conf,
      { publicIp: node.publicIp, backendType: backend.type, backendData, nodeName: this.o.nodeName },
      this.o.onPeersChanged,
    );
    this.leaser = leaser;
    const lease = await this.retry('hold a subnet lease', () => leaser.start());
    if (!lease) return;
    this.net = { node, conf, leaser };
    this.lastError = undefined;
    this.leaseExpiry.set(Math.round(lease.expiresAt / 1000));
    this.m.succeeded(0, this.o.clock.now());
    this.m.setReady(true);
    log.info('subnet lease held', { subnet: lease.subnet, expiresAt: new Date(lease.expiresAt).toISOString() });
  }

  /**
   * Runs `step` until it succeeds (its value), a config error (thrown), or stop() (undefined).
   * A store that is slow or unreachable at start-up (20 agents booting against one etcd, etcd
   * not up yet) is waited for, as flanneld does; only a real answer is fatal.
   */
  private async retry<T>(what: string, step: () => Promise<T>): Promise<T | undefined> {
    const initial = this.o.retryInitialMs ?? 200;
    const cap = this.o.retryMaxMs ?? 5_000;
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        return await step();
      } catch (err) {
        if (err instanceof AgentConfigError || err instanceof SubnetsExhaustedError) throw err;
        this.attempts++;
        this.lastError = `cannot ${what}: ${(err as Error).message}`;
        this.m.failed(undefined);
        this.o.log.warn(`cannot ${what} yet; retrying`, { attempt, error: (err as Error).message });
        await this.sleep(Math.min(cap, initial * 2 ** Math.min(attempt - 1, 20)));
      }
    }
    return undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.o.clock.setTimeout(() => {
        this.wait = undefined;
        resolve();
      }, ms);
      this.wait = { timer, resolve };
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.wait) {
      this.wait.timer.cancel();
      this.wait.resolve();
      this.wait = undefined;
    }
    this.m.setReady(false);
    await this.leaser?.stop();
  }

  status(): ControllerStatus {
    const base = { name: this.name, syncs: this.net ? 1 : 0, failures: this.attempts };
    if (this.stopped) return { ...base, state: 'stopped', ready: false };
    if (!this.started) return { ...base, state: 'pending', ready: false };
    if (!this.net)
      return {
        ...base,
        state: 'starting',
        ready: false,
        ...(this.lastError ? { lastError: this.lastError } : { message: 'starting' }),
      };
    const lease = this.net.leaser.lease();
    const expired = lease.expiresAt <= this.o.clock.now();
    return {
      ...base,
      state: expired ? 'failing' : 'ready',
      ready: !expired,
      revision: lease.subnet,
      revisionAt: lease.expiresAt,
      message: expired
        ? `the lease of ${lease.subnet} ran out at ${new Date(lease.expiresAt).toISOString()}; renewing`
        : `lease ${lease.subnet} until ${new Date(lease.expiresAt).toISOString()}`,
    };
  }
}

export interface NodeControllersOptions {
  subnet: SubnetController;
  /** What the backend chosen by net-conf's Backend.Type may use (backends/backend.ts). */
  backendDeps: BackendDeps;
  nft: Nft;
  files: CniFilesOptions;
  ipMasq: boolean;
  /** Whether this agent enforces NetworkPolicy: new pods then wait for it (WEFT_AWAIT_POLICY). */
  awaitPolicy: boolean;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  timing: SyncTiming;
  /** How often the ip-masq table is rebuilt whole even when nothing changed (default 5 minutes). */
  masqResyncMs?: number;
  /** The store endpoints the agent talks to (etcd URLs; none for the embedded store): pods may not reach them. */
  storeEndpoints?: readonly string[];
}

const MASQ_RESYNC_MS = 5 * 60_000;

/**
 * The backend, ip-masq and CNI-files controllers over the subnet controller's network. The
 * backend's success triggers the other two, which rewrite only when what they write changed.
 */
export function nodeControllers(o: NodeControllersOptions): {
  backend: SyncController;
  masq: SyncController;
  nodeGuard: SyncController;
  cniFiles: SyncController;
  /** The cluster's pod network once the backend has synced (the Services table needs it). */
  network: () => string | undefined;
  /** Stops the backend's own processes (after the controllers stopped); its kernel state stays. */
  stopBackend: () => Promise<void>;
} {
  const syncs = o.metrics.counter(BACKEND_SYNCS);
  const changes = o.metrics.counter(BACKEND_CHANGES);
  const peersGauge = o.metrics.gauge(PEERS);
  const peerErrors = o.metrics.gauge(PEER_ERRORS);
  const leaseExpiry = o.metrics.gauge(LEASE_EXPIRY);
  let lastPeerErrors = '';
  /** The peers the last backend sync could not serve (the node's status message). */
  let peerErrorMessages: string[] = [];
  /** What the CNI files and masq need from the last successful backend sync. */
  let env: { network: string; subnet: string; mtu: number; ipMasq: boolean; awaitPolicy: boolean } | undefined;
  const masqTable = new NftTableSync(o.nft, {
    resyncEveryMs: o.masqResyncMs ?? MASQ_RESYNC_MS,
    now: () => o.clock.now(),
  });
  /** What the node guard needs from the last successful backend sync. */
  let guardInput: NodeGuardInput | undefined;
  const guardTable = new NftTableSync(o.nft, {
    resyncEveryMs: o.masqResyncMs ?? MASQ_RESYNC_MS,
    now: () => o.clock.now(),
  });
  const skipped = (o.storeEndpoints ?? []).map(storeEndpointOf).flatMap((e) => ('skipped' in e ? [e.skipped] : []));
  if (skipped.length > 0)
    o.log.warn('store endpoints the node guard cannot keep pods from (give the store by address)', { skipped });
  /** Whether the table is known removed (ipMasq off): removal is sent once, not on every sync. */
  let masqRemoved = false;
  let filesWritten = '';
  /** Lease conflicts (src/core/flannel/lease-conflicts.ts): the last good peers, and what the last sync found. */
  let lastGood = new Map<string, Lease>();
  let leaseConflicts: string[] = [];

  /** The backend net-conf chose, made on the first sync (the type is known once the subnet controller started). */
  let chosen: Backend | undefined;
  const backend: SyncController = new SyncController({
    name: 'backend',
    clock: o.clock,
    log: o.log,
    metrics: o.metrics,
    timing: o.timing,
    problem: () => {
      const problems = [...leaseConflicts, ...(chosen?.problem() ? [chosen.problem() as string] : [])];
      return problems.length > 0 ? problems.join('; ') : undefined;
    },
    // Peers the backend cannot serve leave the node ready (the others are served) but are said.
    warning: () => (peerErrorMessages.length > 0 ? peerErrorMessages.join('; ') : undefined),
    sync: async () => {
      try {
        const { node: addr, conf, leaser } = o.subnet.network();
        const netConf = backendNetConf(conf);
        const own = leaser.lease();
        // Conflicting leases (two nodes at one address, overlapping subnets) are not believed.
        const resolved = resolveLeases({ ...own, nodeName: own.nodeName ?? 'this node' }, leaser.peers(), lastGood);
        const peers = resolved.use;
        if (resolved.conflicts.join('\n') !== leaseConflicts.join('\n') && resolved.conflicts.length > 0)
          o.log.warn('conflicting leases: not routed as they are', { conflicts: resolved.conflicts });
        lastGood = resolved.lastGood;
        leaseConflicts = resolved.conflicts;
        const node = {
          subnet: own.subnet,
          publicIp: addr.publicIp,
          underlay: { name: addr.iface, cidr: `${addr.publicIp}/${addr.prefixLen}`, mtu: addr.mtu },
        };
        if (chosen?.type !== netConf.backend.type) {
          await chosen?.stop();
          chosen = backendKind(netConf.backend.type).create(o.backendDeps);
        }
        const summary = await chosen.sync({ node, conf: netConf, peers });
        if (summary.described.length > 0) {
          changes.inc({}, summary.described.length);
          o.log.info('backend changes applied', { count: summary.described.length, changes: summary.described });
        }
        const errs = summary.peerErrors.map((e) => e.message).join('; ');
        if (errs !== lastPeerErrors) {
          if (errs) o.log.warn('peers the backend cannot serve', { errors: summary.peerErrors.map((e) => e.message) });
          lastPeerErrors = errs;
        }
        peersGauge.set(peers.length);
        peerErrors.set(summary.peerErrors.length);
        peerErrorMessages = summary.peerErrors.map((e) => e.message);
        leaseExpiry.set(Math.round(own.expiresAt / 1000));
        syncs.inc({ result: 'ok' });
        env = {
          network: netConf.network,
          subnet: own.subnet,
          mtu: summary.podMtu,
          ipMasq: o.ipMasq,
          awaitPolicy: o.awaitPolicy,
        };
        guardInput = {
          network: netConf.network,
          guardPorts: summary.guardPorts,
          peers: peers.map((p) => p.publicIp),
          storeEndpoints: o.storeEndpoints ?? [],
        };
        masq.trigger();
        nodeGuard.trigger();
        cniFiles.trigger();
        return `${own.subnet} ${netConf.backend.type}, ${peers.length} peers`;
      } catch (err) {
        syncs.inc({ result: 'error' });
        throw err;
      }
    },
  });

  const masq: SyncController = new SyncController({
    name: 'ip-masq',
    clock: o.clock,
    log: o.log,
    metrics: o.metrics,
    timing: o.timing,
    sync: async () => {
      if (!env) throw new Error('ip-masq: no backend sync yet');
      if (env.ipMasq) {
        // The first sync (and one every masqResyncMs) rebuilds the table atomically; a changed
        // subnet or network refills the chain in one transaction. A failed apply leaves the
        // kernel's last good table and makes the next sync a full rebuild. Conntrack keeps the
        // NAT of established flows either way.
        masqRemoved = false;
        await masqTable.sync(agentMasqTable({ network: env.network, subnet: env.subnet }), 'agent ip-masq');
      } else if (!masqRemoved) {
        await masqTable.remove({ family: 'inet', name: AGENT_MASQ_TABLE }, 'agent ip-masq: remove (ipMasq off)');
        masqRemoved = true;
      }
      return env.ipMasq ? `masquerade ${env.subnet} leaving ${env.network}` : 'off';
    },
  });

  // The node guard (src/core/nft/node-guard.ts): the VXLAN port answers only peers, pods never
  // reach the store. Synced like ip-masq; a peer joining or leaving changes one set element.
  const nodeGuard: SyncController = new SyncController({
    name: 'node-guard',
    clock: o.clock,
    log: o.log,
    metrics: o.metrics,
    timing: o.timing,
    sync: async () => {
      if (!guardInput) throw new Error('node-guard: no backend sync yet');
      await guardTable.sync(nodeGuardTable(guardInput), 'node guard');
      const ports = guardInput.guardPorts.map((g) => `${g.port}/${g.protocol}`).join(', ');
      return `${ports ? `${ports} from ${guardInput.peers.length} peers` : 'no backend port'}, ${guardInput.storeEndpoints.length} store endpoints`;
    },
  });

  const cniFiles: SyncController = new SyncController({
    name: 'cni-files',
    clock: o.clock,
    log: o.log,
    metrics: o.metrics,
    timing: o.timing,
    sync: async () => {
      if (!env) throw new Error('cni-files: no backend sync yet');
      const key = JSON.stringify(env);
      if (key !== filesWritten) {
        writeCniFiles(o.files, env);
        filesWritten = key;
        o.log.info('subnet.env and CNI config written', { subnet: env.subnet, mtu: env.mtu, ipMasq: env.ipMasq });
      }
      return `${env.subnet} mtu ${env.mtu}`;
    },
  });

  return { backend, masq, nodeGuard, cniFiles, network: () => env?.network, stopBackend: async () => chosen?.stop() };
}
