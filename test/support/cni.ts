/**
 * Running CNI plugins the way a container runtime does: exec the plugin file with the CNI_*
 * environment and the config on stdin, inside the node's network namespace (via `ip netns exec`,
 * so the plugin makes its bridge, veths and nft tables there and never in the root namespace).
 */

import { mkdirSync, symlinkSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { installCni } from '../../src/cni/install.js';
import { inNs } from './netns.js';

/** Debian's containernetworking-plugins install here. */
export const REFERENCE_CNI_DIR = '/usr/lib/cni';

export interface PluginRun {
  status: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, when it is JSON. */
  json: Record<string, unknown> | undefined;
}

/**
 * Makes a CNI bin dir holding weft's plugins as weft-<type> and the reference plugins as
 * <type> (symlinks), the layout a node with both installed has.
 */
export function makeBinDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  installCni({ binDir: dir, prefix: 'weft-' });
  for (const ref of ['bridge', 'host-local', 'loopback', 'portmap']) {
    const src = join(REFERENCE_CNI_DIR, ref);
    const dst = join(dir, ref);
    if (!existsSync(src))
      throw new Error(`reference plugin ${src} is missing: install Debian's containernetworking-plugins`);
    if (!existsSync(dst)) symlinkSync(src, dst);
  }
  return dir;
}

export interface InvokeOptions {
  /** Node namespace the plugin runs in. */
  nodeNs: string;
  binDir: string;
  /** Plugin file name in binDir, e.g. "weft-bridge" or "bridge". */
  plugin: string;
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';
  config: unknown;
  containerId?: string;
  /** Path of the pod's netns (CNI_NETNS). */
  netns?: string;
  ifname?: string;
  args?: string;
  /** Override or remove (undefined) any CNI_* variable. */
  envOverrides?: Record<string, string | undefined>;
}

export function invoke(o: InvokeOptions): PluginRun {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: o.command,
    CNI_CONTAINERID: o.containerId ?? '',
    CNI_NETNS: o.netns ?? '',
    CNI_IFNAME: o.ifname ?? 'eth0',
    CNI_PATH: o.binDir,
    CNI_ARGS: o.args ?? '',
  };
  for (const [k, v] of Object.entries(o.envOverrides ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  for (const k of Object.keys(env)) if (env[k] === '') delete env[k];
  const input = typeof o.config === 'string' ? o.config : JSON.stringify(o.config);
  const r = inNs(o.nodeNs, [join(o.binDir, o.plugin)], { input, env });
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { ...r, json };
}

/** ADD that must succeed; returns the parsed result. */
export function mustAdd(o: Omit<InvokeOptions, 'command'>): Record<string, unknown> {
  const r = invoke({ ...o, command: 'ADD' });
  if (r.status !== 0 || !r.json) throw new Error(`${o.plugin} ADD failed (${r.status}): ${r.stdout} ${r.stderr}`);
  return r.json;
}
