/**
 * `weft lab up --api kube`: the lab's real Kubernetes API (issue 17). The control plane
 * (./kube-control-plane.ts: etcd, kube-apiserver, kube-controller-manager built from the pinned
 * release) runs on the host's loopback; the nodes reach it at the underlay gateway's port 6443
 * through the lab's store gateway (a TCP relay, ./store-gateway.ts), as nodes reach a control-plane
 * machine on their LAN. What a cluster install does next is done here too:
 * - deploy/weft.yaml's ServiceAccount, ClusterRole and binding are created, and each node's agent
 *   gets a kubeconfig with that ServiceAccount's token (it runs as `weft`, not as admin);
 * - each node gets a client certificate as kubelets have (CN system:node:NAME, O system:nodes),
 *   so the Node authorizer and NodeRestriction admission limit it to its own Node and pods;
 * - the admin's kubeconfig (system:masters) is the user's: `weft lab status` prints its export;
 * - with `--peer flannel=NODES`, deploy/peers/flanneld.yaml's identity is created too, and each of
 *   those nodes gets a kubeconfig with the flannel ServiceAccount's token for its flanneld
 *   (kube-subnet-mgr mode, ./peer-flannel.ts), as a cluster that installed Flannel has it; with
 *   `--services kube-proxy`, deploy/peers/kube-proxy.yaml's, and every node a kubeconfig for its
 *   kube-proxy (./peer-kube-proxy.ts), as kubeadm sets it up.
 * Kubernetes itself allocates node CIDRs, ClusterIPs and EndpointSlices (the controller manager
 * runs with --allocate-node-cidrs).
 */

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { Exec } from '../ports/exec.js';
import { spawnDetached } from '../adapters/exec.js';
import { signalProcess } from '../adapters/proc.js';
import { KubeApiError, KubeClient, loadKubeconfig, type KubeResource } from '../adapters/kube-api.js';
import { UNDERLAY_GATEWAY, serviceCidrOf, type LabSpec } from '../core/lab/lab-spec.js';
import { makeLeaf } from './lab-pki.js';
import {
  findKubeBinaries,
  kubeBinDir,
  startKubeControlPlane,
  stopKubeControlPlane,
  writeKubeconfig,
  type KubeControlPlaneRecord,
} from './kube-control-plane.js';

/** The API server's port on the underlay gateway (the nodes' side of the relay). */
export const LAB_API_PORT = 6443;

const DEPLOY_FILE = fileURLToPath(new URL('../../../deploy/weft.yaml', import.meta.url));
/** The cluster DNS's deployment (its ServiceAccount and role: the lab's `weft dns` pods run as it). */
const DNS_DEPLOY_FILE = fileURLToPath(new URL('../../../deploy/weft-dns.yaml', import.meta.url));
const INGRESS_DEPLOY_FILE = fileURLToPath(new URL('../../../deploy/weft-ingress.yaml', import.meta.url));
/** The peers' identities (deploy/peers/): their file and ServiceAccount. */
const PEER_IDENTITIES = {
  flanneld: {
    file: fileURLToPath(new URL('../../../deploy/peers/flanneld.yaml', import.meta.url)),
    namespace: 'kube-flannel',
    name: 'flannel',
  },
  kubeProxy: {
    file: fileURLToPath(new URL('../../../deploy/peers/kube-proxy.yaml', import.meta.url)),
    namespace: 'kube-system',
    name: 'kube-proxy',
  },
} as const;
type PeerIdentity = keyof typeof PEER_IDENTITIES;
const BUILD_SCRIPT = fileURLToPath(new URL('../../../scripts/build-kube.sh', import.meta.url));

