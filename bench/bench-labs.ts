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
  /** `weft ARGS` without blocking the event loop (for a bench that watches something meanwhile). */
  const weftAsync = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('close', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`weft ${args.join(' ')}: exit ${code}: ${err}`)),
      );
    });
  /** Takes `labs` down (whatever state they are in) and removes the root. */
  const teardown = (labs: readonly string[]): void => {
    for (const name of labs) spawnSync(process.execPath, [CLI, 'lab', 'down', '--name', name], { env });
    rmSync(root, { recursive: true, force: true });
  };
  return { root, env, weft, weftAsync, teardown };
}
