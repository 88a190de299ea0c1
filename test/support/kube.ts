/**
 * The real Kubernetes control plane for tests (src/lab/kube-control-plane.ts), started in a
 * temporary directory and stopped by its PIDs. Its binaries are built once per machine by
 * scripts/build-kube.sh; where they are not built a test says so and is skipped, except in CI
 * (CI=true), which builds them first: there a missing binary is a failure, never a silent skip.
 */

import type { TestContext } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeExec } from '../../src/adapters/exec.js';
import {
  findKubeBinaries,
  kubeBinDir,
  startKubeControlPlane,
  stopKubeControlPlane,
  type KubeControlPlaneRecord,
} from '../../src/lab/kube-control-plane.js';
import { KubeApiError, KubeClient, loadKubeconfig, NODE_RESOURCE, resourceOf } from '../../src/adapters/kube-api.js';
import { waitFor } from './cluster.js';

/** Why Kubernetes tests cannot run here, or undefined when they can. Throws in CI. */
export function kubeMissing(): string | undefined {
  if (findKubeBinaries()) return undefined;
  const why = `Kubernetes binaries are not built in ${kubeBinDir()} (run scripts/build-kube.sh)`;
  if (process.env.CI) throw new Error(`${why}: .ci/run builds them, so in CI this is a failure`);
  return why;
}

/** A control plane in a temp directory; stop() ends its processes (by PID) and removes the directory. */
export class TestControlPlane {
  readonly dir = mkdtempSync(join(tmpdir(), 'weft-kube-'));
  rec: KubeControlPlaneRecord | undefined;

  async start(opts: { controllerManager?: boolean } = {}): Promise<KubeControlPlaneRecord> {
    this.rec = await startKubeControlPlane({
      exec: new NodeExec(),
      dir: this.dir,
      logDir: join(this.dir, 'logs'),
      name: 'test',
      serviceCidr: '10.96.0.0/16',
      clusterCidr: '10.244.0.0/16',
      nodeCidrMaskSize: 24,
      ...opts,
    });
    return this.rec;
  }

  async stop(): Promise<void> {
    if (this.rec) await stopKubeControlPlane(this.rec);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface KubeEnv {
  rec: KubeControlPlaneRecord;
  admin: KubeClient;
  dir: string;
}

export const SERVICE_ACCOUNT = {
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  plural: 'serviceaccounts',
  namespaced: true,
};

/** Runs `body` against a fresh control plane; skips (saying why) when Kubernetes is not built, fails in CI. */
export async function withKube(
  t: TestContext,
  body: (k: KubeEnv) => Promise<void>,
  o: { controllerManager?: boolean } = {},
): Promise<void> {
  const missing = kubeMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const cp = new TestControlPlane();
  try {
    const rec = await cp.start(o);
    const admin = new KubeClient(await loadKubeconfig(rec.adminKubeconfig));
    try {
      await body({ rec, admin, dir: cp.dir });
    } finally {
      admin.close();
    }
  } finally {
    await cp.stop();
  }
}
/** Creates a namespace and waits for its default ServiceAccount (pods are refused without it). */
export async function createNamespace(c: KubeClient, name: string, labels: Record<string, string> = {}): Promise<void> {
  await c.create(resourceOf('Namespace'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  await waitFor(`the default ServiceAccount of ${name}`, async () =>
    (await c.find(SERVICE_ACCOUNT, 'default', name)) ? true : undefined,
  );
}

export function podManifest(ns: string, name: string, labels: Record<string, string> = {}, node = 'n1') {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: { nodeName: node, containers: [{ name: 's', image: 'weft/none', ports: [{ containerPort: 80 }] }] },
  };
}

/** Creates or replaces a Node with the given podCIDR (undefined: none) and annotations. */
export async function putNode(
  c: KubeClient,
  name: string,
  o: { podCIDR?: string; annotations?: Record<string, string>; internalIP?: string } = {},
): Promise<void> {
  const body = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, annotations: o.annotations ?? {} },
    spec: o.podCIDR ? { podCIDR: o.podCIDR, podCIDRs: [o.podCIDR] } : {},
  };
  try {
    await c.create(NODE_RESOURCE, body);
  } catch (err) {
    if (!(err instanceof KubeApiError) || err.code !== 409) throw err;
    await c.patch(NODE_RESOURCE, name, body, { type: 'merge' });
  }
  if (o.internalIP)
    await c.patch(
      NODE_RESOURCE,
      name,
      { status: { addresses: [{ type: 'InternalIP', address: o.internalIP }] } },
      { type: 'merge', subresource: 'status' },
    );
}