/** What lab.json keeps of the lab's API: the control plane, the relay, and the files handed out. */
export interface LabApiRecord {
  controlPlane: KubeControlPlaneRecord;
  gatewayPid: number;
  /** The URL the nodes use (through the relay). */
  nodeUrl: string;
  /** The user's kubeconfig (cluster-admin, https://127.0.0.1:PORT). */
  adminKubeconfig: string;
  /**
   * The cluster DNS pods' kubeconfig: the token of deploy/weft-dns.yaml's ServiceAccount and the
   * nodes' URL (a lab pod has no ServiceAccount volume, so it is handed this file instead).
   */
  dnsKubeconfig?: string;
  /** The ingress pods' kubeconfig (deploy/weft-ingress.yaml's ServiceAccount), with --ingress-replicas. */
  ingressKubeconfig?: string;
}

export interface LabApiDeps {
  exec: Exec;
  say: (line: string) => void;
  /** Root of the labs (WEFT_LAB_ROOT), for the relay process. */
  root: string;
  cliPath: string;
  env: Record<string, string>;
}

/** The directory of the lab's Kubernetes files. */
export function labKubeDir(labDir: string): string {
  return join(labDir, 'kube');
}

/**
 * A node's kubelet kubeconfig (its client certificate), its agent's (the weft ServiceAccount's
 * token), and the peers' where the node runs them: flanneld's (the flannel ServiceAccount's token)
 * and kube-proxy's (the kube-proxy ServiceAccount's).
 */
export function nodeKubeconfigs(
  labDir: string,
  node: string,
): { kubelet: string; agent: string } & Record<PeerIdentity, string> {
  const dir = join(labKubeDir(labDir), 'nodes', node);
  return {
    kubelet: join(dir, 'kubelet.kubeconfig'),
    agent: join(dir, 'agent.kubeconfig'),
    flanneld: join(dir, 'flanneld.kubeconfig'),
    kubeProxy: join(dir, 'kube-proxy.kubeconfig'),
  };
}

/** Builds the Kubernetes binaries when they are missing (once per machine), saying so. */
async function ensureBinaries(deps: LabApiDeps): Promise<void> {
  if (findKubeBinaries()) return;
  deps.say(
    `api: Kubernetes is not built in ${kubeBinDir()} yet: building it now (scripts/build-kube.sh, once per machine, several minutes)`,
  );
  await deps.exec.run({
    argv: ['bash', BUILD_SCRIPT],
    timeoutMs: 3_600_000,
    context: 'build Kubernetes (scripts/build-kube.sh)',
  });
  if (!findKubeBinaries()) throw new Error(`scripts/build-kube.sh finished but ${kubeBinDir()} lacks a binary`);
}

/**
 * The API resource of the identity kinds of deploy/weft.yaml (the agent's) and
 * deploy/peers/flanneld.yaml (flanneld's): Namespace, ServiceAccount, ClusterRole and binding;
 * undefined for their other documents.
 */
export function rbacResourceOf(kind: string): KubeResource | undefined {
  switch (kind) {
    case 'Namespace':
      return { apiVersion: 'v1', kind, plural: 'namespaces', namespaced: false };
    case 'ServiceAccount':
      return { apiVersion: 'v1', kind, plural: 'serviceaccounts', namespaced: true };
    case 'ClusterRole':
      return { apiVersion: 'rbac.authorization.k8s.io/v1', kind, plural: 'clusterroles', namespaced: false };
    case 'ClusterRoleBinding':
      return { apiVersion: 'rbac.authorization.k8s.io/v1', kind, plural: 'clusterrolebindings', namespaced: false };
    default:
      return undefined;
  }
}

/** Creates the identity documents of `file` (a daemon's ServiceAccount and rights), as a cluster install does; those that exist are kept. */
async function createIdentity(client: KubeClient, file: string): Promise<void> {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map(
    (d) =>
      d.toJS() as {
        kind: string;
        metadata: { name: string; namespace?: string };
      },
  );
  for (const doc of docs) {
    const r = rbacResourceOf(doc.kind);
    if (!r) continue;
    try {
      await client.create(r, doc, doc.metadata.namespace);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.code === 409)) throw err;
    }
  }
}

/**
 * Waits (up to 90 s) for the controller manager to make the `default` ServiceAccounts of
 * kube-system and default: until then the API server's ServiceAccount admission refuses every pod
 * there (the cluster DNS pods, a user's first `kubectl apply`), as a fresh kubeadm cluster does
 * for its first moments. Usually a few seconds; on a 2-core machine under a full load it was
 * measured above 30 s, hence the long bound.
 */
