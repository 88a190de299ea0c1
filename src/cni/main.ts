#!/usr/bin/env node
/**
 * The executable behind every weft CNI plugin: `node main.js <type>`. `weft install-cni` writes a
 * small wrapper per type into the runtime's CNI bin dir that execs this with the type fixed.
 * This file only wires real adapters to the plugin and the dispatcher.
 */

import { NodeExec } from '../adapters/exec.js';
import { FlockLocker } from '../adapters/file-lock.js';
import { NftCommand } from '../adapters/nft.js';
import { DEFAULT_LOCK_DIR } from '../core/names.js';
import { Delegator } from './delegate.js';
import type { PluginDeps } from './deps.js';
import { dispatch, type CniPlugin } from './skel.js';
import { createBridgePlugin } from './plugins/bridge.js';
import { createHostLocalPlugin } from './plugins/host-local.js';
import { createLoopbackPlugin } from './plugins/loopback.js';
import { createPortmapPlugin } from './plugins/portmap.js';
import { createWeftPlugin } from './plugins/weft.js';

export const PLUGIN_TYPES = ['bridge', 'host-local', 'loopback', 'portmap', 'weft'] as const;
export type PluginType = (typeof PLUGIN_TYPES)[number];

export function createPlugin(type: PluginType, deps: PluginDeps): CniPlugin {
  switch (type) {
    case 'bridge':
      return createBridgePlugin(deps);
    case 'host-local':
      return createHostLocalPlugin(deps);
    case 'loopback':
      return createLoopbackPlugin(deps);
    case 'portmap':
      return createPortmapPlugin(deps);
    case 'weft':
      return createWeftPlugin(deps);
  }
}

export function realDeps(env: Record<string, string | undefined>): PluginDeps {
  const exec = new NodeExec();
  return {
    exec,
    locker: new FlockLocker(),
    nft: new NftCommand(exec),
    delegator: new Delegator(exec),
    lockDir: env.WEFT_LOCK_DIR || DEFAULT_LOCK_DIR,
    log: (line) => process.stderr.write(`${line}\n`),
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
  const code = await dispatch(createPlugin(type as PluginType, realDeps(process.env)), {
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
