/**
 * Wiring of `weft agent` and `weft agent cleanup`: real adapters in, signals handled, errors
 * reported once with their field. Decides nothing itself.
 */

import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NodeExec } from '../adapters/exec.js';
import { systemClock } from '../adapters/clock.js';
import { JsonLogger } from '../adapters/json-logger.js';
import { NftCommand } from '../adapters/nft.js';
import { NftSession } from '../adapters/nft-session.js';
import { Iproute2Netlink } from '../adapters/netlink-iproute2.js';
import { startStatusServer } from '../adapters/status-server.js';
import { startCniServer } from '../cni/server.js';
import { runInProcess } from '../cni/main.js';
import { IpSession } from '../adapters/ip-session.js';
import { parseDuration } from '../core/duration.js';
import { backendNetConf, NetConfError, parseNetConf, type NetConf } from '../core/flannel/net-conf.js';
import { renderAgentMasqRemoval } from '../core/nft/agent-masq.js';
import { parseSubnetEnv } from '../core/cni/subnet-env.js';
import type { LeaseStore } from '../ports/lease-store.js';
import { Agent } from './agent.js';
import { openStore } from './open-store.js';
import { BackendReconciler } from './backend-reconciler.js';
import { CONFLIST_FILE, cniSocketPath, removeCniFiles, subnetEnvPath } from './cni-files.js';
import { SubnetLease } from './subnet-lease.js';
import { detectNodeAddress } from './node-address.js';
import { POLICY_KINDS, PolicyReconciler } from './policy-reconciler.js';
import { policyAppliedPath, writePolicyApplied } from './policy-applied.js';
import { openCluster, type OpenedCluster } from './open-cluster.js';
import { renderPolicyRemoval } from '../core/policy/nft-plan.js';

export interface AgentCliOptions {
  store: string;
  storeFile: string;
  etcdEndpoints: string;
  etcdPrefix: string;
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
}

/** The cluster config: the stored one; a --net-conf file is stored first when the store has none. */
async function loadNetConf(store: LeaseStore, file: string | undefined): Promise<NetConf> {
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`--net-conf ${file}: ${(err as Error).message}`);
    }
    const conf = parseNetConf(text);
    const stored = await store.getConfig();
    if (stored === undefined) {
      await store.putConfig(text);
      return conf;
    }
    return parseNetConf(stored);
  }
  const stored = await store.getConfig();
  if (stored === undefined) throw new Error('no network config: pass --net-conf FILE or store one with `weft net-conf put`');
  return parseNetConf(stored);
}

/** The subnet in an existing subnet.env (network form), or undefined when there is none. */
function readPreviousSubnet(runDir: string): string | undefined {
  try {
    return parseSubnetEnv(readFileSync(subnetEnvPath(runDir), 'utf8')).subnet;
  } catch {
    // No (usable) subnet.env: a first start, nothing to reuse.
    return undefined;
  }
}