async function waitForDefaultServiceAccounts(client: KubeClient): Promise<void> {
  const resource = rbacResourceOf('ServiceAccount')!;
  const deadline = Date.now() + 90_000;
  for (const namespace of ['kube-system', 'default'])
    while (!(await client.find(resource, 'default', namespace))) {
      if (Date.now() > deadline)
        throw new Error(
          `the controller manager did not make ServiceAccount ${namespace}/default within 90 s (see its log in the lab's logs)`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
}

/** A token of a ServiceAccount (TokenRequest, a day long): what the agents (weft), the DNS pods (weft-dns) and the peers authenticate with. */
async function serviceAccountToken(client: KubeClient, namespace: string, name: string): Promise<string> {
  const r = await client.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 86_400 } },
  );
  return r.status.token;
}

/**
 * Writes node `node`'s credentials: its kubelet's client certificate (system:node:NAME, group
 * system:nodes) and kubeconfig, its agent's kubeconfig (the weft ServiceAccount's token), and a
 * kubeconfig for each peer it runs (that peer's ServiceAccount token).
 */
async function writeNodeCredentials(
  exec: Exec,
  controlPlane: KubeControlPlaneRecord,
  labDir: string,
  nodeUrl: string,
  node: string,
  tokens: { agent: string; peers: ReadonlyMap<PeerIdentity, string> },
): Promise<void> {
  const files = nodeKubeconfigs(labDir, node);
  const nodeDir = join(labKubeDir(labDir), 'nodes', node);
  mkdirSync(nodeDir, { recursive: true, mode: 0o700 });
  const cert = join(nodeDir, 'kubelet.pem');
  const key = join(nodeDir, 'kubelet-key.pem');
  const ca = { cert: controlPlane.caFile, key: join(labKubeDir(labDir), 'pki', 'ca-key.pem') };
  await makeLeaf(exec, ca, { cert, key, cn: `system:node:${node}`, orgs: ['system:nodes'], usage: 'clientAuth' });
  writeKubeconfig(files.kubelet, {
    server: nodeUrl,
    caFile: controlPlane.caFile,
    certFile: cert,
    keyFile: key,
    user: `system:node:${node}`,
  });
  writeKubeconfig(files.agent, { server: nodeUrl, caFile: controlPlane.caFile, token: tokens.agent, user: 'weft' });
  for (const [peer, token] of tokens.peers)
    writeKubeconfig(files[peer], {
      server: nodeUrl,
      caFile: controlPlane.caFile,
      token,
      user: PEER_IDENTITIES[peer].name,
    });
}

/**
 * A node joining a running `--api kube` lab (`weft lab add-node`): its credentials, as lab up
 * writes them for the first nodes; `kubeProxy` when the lab's Services are kube-proxy's. Its
 * kubelet (the pod runner) then registers the Node, and the controller manager gives it a podCIDR.
 */
export async function labApiAddNode(
  exec: Exec,
  api: LabApiRecord,
  labDir: string,
  node: string,
  opts: { kubeProxy: boolean },
): Promise<void> {
  const client = new KubeClient(await loadKubeconfig(api.adminKubeconfig));
  try {
    const peers = new Map<PeerIdentity, string>();
    if (opts.kubeProxy) {
      const id = PEER_IDENTITIES.kubeProxy;
      peers.set('kubeProxy', await serviceAccountToken(client, id.namespace, id.name));
    }
    const agent = await serviceAccountToken(client, 'kube-system', 'weft');
    await writeNodeCredentials(exec, api.controlPlane, labDir, api.nodeUrl, node, { agent, peers });
  } finally {
    client.close();
  }
}

/**
 * Starts the lab's API (control plane, relay, identities) and returns what lab.json keeps. On a
 * failure everything it started is stopped again.
 */
