/**
 * A real Kubernetes control plane for the lab (`weft lab up --api kube`) and for the tests that need
 * an API server: Debian's etcd, and kube-apiserver and kube-controller-manager built from the
 * pinned k8s.io/kubernetes release by scripts/build-kube.sh into a cache outside the repository.
 *
 * They run in the host's namespace on loopback ports picked free (so several labs and tests can
 * each have one), as a kubeadm control plane would on its own machine; the lab's nodes reach the
 * API server through the lab's store gateway on the underlay (src/lab/store-gateway.ts), and
 * `kubectl` on the host uses 127.0.0.1 directly. Certificates (src/lab/lab-pki.ts): one CA; the API
 * server's serving certificate for 127.0.0.1, the underlay gateway, the Service network's first
 * address and the `kubernetes.default` names; client certificates for the admin (system:masters)
 * and the controller manager. The service-account signing key is an ECDSA key made with openssl too.
 *
 * kube-controller-manager runs with --allocate-node-cidrs, so Node spec.podCIDR, ClusterIPs (the
 * API server's own allocator) and EndpointSlices come from Kubernetes itself.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Exec } from '../ports/exec.js';
import { spawnDetached } from '../adapters/exec.js';
import { signalProcess } from '../adapters/proc.js';
import { processCommandLine } from '../adapters/daemon.js';
import { singleEtcdArgs } from './etcd-args.js';
import { makeCa, makeLeaf, type LabCa } from './lab-pki.js';
import { addToIp, formatIp, networkOf, parseCidr } from '../core/net/ip.js';

/** The release scripts/build-kube.sh builds (keep the two in step). */
export const KUBE_VERSION = '1.34.4';

/** Where scripts/build-kube.sh puts the binaries. */
export function kubeBinDir(): string {
  return join(process.env.WEFT_KUBE_CACHE ?? `/var/cache/weft/kube/v${KUBE_VERSION}`, 'bin');
}

export interface KubeBinaries {
  apiserver: string;
  controllerManager: string;
  kubectl: string;
}

/** The built binaries, or undefined when they are not all there. */
export function findKubeBinaries(): KubeBinaries | undefined {
  const dir = kubeBinDir();
  const b = {
    apiserver: join(dir, 'kube-apiserver'),
    controllerManager: join(dir, 'kube-controller-manager'),
    kubectl: join(dir, 'kubectl'),
  };
  return Object.values(b).every((p) => existsSync(p)) ? b : undefined;
}

/** The built binaries, or an error that says how to build them. */
export function kubeBinaries(): KubeBinaries {
  const b = findKubeBinaries();
  if (!b)
    throw new Error(
      `Kubernetes v${KUBE_VERSION} is not built in ${kubeBinDir()}: run scripts/build-kube.sh once (it builds kube-apiserver, kube-controller-manager and kubectl from the Go module proxy)`,
    );
  return b;
}

/** A port on 127.0.0.1 that was free a moment ago. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface KubeControlPlaneSpec {
  exec: Exec;
  /** Certificates, kubeconfigs, etcd data (created). */
  dir: string;
  logDir: string;
  /** Names the CA and certificates ("weft lab NAME"). */
  name: string;
  serviceCidr: string;
  /** The pod network the controller manager splits into node CIDRs. */
  clusterCidr: string;
  nodeCidrMaskSize: number;
  /** Other addresses clients use for the API server (the lab's underlay gateway). */
  serverIps?: readonly string[];
  /** Start kube-controller-manager too (default true). */
  controllerManager?: boolean;
  /**
   * The environment of etcd, the API server and the controller manager (default: this process's).
   * A lab passes its member mark here, so `weft lab down` finds them without the lab's record.
   */
  env?: Record<string, string>;
}

/** What a started control plane is: kept in the lab's record, enough to stop or restart it. */
export interface KubeControlPlaneRecord {
  dir: string;
  logDir: string;
  /** https://127.0.0.1:PORT */
  url: string;
  apiPort: number;
  etcdPort: number;
  etcdPeerPort: number;
  controllerManagerPort?: number;
  caFile: string;
  /** A kubeconfig for cluster-admin (system:masters), server = url. */
  adminKubeconfig: string;
  pids: { etcd: number; apiserver: number; controllerManager?: number };
  /** The API server's argv, to start it again (tests restart it under watches). */
  apiserverArgv: string[];
  /** The spec's environment, for the API server when it is started again. */
  env?: Record<string, string>;
  serviceAccountKey: string;
}

function etcdArgv(dir: string, port: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${port}`;
  return [
    '/usr/bin/etcd',
    ...singleEtcdArgs({
      name: 'kube',
      dataDir: join(dir, 'etcd'),
      listenClientUrls: client,
      advertiseClientUrl: client,
      peerUrl: `http://127.0.0.1:${peerPort}`,
    }),
  ];
}

export interface KubeconfigCredentials {
  server: string;
  caFile: string;
  /** A client certificate, or a bearer token (a ServiceAccount's). */
  certFile?: string;
  keyFile?: string;
  token?: string;
  user: string;
}

