/**
 * The real Kubernetes control plane for tests (src/lab/kube-control-plane.ts). Its binaries are
 * built once per machine by scripts/build-kube.sh; where they are not built a test says so and is
 * skipped, except in CI (CI=true), which builds them first: there a missing binary is a failure,
 * never a silent skip.
 */

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
