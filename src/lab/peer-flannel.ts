/**
 * The real flanneld on lab nodes (`weft lab up --store etcd --peer flannel=n2`, or `--api kube
 * --peer flannel=n2`, issue 18): a mixed cluster where some nodes run Flannel's own daemon and the
 * others weft's agent, over one datastore and the same net-conf.json, to show that weft is a
 * drop-in for flanneld and that a node can move from one to the other. The datastore is the lab's:
 * - etcd (--store etcd): flanneld's etcd mode, the same keys as weft's (Flannel's layout,
 *   src/adapters/lease-store-etcd.ts), net-conf.json at <prefix>/config;
 * - the Kubernetes API (--api kube): flanneld's kube-subnet-mgr mode, as weft's agents run there
 *   (src/agent/kube-subnet-lease.ts): the node's subnet is its Node's spec.podCIDR, and every
 *   daemon publishes Flannel's annotations on its Node and reads the others'. flanneld runs as the
 *   flannel ServiceAccount of deploy/peers/flanneld.yaml (./lab-kube.ts writes its kubeconfig),
 *   with NODE_NAME set (what a DaemonSet's downward API gives it) and the lab's net-conf.json file
 *   as --net-config-path.
 *
 * What a flannel node runs, and why:
 * - flanneld (built by scripts/build-peers.sh into the peers' cache) in one of the modes above,
 *   `-iface eth0`, `-ip-masq`, and `-subnet-file` at the path weft's agent writes subnet.env to
 *   (the node's run dir), so the node's subnet and its pods' addresses survive a switch to weft.
 *   Its /healthz listens where the agent's does (127.0.0.1:9777 in the node's namespace), so the
 *   pod runner's readiness check is the same.
 * - The CNI config: Flannel's `flannel` CNI plugin is NOT installed (it is not built here). The
 *   conflist is the one weft's agent writes: weft's `weft` plugin reads flanneld's subnet.env and
 *   delegates to bridge + host-local on that subnet, exactly what the flannel plugin delegates to.
 *   It is written once subnet.env exists (flanneld has a subnet), so a node is Ready only then.
 *
 * Switching a node from flanneld to weft (`weft lab switch-node`) stops flanneld, deletes its
 * VXLAN device flannel.<VNI> (weft's vxlan device uses the same VNI and UDP port, and the kernel
 * allows one device per VNI and port; Flannel's own uninstall does the same), and starts weft's
 * agent, which finds the node's lease by its public IP (etcd) or reads its Node's podCIDR (kube)
 * and keeps the subnet, and publishes its own VTEP MAC in the lease or annotation. flanneld's iptables
 * rules (masquerade, FORWARD accepts) stay: they do what weft's do, and a reboot clears them.
 */

import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { isExecutable } from '../adapters/proc.js';
import { join } from 'node:path';
import type { Exec } from '../ports/exec.js';
import type { NamedNetns } from '../adapters/netns.js';
import { spawnDetached } from '../adapters/exec.js';
import { CONFLIST_FILE, renderConflist, subnetEnvPath } from '../agent/cni-files.js';
import { parseNetConf } from '../core/flannel/net-conf.js';
import { labNetConf } from '../core/lab/lab-spec.js';
import type { LabNodeRecord, LabPaths, LabRecord } from './lab-state.js';
import { nodeKubeconfigs } from './lab-kube.js';

/** The releases scripts/build-peers.sh builds (keep the two in step). */
export const FLANNEL_VERSION = 'v0.28.11';
export const CNI_PLUGINS_VERSION = 'v1.10.0';

/** The peers' cache of scripts/build-peers.sh (WEFT_PEERS_CACHE, default /var/cache/weft/peers). */
export function peersCache(env: Record<string, string | undefined> = process.env): string {
  return env.WEFT_PEERS_CACHE || '/var/cache/weft/peers';
}

/** Where scripts/build-peers.sh puts flanneld. */
export function flanneldPath(env: Record<string, string | undefined> = process.env): string {
  return join(peersCache(env), `flannel-${FLANNEL_VERSION}`, 'bin', 'flanneld');
}

/** Where scripts/build-peers.sh puts the reference CNI plugins (bridge, host-local, loopback, portmap). */
export function referencePluginsDir(env: Record<string, string | undefined> = process.env): string {
  return join(peersCache(env), `cni-plugins-${CNI_PLUGINS_VERSION}`, 'bin');
}

/** Why flanneld cannot be run here (not built), or undefined when it can. */
export function flanneldMissing(env: Record<string, string | undefined> = process.env): string | undefined {
  const path = flanneldPath(env);
  return isExecutable(path)
    ? undefined
    : `flanneld ${FLANNEL_VERSION} is not built (no executable ${path}; run scripts/build-peers.sh)`;
}

/** The address and port of the node daemon's /healthz, in the node's namespace (the pod runner asks it). */
const HEALTHZ_IP = '127.0.0.1';
const HEALTHZ_PORT = 9777;

/** The log file of node `n`'s flanneld. */
export function flanneldLog(paths: LabPaths, node: string): string {
  return join(paths.logDir, `flanneld-${node}.log`);
}

/**
 * flanneld's command line for node `n`: kube-subnet-mgr mode when the lab has the Kubernetes API
 * (its kubeconfig and the lab's net-conf.json file), else etcd mode (the lab's etcd and client
 * certificate).
 */