/** A kubeconfig as kubectl and client libraries read it (YAML is a superset of JSON). */
export function kubeconfigText(c: KubeconfigCredentials): string {
  const user: Record<string, string> = {};
  if (c.certFile) user['client-certificate'] = c.certFile;
  if (c.keyFile) user['client-key'] = c.keyFile;
  if (c.token) user.token = c.token;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'weft', cluster: { server: c.server, 'certificate-authority': c.caFile } }],
    users: [{ name: c.user, user }],
    contexts: [{ name: 'weft', context: { cluster: 'weft', user: c.user } }],
    'current-context': 'weft',
  };
  return JSON.stringify(config, null, 2) + '\n';
}

export function writeKubeconfig(path: string, c: KubeconfigCredentials): void {
  writeFileSync(path, kubeconfigText(c), { mode: 0o600 });
}

/** GET url with the given client certificate; resolves with status and body. */
export function kubeGet(
  url: string,
  tls: { caFile: string; certFile: string; keyFile: string },
  timeoutMs = 2000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: readFileSync(tls.caFile),
        cert: readFileSync(tls.certFile),
        key: readFileSync(tls.keyFile),
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

const alive = (pid: number) => processCommandLine(pid) !== undefined;

async function waitFor(what: string, pid: number, log: string, timeoutMs: number, ok: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive(pid)) throw new Error(`${what} exited during start-up; the end of ${log}:\n${logTail(log)}`);
    if (await ok().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new Error(`${what} not ready within ${timeoutMs} ms; the end of ${log}:\n${logTail(log)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Files {
  ca: LabCa;
  serving: { cert: string; key: string };
  admin: { cert: string; key: string };
  controllerManager: { cert: string; key: string };
  saKey: string;
  saPub: string;
}

async function makeFiles(spec: KubeControlPlaneSpec): Promise<Files> {
  const pki = join(spec.dir, 'pki');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  const ca = await makeCa(spec.exec, pki, 'ca', `weft ${spec.name} Kubernetes CA`);
  const serviceIp = firstServiceAddress(spec.serviceCidr);
  const f: Files = {
    ca,
    serving: { cert: join(pki, 'apiserver.pem'), key: join(pki, 'apiserver-key.pem') },
    admin: { cert: join(pki, 'admin.pem'), key: join(pki, 'admin-key.pem') },
    controllerManager: { cert: join(pki, 'controller-manager.pem'), key: join(pki, 'controller-manager-key.pem') },
    saKey: join(pki, 'sa-key.pem'),
    saPub: join(pki, 'sa.pem'),
  };
  await makeLeaf(spec.exec, ca, {
    ...f.serving,
    cn: 'kube-apiserver',
    usage: 'serverAuth',
    ips: ['127.0.0.1', serviceIp, ...(spec.serverIps ?? [])],
    dns: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
  });
  await makeLeaf(spec.exec, ca, { ...f.admin, cn: 'weft-admin', orgs: ['system:masters'], usage: 'clientAuth' });
  await makeLeaf(spec.exec, ca, { ...f.controllerManager, cn: 'system:kube-controller-manager', usage: 'clientAuth' });
  await spec.exec.run({
    argv: ['openssl', 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f.saKey],
    context: 'make the service-account signing key',
  });
  await spec.exec.run({
    argv: ['openssl', 'ec', '-in', f.saKey, '-pubout', '-out', f.saPub],
    context: 'derive the service-account public key',
  });
  return f;
}

/** The first address of a CIDR (the `kubernetes` Service's ClusterIP). */
export function firstServiceAddress(cidr: string): string {
  const ip = addToIp(networkOf(parseCidr(cidr)).address, 1n);
  if (!ip) throw new Error(`service CIDR "${cidr}": has no first address`);
  return formatIp(ip);
}

/**
 * Starts etcd, kube-apiserver and (unless told not to) kube-controller-manager, and resolves once the
 * API server answers /readyz. On a failure everything it started is stopped again.
 */
export async function startKubeControlPlane(spec: KubeControlPlaneSpec): Promise<KubeControlPlaneRecord> {
  const bin = kubeBinaries();
  mkdirSync(spec.logDir, { recursive: true });
  const f = await makeFiles(spec);
  const [etcdPort, etcdPeerPort, apiPort, cmPort] = [
    await freeLoopbackPort(),
    await freeLoopbackPort(),
    await freeLoopbackPort(),
    await freeLoopbackPort(),
  ] as [number, number, number, number];
  const url = `https://127.0.0.1:${apiPort}`;
  const adminKubeconfig = join(spec.dir, 'admin.kubeconfig');
  writeKubeconfig(adminKubeconfig, {
    server: url,
    caFile: f.ca.cert,
    certFile: f.admin.cert,
    keyFile: f.admin.key,
    user: 'weft-admin',
  });
  const cmKubeconfig = join(spec.dir, 'controller-manager.kubeconfig');
  writeKubeconfig(cmKubeconfig, {
    server: url,
    caFile: f.ca.cert,
    certFile: f.controllerManager.cert,
    keyFile: f.controllerManager.key,
    user: 'system:kube-controller-manager',
  });
  const apiserverArgv = [
    bin.apiserver,
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    `--advertise-address=${spec.serverIps?.[0] ?? '127.0.0.1'}`,
    `--secure-port=${apiPort}`,
    `--service-cluster-ip-range=${spec.serviceCidr}`,
    `--tls-cert-file=${f.serving.cert}`,
    `--tls-private-key-file=${f.serving.key}`,
    `--client-ca-file=${f.ca.cert}`,
    `--service-account-key-file=${f.saPub}`,
    `--service-account-signing-key-file=${f.saKey}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    '--allow-privileged=true',
    '--profiling=false',
  ];
  const rec: KubeControlPlaneRecord = {
    dir: spec.dir,
    logDir: spec.logDir,
    url,
    apiPort,
    etcdPort,
    etcdPeerPort,
    caFile: f.ca.cert,
    adminKubeconfig,
    pids: { etcd: 0, apiserver: 0 },
    apiserverArgv,
    serviceAccountKey: f.saKey,
    ...(spec.env ? { env: spec.env } : {}),
  };
  try {
    const etcdLog = join(spec.logDir, 'kube-etcd.log');
    rec.pids.etcd = spawnDetached({
      argv: etcdArgv(spec.dir, etcdPort, etcdPeerPort),
      logFile: etcdLog,
      ...(spec.env ? { env: spec.env } : {}),
      context: 'start the control plane etcd',
    });
    rec.pids.apiserver = startApiServer(rec);
    const adminTls = { caFile: f.ca.cert, certFile: f.admin.cert, keyFile: f.admin.key };
    await waitApiServer(rec, adminTls);
    if (spec.controllerManager !== false) {
      rec.controllerManagerPort = cmPort;
      const cmLog = join(spec.logDir, 'kube-controller-manager.log');
      rec.pids.controllerManager = spawnDetached({
        argv: [
          bin.controllerManager,
          `--kubeconfig=${cmKubeconfig}`,
          `--authentication-kubeconfig=${cmKubeconfig}`,
          `--authorization-kubeconfig=${cmKubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${cmPort}`,
          '--leader-elect=false',
          '--allocate-node-cidrs=true',
          `--cluster-cidr=${spec.clusterCidr}`,
          `--node-cidr-mask-size=${spec.nodeCidrMaskSize}`,
          `--service-cluster-ip-range=${spec.serviceCidr}`,
          `--service-account-private-key-file=${f.saKey}`,
          `--root-ca-file=${f.ca.cert}`,
          '--use-service-account-credentials=true',
          '--profiling=false',
        ],
        logFile: cmLog,
        ...(spec.env ? { env: spec.env } : {}),
        context: 'start kube-controller-manager',
      });
    }
    return rec;
  } catch (err) {
    await stopKubeControlPlane(rec);
    throw err;
  }
}

/** Starts (or starts again) the API server of a control plane; returns its PID. */
export function startApiServer(rec: KubeControlPlaneRecord): number {
  const pid = spawnDetached({
    argv: rec.apiserverArgv,
    logFile: join(rec.logDir, 'kube-apiserver.log'),
    ...(rec.env ? { env: rec.env } : {}),
    context: 'start kube-apiserver',
  });
  rec.pids.apiserver = pid;
  return pid;
}

/** Resolves once the API server answers /readyz with 200 (timeout 60 s). */
export async function waitApiServer(
  rec: KubeControlPlaneRecord,
  adminTls: { caFile: string; certFile: string; keyFile: string },
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(
    'kube-apiserver',
    rec.pids.apiserver,
    join(rec.logDir, 'kube-apiserver.log'),
    timeoutMs,
    async () => (await kubeGet(`${rec.url}/readyz`, adminTls)).status === 200,
  );
}

/** The admin client certificate of a control plane (for kubeGet). */
export function adminTls(rec: KubeControlPlaneRecord): { caFile: string; certFile: string; keyFile: string } {
  return {
    caFile: rec.caFile,
    certFile: join(rec.dir, 'pki', 'admin.pem'),
    keyFile: join(rec.dir, 'pki', 'admin-key.pem'),
  };
}

/**
 * Stops every process of the control plane, each started by us and signalled by its PID: SIGTERM,
 * then SIGKILL for any still there after `graceMs`. Resolves when they are gone.
 */
export async function stopKubeControlPlane(rec: KubeControlPlaneRecord, graceMs = 5_000): Promise<void> {
  const pids = [rec.pids.controllerManager, rec.pids.apiserver, rec.pids.etcd].filter((p): p is number => !!p);
  for (const pid of pids) signalProcess(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids.filter(alive)) signalProcess(pid, 'SIGKILL');
}