export async function labApiUp(
  deps: LabApiDeps,
  spec: LabSpec,
  labDir: string,
  logDir: string,
  nodes: readonly string[],
  peerNodes: Partial<Record<PeerIdentity, readonly string[]>> = {},
): Promise<LabApiRecord> {
  await ensureBinaries(deps);
  const dir = labKubeDir(labDir);
  const controlPlane = await startKubeControlPlane({
    exec: deps.exec,
    dir,
    logDir,
    name: `lab ${spec.name}`,
    serviceCidr: serviceCidrOf(spec),
    clusterCidr: spec.network,
    nodeCidrMaskSize: 24,
    serverIps: [UNDERLAY_GATEWAY],
    env: deps.env,
  });
  let gatewayPid: number | undefined;
  try {
    gatewayPid = spawnDetached({
      argv: [
        process.execPath,
        deps.cliPath,
        'lab',
        'gateway',
        '--lab',
        spec.name,
        '--port',
        String(LAB_API_PORT),
        '--target',
        controlPlane.url,
      ],
      logFile: join(logDir, `gateway-${LAB_API_PORT}.log`),
      env: deps.env,
      context: 'start the relay to the API server',
    });
    const nodeUrl = `https://${UNDERLAY_GATEWAY}:${LAB_API_PORT}`;
    const client = new KubeClient(await loadKubeconfig(controlPlane.adminKubeconfig));
    const dnsKubeconfig = join(dir, 'dns.kubeconfig');
    const ingressKubeconfig = (spec.ingress?.replicas ?? 0) > 0 ? join(dir, 'ingress.kubeconfig') : undefined;
    try {
      await waitForDefaultServiceAccounts(client);
      await createIdentity(client, DEPLOY_FILE);
      await createIdentity(client, DNS_DEPLOY_FILE);
      const token = await serviceAccountToken(client, 'kube-system', 'weft');
      writeKubeconfig(dnsKubeconfig, {
        server: nodeUrl,
        caFile: controlPlane.caFile,
        token: await serviceAccountToken(client, 'kube-system', 'weft-dns'),
        user: 'weft-dns',
      });
      if (ingressKubeconfig) {
        await createIdentity(client, INGRESS_DEPLOY_FILE);
        writeKubeconfig(ingressKubeconfig, {
          server: nodeUrl,
          caFile: controlPlane.caFile,
          token: await serviceAccountToken(client, 'kube-system', 'weft-ingress'),
          user: 'weft-ingress',
        });
      }
      const peerTokens = new Map<PeerIdentity, string>();
      for (const [peer, on] of Object.entries(peerNodes) as Array<[PeerIdentity, readonly string[]]>) {
        if (on.length === 0) continue;
        const id = PEER_IDENTITIES[peer];
        await createIdentity(client, id.file);
        peerTokens.set(peer, await serviceAccountToken(client, id.namespace, id.name));
      }
      for (const node of nodes)
        await writeNodeCredentials(deps.exec, controlPlane, labDir, nodeUrl, node, {
          agent: token,
          peers: new Map([...peerTokens].filter(([peer]) => peerNodes[peer]?.includes(node))),
        });
    } finally {
      client.close();
    }
    deps.say(
      `api: kube-apiserver ${controlPlane.url} (nodes: ${nodeUrl}); export KUBECONFIG=${controlPlane.adminKubeconfig}`,
    );
    return {
      controlPlane,
      gatewayPid,
      nodeUrl,
      adminKubeconfig: controlPlane.adminKubeconfig,
      dnsKubeconfig,
      ...(ingressKubeconfig ? { ingressKubeconfig } : {}),
    };
  } catch (err) {
    await stopKubeControlPlane(controlPlane);
    if (gatewayPid !== undefined) signalProcess(gatewayPid, 'SIGTERM');
    throw err;
  }
}

/** The PIDs of the lab's API processes (for `weft lab down`). */
export function labApiPids(api: LabApiRecord | undefined): number[] {
  if (!api) return [];
  const p = api.controlPlane.pids;
  return [p.controllerManager, p.apiserver, p.etcd, api.gatewayPid].filter((x): x is number => !!x);
}