export function flanneldArgv(paths: LabPaths, record: LabRecord, n: LabNodeRecord, binary: string): string[] {
  const tls = record.etcdTls;
  const store = record.api
    ? [
        '--kube-subnet-mgr',
        `--kubeconfig-file=${nodeKubeconfigs(paths.dir, n.name).flanneld}`,
        `--net-config-path=${paths.netConf}`,
      ]
    : [
        `--etcd-endpoints=${(record.etcdEndpoints ?? []).join(',')}`,
        '--etcd-prefix=/coreos.com/network',
        ...(tls
          ? [`--etcd-cafile=${tls.caFile}`, `--etcd-certfile=${tls.certFile}`, `--etcd-keyfile=${tls.keyFile}`]
          : []),
      ];
  return [
    binary,
    ...store,
    '--iface=eth0',
    '--ip-masq',
    `--subnet-file=${subnetEnvPath(paths.runDir(n.name))}`,
    `--healthz-ip=${HEALTHZ_IP}`,
    `--healthz-port=${HEALTHZ_PORT}`,
  ];
}

/** Starts node `n`'s flanneld inside its namespace; returns its PID. */
export function startFlanneld(
  paths: LabPaths,
  record: LabRecord,
  n: LabNodeRecord,
  netns: NamedNetns,
  env: Record<string, string>,
): number {
  const missing = flanneldMissing();
  if (missing) throw new Error(`start flanneld on ${n.name}: ${missing}`);
  if (!record.api && !record.etcdEndpoints?.length)
    throw new Error(
      `start flanneld on ${n.name}: the lab has neither etcd nor the Kubernetes API (flanneld needs one of them)`,
    );
  if (record.api && !existsSync(nodeKubeconfigs(paths.dir, n.name).flanneld))
    throw new Error(
      `start flanneld on ${n.name}: no kubeconfig for it at ${nodeKubeconfigs(paths.dir, n.name).flanneld} (made by lab up for the nodes of --peer flannel)`,
    );
  ensureFlannelConflist(paths, n);
  return spawnDetached({
    netns: netns.path(n.ns),
    argv: flanneldArgv(paths, record, n, flanneldPath()),
    logFile: flanneldLog(paths, n.name),
    // kube-subnet-mgr mode finds its Node by NODE_NAME (a DaemonSet sets it from spec.nodeName).
    env: record.api ? { ...env, NODE_NAME: n.name } : env,
    context: `start flanneld on ${n.name}`,
  });
}

/**
 * Writes the node's CNI config (weft's `weft` plugin over flanneld's subnet.env, the conflist weft's
 * agent writes) once flanneld wrote subnet.env; true when it is there. Idempotent: called on every
 * look of the lab's supervisor and while `lab up` waits for the nodes.
 */
export function ensureFlannelConflist(paths: LabPaths, n: Pick<LabNodeRecord, 'name'>): boolean {
  const runDir = paths.runDir(n.name);
  const confDir = paths.cniConfDir(n.name);
  const file = join(confDir, CONFLIST_FILE);
  if (existsSync(file)) return true;
  if (!existsSync(subnetEnvPath(runDir))) return false;
  const conflist = renderConflist({
    runDir,
    cniConfDir: confDir,
    pluginPrefix: 'weft-',
    ipamDataDir: paths.ipamDir(n.name),
    networkName: 'weft',
  });
  mkdirSync(confDir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(conflist, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, file);
  return true;
}

/**
 * What flanneld leaves in a node's kernel that weft's agent cannot take over: its VXLAN device
 * (same VNI and port as weft's). Deleting it also takes its routes and neighbours with it; weft's
 * agent puts its own back within a sync.
 */
export async function removeFlannelLeftovers(exec: Exec, record: LabRecord, n: LabNodeRecord): Promise<string[]> {
  const conf = parseNetConf(labNetConf(record.spec));
  if (conf.backend.type !== 'vxlan') return [];
  const dev = `flannel.${conf.backend.vni}`;
  const r = await exec.tryRun({
    argv: ['ip', '-n', n.ns, 'link', 'del', dev],
    context: `delete flanneld's VXLAN device ${dev} on ${n.name}`,
  });
  return r.exitCode === 0 ? [dev] : [];
}

/**
 * Stores the lab's net-conf.json at <prefix>/config in etcd (where flanneld reads it, and where
 * weft's agents put it when it is missing), unless a config is stored already: flanneld does not
 * write it, so a lab whose first daemons are flanneld must. Run from node `n`'s namespace (the
 * lab's etcd is reached from the nodes, not from the host); retried until etcd answers.
 */
export async function storeLabNetConf(
  exec: Exec,
  paths: LabPaths,
  record: LabRecord,
  n: LabNodeRecord,
  netns: NamedNetns,
  weft: readonly string[],
  timeoutMs = 20_000,
): Promise<'stored' | 'present'> {
  const tls = record.etcdTls;
  const store = [
    '--store',
    'etcd',
    '--etcd-endpoints',
    (record.etcdEndpoints ?? []).join(','),
    ...(tls ? ['--etcd-cafile', tls.caFile, '--etcd-certfile', tls.certFile, '--etcd-keyfile', tls.keyFile] : []),
  ];
  const end = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const got = await exec.tryRun({
      argv: [...weft, 'net-conf', 'get', ...store],
      netns: netns.path(n.ns),
      context: `read the stored network config from ${n.name}`,
    });
    if (got.exitCode === 0) return 'present';
    if (/no network config is stored/.test(got.stderr)) {
      await exec.run({
        argv: [...weft, 'net-conf', 'put', '-f', paths.netConf, ...store],
        netns: netns.path(n.ns),
        context: `store the lab's net-conf.json in etcd for flanneld`,
      });
      return 'stored';
    }
    last = got.stderr.trim();
    if (Date.now() > end)
      throw new Error(
        `store the lab's net-conf.json in etcd: etcd did not answer within ${timeoutMs / 1000} s: ${last}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}
