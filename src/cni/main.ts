#!/usr/bin/env node
/**
 * The executable behind every weft CNI plugin: `node main.js <type>`. `weft install-cni` writes a
 * small wrapper per type into the runtime's CNI bin dir that execs this with the type fixed.
 * This file only wires real adapters to the plugin and the dispatcher.
 */

import { fileURLToPath } from 'node:url';
import { NodeExec } from '../adapters/exec.js';
import { FlockLocker } from '../adapters/file-lock.js';
import { NftCommand } from '../adapters/nft.js';
import type { Nft } from '../ports/nft.js';
import type { IpSession } from '../adapters/ip-session.js';
import { DEFAULT_LOCK_DIR } from '../core/names.js';
import { Delegator } from './delegate.js';
import type { PluginDeps } from './deps.js';
import { dispatch, type CniPlugin } from './skel.js';

export const PLUGIN_TYPES = ['bridge', 'host-local', 'loopback', 'portmap', 'weft'] as const;
export type PluginType = (typeof PLUGIN_TYPES)[number];

/**
 * Loads only the plugin that was asked for: every plugin process is short-lived, and module
 * loading is most of its start-up time (see bench/cni-add-del.ts).
 */
export async function createPlugin(type: PluginType, deps: PluginDeps): Promise<CniPlugin> {
  switch (type) {
    case 'bridge':
      return (await import('./plugins/bridge.js')).createBridgePlugin(deps);
    case 'host-local':
      return (await import('./plugins/host-local.js')).createHostLocalPlugin(deps);
    case 'loopback':
      return (await import('./plugins/loopback.js')).createLoopbackPlugin(deps);
    case 'portmap':
      return (await import('./plugins/portmap.js')).createPortmapPlugin(deps);
    case 'weft':
      return (await import('./plugins/weft.js')).createWeftPlugin(deps);
  }
}

/**
 * The bundled entry the wrappers exec (see install.ts): weft wrappers that name it can be run
 * in-process (see Delegator). This file runs either as that bundle or, in the node agent's CNI
 * socket, from dist/src/cni/main.js, two levels below dist/.
 */
const HERE = fileURLToPath(import.meta.url);
export const CNI_BUNDLE = HERE.endsWith('/bundle/cni.mjs')
  ? HERE
  : fileURLToPath(new URL('../../bundle/cni.mjs', import.meta.url));

/** What a long-lived host process (the agent's CNI socket) shares between the calls it runs. */
export interface SharedDeps {
  ipSession?: IpSession;
  /** One long-lived `nft -j -i` (src/adapters/nft-session.ts) for the pod guard's and masquerade's nftables. */
  nft?: Nft;
}

/** Runs a weft plugin type in this process through the same dispatcher its executable uses. */
export async function runInProcess(
  type: string,
  env: Record<string, string>,
  stdin: string,
  shared: SharedDeps = {},
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  if (!(PLUGIN_TYPES as readonly string[]).includes(type))
    return { exitCode: 2, stdout: '', stderr: `usage: main.js <${PLUGIN_TYPES.join('|')}>\n` };
  let stdout = '';
  let stderr = '';
  const exitCode = await dispatch(await createPlugin(type as PluginType, realDeps(env, shared)), {
    env,
    stdin,
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  });
  return { exitCode, stdout, stderr };
}

export function realDeps(env: Record<string, string | undefined>, shared: SharedDeps = {}): PluginDeps {
  const exec = new NodeExec();
  return {
    exec,
    locker: new FlockLocker(),
    nft: shared.nft ?? new NftCommand(exec),
    delegator: new Delegator(exec, { entry: CNI_BUNDLE, run: (t, e, s) => runInProcess(t, e, s, shared) }),
    lockDir: env.WEFT_LOCK_DIR || DEFAULT_LOCK_DIR,
    log: (line) => process.stderr.write(`${line}\n`),
    ...(shared.ipSession ? { ipSession: shared.ipSession } : {}),
  };
}

async function main(): Promise<void> {
  const type = process.argv[2] ?? '';
  if (!(PLUGIN_TYPES as readonly string[]).includes(type)) {
    process.stderr.write(`usage: main.js <${PLUGIN_TYPES.join('|')}>\n`);
    process.exit(2);
  }
  // Read stdin as a stream: readFileSync(0) fails with EAGAIN when the runtime hands over a
  // non-blocking pipe.
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const stdin = Buffer.concat(chunks).toString('utf8');
  const code = await dispatch(await createPlugin(type as PluginType, realDeps(process.env)), {
    env: process.env,
    stdin,
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
  });
  process.exitCode = code;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  await main();
}
