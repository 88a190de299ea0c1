/**
 * The labs of one benchmark run: a temporary WEFT_LAB_ROOT of their own (so a bench never touches
 * the labs of the machine), `weft` run against it, and the teardown every bench ends with.
 */

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export function benchLabs(bench: string) {
  const root = mkdtempSync(join(tmpdir(), `weft-bench-${bench}-`));
  const env = { ...process.env, WEFT_LAB_ROOT: root };
  /** Runs `weft ARGS` (input on stdin) against the bench's labs; throws with stderr when it fails. */
  const weft = (args: string[], input?: string): string => {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      env,
      input: input ?? '',
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (r.status !== 0) throw new Error(`weft ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  /** `weft` without blocking the event loop (so a bench can watch while it runs); rejects like `weft`. */
  const weftAsync = (args: string[], input?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve(stdout) : reject(new Error(`weft ${args.join(' ')}: exit ${code}: ${stderr}`)),
      );
      child.stdin.end(input ?? '');
    });
  /** Takes `labs` down (whatever state they are in) and removes the root. */
  const teardown = (labs: readonly string[]): void => {
    for (const name of labs) spawnSync(process.execPath, [CLI, 'lab', 'down', '--name', name], { env });
    rmSync(root, { recursive: true, force: true });
  };
  return { root, env, weft, weftAsync, teardown };
}

/**
 * A Namespace and `count` pods p0..p<count-1> in it, each serving 80 on TCP and UDP: one manifest.
 * With `image` (the API server requires one; the lab's runner serves the ports whatever it says).
 */
export function podsManifest(ns: string, count: number, image?: string): string {
  const docs = [`apiVersion: v1\nkind: Namespace\nmetadata: { name: ${ns} }\n`];
  const img = image ? `, image: ${image}` : '';
  for (let i = 0; i < count; i++) {
    docs.push(
      `apiVersion: v1\nkind: Pod\nmetadata: { name: p${i}, namespace: ${ns} }\nspec: { containers: [{ name: s${img}, ports: [{ containerPort: 80 }, { containerPort: 80, protocol: UDP }] }] }\n`,
    );
  }
  return docs.join('---\n');
}
