/**
 * Test fixtures for kernel tests: network namespaces with a unique "weft-" prefix, removed in
 * `cleanup()` (and leftovers of the same prefix removed on start), plus helpers to run commands
 * inside them. Tests never touch the root namespace's interfaces, routes or nftables.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NETNS_DIR = '/var/run/netns';

/** Fails loudly (never skips) when the machine cannot run kernel tests. */
export function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('kernel tests need root (they create network namespaces); run them as root, as .ci/run does');
  }
}

export interface CmdResult {
  stdout: string;
  stderr: string;
  status: number;
}

/** Runs argv (no shell); never throws on a non-zero exit. */
export function sh(
  argv: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): CmdResult {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd!, args, {
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
  });
  // EPIPE only means the child exited before reading all of its stdin: its status and output
  // still tell what happened, so they are returned rather than lost in a throw.
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'EPIPE') throw r.error;
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status ?? -1 };
}

/** Runs argv and throws with stderr when it fails. */
export function must(argv: string[], input?: string): string {
  const r = sh(argv, input === undefined ? {} : { input });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs argv inside the named namespace (ip netns exec also gives it its own /sys). */
export function inNs(
  ns: string,
  argv: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): CmdResult {
  return sh(['ip', 'netns', 'exec', ns, ...argv], opts);
}

export function mustInNs(ns: string, argv: string[]): string {
  const r = inNs(ns, argv);
  if (r.status !== 0) throw new Error(`[${ns}] ${argv.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** `ip -j ...` inside a namespace, parsed. */
export function ipJson<T = Array<Record<string, unknown>>>(ns: string, args: string[]): T {
  const out = mustInNs(ns, ['ip', '-j', ...args]).trim();
  return (out === '' ? [] : JSON.parse(out)) as T;
}

/** `nft -j list ruleset` inside a namespace: the flat list of objects. */
export function nftObjects(ns: string): Array<Record<string, Record<string, unknown>>> {
  const out = mustInNs(ns, ['nft', '-j', 'list', 'ruleset']).trim();
  if (out === '') return [];
  const parsed = JSON.parse(out) as { nftables: Array<Record<string, Record<string, unknown>>> };
  return parsed.nftables.filter((o) => !('metainfo' in o));
}

export class Netns {
  readonly names: string[] = [];
  readonly tmpDirs: string[] = [];

  /** `prefix` must be unique to the test file, e.g. "weft-br-". Leftovers with it are removed now. */
  constructor(readonly prefix: string) {
    requireRoot();
    if (!prefix.startsWith('weft-')) throw new Error(`namespace prefix "${prefix}" must start with "weft-"`);
    Netns.removeAll(prefix);
  }

  static removeAll(prefix: string): void {
    let entries: string[] = [];
    try {
      entries = readdirSync(NETNS_DIR);
    } catch {
      return;
    }
    for (const name of entries) if (name.startsWith(prefix)) sh(['ip', 'netns', 'del', name]);
  }

  /** Creates a namespace `<prefix><suffix>` with lo up; returns its name. */
  add(suffix: string): string {
    const name = `${this.prefix}${suffix}`;
    must(['ip', 'netns', 'add', name]);
    this.names.push(name);
    must(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  path(name: string): string {
    return join(NETNS_DIR, name);
  }

  tmpDir(label: string): string {
    const d = mkdtempSync(join(tmpdir(), `weft-test-${label}-`));
    this.tmpDirs.push(d);
    return d;
  }

  cleanup(): void {
    for (const name of this.names.reverse()) sh(['ip', 'netns', 'del', name]);
    this.names.length = 0;
    for (const d of this.tmpDirs) rmSync(d, { recursive: true, force: true });
    this.tmpDirs.length = 0;
  }
}

export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR);
  } catch {
    return [];
  }
}

export { execFileSync };
