/**
 * Delegation: running another CNI plugin (usually the IPAM plugin named by ipam.type) found on
 * CNI_PATH, with the same environment and config bytes, and reading back its result or error.
 * This is how weft's bridge uses the reference host-local and how the reference bridge uses weft's.
 */

import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CniError, CniErrorCode } from '../core/cni/errors.js';
import { parseResult, type CniResult } from '../core/cni/result.js';
import type { CniEnv } from '../core/cni/env.js';
import type { Exec } from '../ports/exec.js';

/** The first executable file named `type` in the CNI_PATH directories, or undefined when none. */
export function findPlugin(type: string, dirs: readonly string[]): string | undefined {
  if (type.includes('/') || type === '.' || type === '..') return undefined;
  for (const dir of dirs) {
    const candidate = join(dir, type);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory (or not executable): keep looking, as libcni's FindInPath does.
      continue;
    }
  }
  return undefined;
}

export type DelegateCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS';

/**
 * Runs one of weft's own plugin types inside this process, exactly as its executable would run:
 * same env, same stdin bytes; resolves with what the process would have exited with and printed.
 */
export type InProcessPlugin = (
  type: string,
  env: Record<string, string>,
  stdin: string,
) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

/** The header line `weft install-cni` writes into every wrapper, naming the plugin type. */
const WRAPPER_MARKER = /^# weft CNI plugin "([a-z-]+)" \(written by weft install-cni\)$/m;

/**
 * The plugin type of a weft wrapper that runs `entry` (this very code), or undefined for any
 * other file: a reference plugin, or a weft wrapper of another checkout or version.
 */
export function ownWrapperType(path: string, entry: string): string | undefined {
  let head: string;
  try {
    const fd = openSync(path, 'r');
    try {
      // The whole wrapper (about 2 KiB): its exec line, which names the entry, comes last.
      const buf = Buffer.alloc(8192);
      head = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const m = WRAPPER_MARKER.exec(head);
  if (!m || !head.includes(`'${entry}'`)) return undefined;
  return m[1];
}

export class Delegator {
  /**
   * With `inProcess`, a delegate whose file on CNI_PATH is weft's own wrapper for `entry` runs in
   * this process instead of a new one. Why: every plugin process costs ~100 ms of Node start-up
   * and module loading, and a pod's ADD through the `weft` plugin delegates twice (bridge, then
   * host-local). CNI_PATH lookup is unchanged, and the same code runs with the same env and
   * bytes, so results and errors are the same as when exec'd; any other file is exec'd.
   */
  constructor(
    private readonly exec: Exec,
    private readonly inProcess?: { entry: string; run: InProcessPlugin },
  ) {}

  /** Runs the plugin; returns its parsed result for ADD and undefined otherwise. */
  async run(type: string, command: DelegateCommand, env: CniEnv, rawConfig: string): Promise<CniResult | undefined> {
    const path = findPlugin(type, env.path);
    if (!path) {
      throw new CniError(
        CniErrorCode.InvalidNetworkConfig,
        `failed to find plugin "${type}" in path [${env.path.join(' ')}]`,
      );
    }
    const childEnv = { ...env.raw, CNI_COMMAND: command };
    const own = this.inProcess ? ownWrapperType(path, this.inProcess.entry) : undefined;
    const r =
      own !== undefined && this.inProcess
        ? await this.inProcess.run(own, childEnv, rawConfig)
        : await this.exec.tryRun({
            argv: [path],
            input: rawConfig,
            env: childEnv,
            context: `delegate ${command} to ${type}`,
          });
    if (r.exitCode !== 0) throw errorFromOutput(type, command, r.stdout, r.stderr, r.exitCode);
    if (command !== 'ADD') return undefined;
    let value: unknown;
    try {
      value = JSON.parse(r.stdout);
    } catch (err) {
      throw new CniError(
        CniErrorCode.DecodingFailure,
        `${type} ${command}: cannot decode its result: ${(err as Error).message}`,
      );
    }
    return parseResult(value, `${type} result`);
  }
}

function errorFromOutput(type: string, command: string, stdout: string, stderr: string, exitCode: number): CniError {
  try {
    const e = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.code === 'number' && typeof e.msg === 'string') {
      return new CniError(e.code, `${type} ${command}: ${e.msg}`, typeof e.details === 'string' ? e.details : '');
    }
  } catch {
    // Not error JSON: fall through and report what the plugin printed.
  }
  const text = (stdout.trim() || stderr.trim()).slice(0, 500);
  return new CniError(
    CniErrorCode.DelegateFailure,
    `${type} ${command}: exit code ${exitCode}${text ? `: ${text}` : ''}`,
  );
}
