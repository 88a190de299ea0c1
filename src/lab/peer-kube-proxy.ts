/**
 * The real kube-proxy on every lab node (`weft lab up --api kube --services kube-proxy`, issue 18):
 * Services programmed by Kubernetes' own proxy in its nftables mode instead of weft's Services
 * layer, on the same pods, so that weft's Services acceptance suite can be run against both and
 * every difference in behaviour found. weft's agents then run with --no-services (no Services
 * table, no health check node ports: src/agent/main.ts), and keep the pod network and policy.
 *
 * What each node runs, and why:
 * - kube-proxy v1.34 (built by scripts/build-kube.sh beside the control plane, same module and
 *   release) inside the node's namespace, as the kube-proxy ServiceAccount of
 *   deploy/peers/kube-proxy.yaml (system:node-proxier, kubeadm's binding), through the lab's
 *   relay to the API server, as a DaemonSet pod on the host network would.
 * - --hostname-override=NODE (its Node, as the downward API gives it), --bind-address=the node's
 *   underlay address (its primary IP: NodePorts answer there), --cluster-cidr=the lab's network
 *   (traffic from outside it to a Service is masqueraded).
 * - The conntrack flags are 0 (leave as is): kube-proxy would otherwise write nf_conntrack_max,
 *   which is the host's (not per namespace) and the lab never changes the host; and
 *   --oom-score-adj=0, so a lab's process is not made the host's last OOM victim.
 * - /healthz on 0.0.0.0:10256 and metrics on 127.0.0.1:10249 in the node's namespace (kube-proxy's
 *   defaults, private to the node's namespace).
 */

import { isExecutable } from '../adapters/proc.js';
import { join } from 'node:path';
import type { NamedNetns } from '../adapters/netns.js';
import { spawnDetached } from '../adapters/exec.js';
import { kubeBinDir, KUBE_VERSION } from './kube-control-plane.js';
import { nodeKubeconfigs } from './lab-kube.js';
import type { LabNodeRecord, LabPaths, LabRecord } from './lab-state.js';

/** Where scripts/build-kube.sh puts kube-proxy. */
export function kubeProxyPath(): string {
  return join(kubeBinDir(), 'kube-proxy');
}

/** Why kube-proxy cannot be run here (not built), or undefined when it can. */
export function kubeProxyMissing(): string | undefined {
  return isExecutable(kubeProxyPath())
    ? undefined
    : `kube-proxy v${KUBE_VERSION} is not built (no executable ${kubeProxyPath()}; run scripts/build-kube.sh, which builds only what is missing)`;
}

/** The log file of node `n`'s kube-proxy. */
export function kubeProxyLog(paths: LabPaths, node: string): string {
  return join(paths.logDir, `kube-proxy-${node}.log`);
}

/** kube-proxy's command line for node `n` (nftables mode, its ServiceAccount's kubeconfig). */
export function kubeProxyArgv(paths: LabPaths, record: LabRecord, n: LabNodeRecord, binary: string): string[] {
  return [
    binary,
    `--kubeconfig=${nodeKubeconfigs(paths.dir, n.name).kubeProxy}`,
    '--proxy-mode=nftables',
    `--hostname-override=${n.name}`,
    `--bind-address=${n.ip}`,
    `--cluster-cidr=${record.spec.network}`,
    '--healthz-bind-address=0.0.0.0:10256',
    '--metrics-bind-address=127.0.0.1:10249',
    '--conntrack-max-per-core=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
    '--oom-score-adj=0',
  ];
}

/** Starts node `n`'s kube-proxy inside its namespace; returns its PID. */
export function startKubeProxy(
  paths: LabPaths,
  record: LabRecord,
  n: LabNodeRecord,
  netns: NamedNetns,
  env: Record<string, string>,
): number {
  const missing = kubeProxyMissing();
  if (missing) throw new Error(`start kube-proxy on ${n.name}: ${missing}`);
  if (!record.api) throw new Error(`start kube-proxy on ${n.name}: the lab has no Kubernetes API (--api kube)`);
  return spawnDetached({
    netns: netns.path(n.ns),
    argv: kubeProxyArgv(paths, record, n, kubeProxyPath()),
    logFile: kubeProxyLog(paths, n.name),
    env,
    context: `start kube-proxy on ${n.name}`,
  });
}