export async function runAgent(opts: AgentCliOptions): Promise<void> {
  const log = new JsonLogger((l) => process.stderr.write(l), { node: opts.nodeName });
  const exec = new NodeExec();
  const ttlMs = parseDuration(opts.leaseTtl, '--lease-ttl');
  const renewMarginMs = opts.renewMargin ? parseDuration(opts.renewMargin, '--renew-margin') : Math.floor(ttlMs / 2);
  const resyncMs = parseDuration(opts.resync, '--resync');
  if (renewMarginMs >= ttlMs) throw new Error(`--renew-margin: must be shorter than --lease-ttl (${opts.leaseTtl})`);
  const store = await openStore(opts);
  let conf: NetConf | undefined;
  for (let attempt = 1; !conf; attempt++) {
    try {
      conf = await loadNetConf(store, opts.netConf);
    } catch (err) {
      // A bad or missing config is the operator's to fix: exit. A store that does not answer
      // (yet) is retried, as at any agent start-up.
      const fatal = err instanceof NetConfError || /no network config|--net-conf/.test((err as Error).message) || attempt >= 20;
      if (fatal) {
        await store.close();
        throw err;
      }
      log.warn('cannot read the network config from the store; retrying', { attempt, error: (err as Error).message });
      await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** attempt)));
    }
  }
  const previousSubnet = readPreviousSubnet(opts.runDir);
  let agent: Agent | undefined;
  const exitOnLost = (err: Error) => {
    log.error('exiting: the subnet lease was lost', { error: err.message });
    void shutdown(3);
  };
  agent = new Agent(
    {
      nodeName: opts.nodeName,
      ...(opts.iface ? { iface: opts.iface } : {}),
      ...(opts.publicIp ? { publicIp: opts.publicIp } : {}),
      netConf: backendNetConf(conf),
      files: { runDir: opts.runDir, cniConfDir: opts.cniConfDir, pluginPrefix: opts.pluginPrefix, ipamDataDir: opts.ipamDataDir, networkName: 'weft' },
      ipMasq: opts.ipMasq,
      resyncMs,
    },
    {
      exec,
      nft: new NftCommand(exec),
      reconciler: new BackendReconciler(new Iproute2Netlink(exec)),
      clock: systemClock,
      log,
      store,
      makeLeaser: (attrs, onPeersChanged) =>
        new SubnetLease({
          store,
          conf,
          attrs,
          ttlMs,
          renewMarginMs,
          relistMs: Math.min(resyncMs, Math.max(1000, Math.floor(ttlMs / 4))),
          clock: systemClock,
          random: Math.random,
          log,
          onPeersChanged,
          onLost: exitOnLost,
          ...(previousSubnet ? { previousSubnet } : {}),
        }),
    },
  );
  let policy: PolicyReconciler | undefined;
  let cluster: OpenedCluster | undefined;
  let policyNft: NftSession | undefined;
  const clusterSpec = opts.cluster ?? (opts.objectsFile ? `sqlite:${opts.objectsFile}` : undefined);
  if (clusterSpec) {
    cluster = openCluster(clusterSpec, POLICY_KINDS, { clock: systemClock, log: log.with({ component: 'cluster' }) });
    policyNft = new NftSession(exec);
    policy = new PolicyReconciler({
      node: opts.nodeName,
      cache: cluster.cache,
      nft: policyNft,
      log: log.with({ component: 'policy' }),
      clock: systemClock,
      onApplied: (a) => writePolicyApplied(opts.runDir, a),
    });
  }
  const status = await startStatusServer(opts.metricsAddr, { health: () => agent!.health(), metrics: () => agent!.metrics.render() });
  // The node's CNI socket: the weft plugin wrappers run their calls here (see src/cni/server.ts),
  // with one long-lived `ip` for the node side of every ADD and DEL (src/adapters/ip-session.ts).
  // Not fatal: without the socket the wrappers run the plugins themselves, only slower.
  const cniLog = log.with({ component: 'cni' });
  const cniSocket = cniSocketPath(opts.runDir);
  const ipSession = new IpSession();
  const cni = await startCniServer({ socketPath: cniSocket, run: (t, e, s) => runInProcess(t, e, s, { ipSession }), log: (m, f) => cniLog.info(m, f) }).catch((err: unknown) => {
    cniLog.error('cannot serve the CNI socket; the plugin wrappers will run the plugins themselves', { socket: cniSocket, error: (err as Error).message });
    return { close: async () => undefined };
  });
  let stopping = false;
  async function shutdown(code: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    log.info('stopping; kernel state and lease are left in place', { code });
    policy?.stop();
    policyNft?.close();
    await cluster?.close();
    await cni.close();
    ipSession.close();
    await agent?.stop();
    await status.close();
    process.exit(code);
  }
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  try {
    await agent.start();
  } catch (err) {
    await cni.close();
    ipSession.close();
    await agent.stop().catch(() => undefined);
    await status.close();
    throw err;
  }
  await cluster?.cache.start();
  policy?.start();
  log.info('agent running', { metrics: opts.metricsAddr, policy: policy ? 'enforced' : 'off' });
}

/** Removes the agent's backend devices and routes, its nft table and its files; nothing else. */
export async function runCleanup(opts: AgentCliOptions & { releaseLease: boolean }): Promise<void> {
  const exec = new NodeExec();
  const removed = await new BackendReconciler(new Iproute2Netlink(exec)).teardown();
  await new NftCommand(exec).apply(renderAgentMasqRemoval(), 'cleanup: remove the agent\'s ip-masq table');
  await new NftCommand(exec).apply(renderPolicyRemoval(), 'cleanup: remove the agent\'s NetworkPolicy table');
  removeCniFiles({ runDir: opts.runDir, cniConfDir: opts.cniConfDir });
  rmSync(policyAppliedPath(opts.runDir), { force: true });
  for (const line of removed.described) process.stdout.write(`removed ${line}\n`);
  process.stdout.write(`removed nft tables inet weft-agent-masq and inet weft-policy, ${subnetEnvPath(opts.runDir)}, ${join(opts.cniConfDir, CONFLIST_FILE)}\n`);
  if (opts.releaseLease) {
    const node = await detectNodeAddress(exec, { ...(opts.iface ? { iface: opts.iface } : {}), ...(opts.publicIp ? { publicIp: opts.publicIp } : {}) });
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
