/**
 * The files the agent hands to the CNI side: subnet.env (Flannel's format) in the run dir, and a
 * conflist for the `weft` plugin in the CNI config dir. Both are replaced atomically (write to a
 * temp file, then rename), so a plugin never reads half a file.
 */

import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSubnetEnv, type SubnetEnv } from '../core/cni/subnet-env.js';
import { WEFT_CNI_TYPE } from '../core/names.js';

export const CONFLIST_FILE = '10-weft.conflist';

export interface CniFilesOptions {
  runDir: string;
  cniConfDir: string;
  /** File name prefix the plugins were installed with ("weft-" beside the reference plugins). */
  pluginPrefix: string;
  /** host-local's data dir for this node. */
  ipamDataDir: string;
  /** Network name in the conflist (and host-local's directory name). */
  networkName: string;
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
}

/** The agent's CNI socket (src/cni/server.ts); /run/weft/cni.sock with the default run dir. */
export function cniSocketPath(runDir: string): string {
  return join(runDir, 'cni.sock');
}

export function subnetEnvPath(runDir: string): string {
  return join(runDir, 'subnet.env');
}

/**
 * The conflist for pods on this node: the weft plugin, which delegates to bridge + host-local and
 * runs portmap itself when the runtime passes hostPort mappings (see src/cni/plugins/weft.ts):
 * one plugin process per pod instead of two, where Flannel's conflist chains portmap after it.
 */
export function renderConflist(o: CniFilesOptions): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: o.networkName,
    plugins: [
      {
        type: WEFT_CNI_TYPE,
        capabilities: { portMappings: true },
        subnetFile: subnetEnvPath(o.runDir),
        dataDir: join(o.runDir, 'cni'),
        delegate: {
          type: `${o.pluginPrefix}bridge`,
          bridge: 'cni0',
          hairpinMode: true,
          isDefaultGateway: true,
          ipam: { type: `${o.pluginPrefix}host-local`, dataDir: o.ipamDataDir },
        },
        portmap: { type: `${o.pluginPrefix}portmap`, snat: true },
      },
    ],
  };
}

export function writeCniFiles(o: CniFilesOptions, env: SubnetEnv): { subnetEnv: string; conflist: string } {
  mkdirSync(o.runDir, { recursive: true, mode: 0o755 });
  mkdirSync(o.cniConfDir, { recursive: true, mode: 0o755 });
  const subnetEnv = subnetEnvPath(o.runDir);
  const conflist = join(o.cniConfDir, CONFLIST_FILE);
  writeAtomic(subnetEnv, renderSubnetEnv(env));
  writeAtomic(conflist, JSON.stringify(renderConflist(o), null, 2) + '\n');
  return { subnetEnv, conflist };
}

/** Removes both files (cleanup); missing files are fine. */
export function removeCniFiles(o: Pick<CniFilesOptions, 'runDir' | 'cniConfDir'>): void {
  rmSync(subnetEnvPath(o.runDir), { force: true });
  rmSync(cniSocketPath(o.runDir), { force: true });
  rmSync(join(o.cniConfDir, CONFLIST_FILE), { force: true });
  rmSync(join(o.runDir, 'cni'), { recursive: true, force: true });
}
