/**
 * A small container-runtime side of CNI (what libcni does for containerd or CRI-O): runs a
 * network configuration list against one attachment, ADD in order with each result passed as
 * the next plugin's prevResult, DEL in reverse order, CHECK with the cached result.
 *
 * weft uses it for `weft demo` and the lab's pod runner, and the tests use it to drive chains
 * that mix weft's and the reference plugins exactly as a runtime would.
 */

import { CniError, CniErrorCode } from '../core/cni/errors.js';
import { convertResult, parseResult, type CniResult } from '../core/cni/result.js';
import { isSupportedVersion } from '../core/cni/version.js';
import type { Exec } from '../ports/exec.js';
import { findPlugin } from './delegate.js';

export interface ConfList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: Array<Record<string, unknown> & { type: string }>;
}

export interface Attachment {
  containerId: string;
  /** Path of the pod's network namespace. */
  netns: string;
  ifname: string;
  /** CNI_ARGS pairs. */
  args?: Array<[string, string]>;
  /** runtimeConfig values offered to plugins that declare the matching capability. */
  capabilityArgs?: Record<string, unknown>;
}

export interface RuntimeOptions {
  exec: Exec;
  /** CNI bin dirs searched for plugins (CNI_PATH). */
  binDirs: string[];
  /** Argv prefix that puts the plugin in the node's namespace, e.g. ['ip', 'netns', 'exec', 'node1']. */
  wrap?: string[];
  /** Base environment for the plugins (PATH at least). */
  env?: Record<string, string>;
}

export class CniRuntime {
  constructor(private readonly opts: RuntimeOptions) {}

  /** The config one plugin of the list gets: its own fields plus name, cniVersion, prevResult, runtimeConfig. */
  pluginConfig(
    list: ConfList,
    index: number,
    att: Attachment,
    prevResult: CniResult | undefined,
  ): Record<string, unknown> {
    const plugin = list.plugins[index];
    if (!plugin) throw new Error(`conflist ${list.name}: no plugin at index ${index}`);
    const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
    const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
    const runtimeConfig: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(att.capabilityArgs ?? {})) if (caps[k]) runtimeConfig[k] = v;
    if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
    // prevResult travels in the list's own version, as libcni converts it.
    if (prevResult && isSupportedVersion(list.cniVersion)) conf.prevResult = convertResult(prevResult, list.cniVersion);
    return conf;
  }

  private async invoke(type: string, command: string, att: Attachment, conf: Record<string, unknown>): Promise<string> {
    const path = findPlugin(type, this.opts.binDirs);
    if (!path)
      throw new CniError(
        CniErrorCode.InvalidNetworkConfig,
        `failed to find plugin "${type}" in path [${this.opts.binDirs.join(' ')}]`,
      );
    const env: Record<string, string> = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      ...this.opts.env,
      CNI_COMMAND: command,
      CNI_CONTAINERID: att.containerId,
      CNI_NETNS: att.netns,
      CNI_IFNAME: att.ifname,
      CNI_PATH: this.opts.binDirs.join(':'),
    };
    if (att.args && att.args.length > 0) env.CNI_ARGS = att.args.map(([k, v]) => `${k}=${v}`).join(';');
    const r = await this.opts.exec.tryRun({
      argv: [...(this.opts.wrap ?? []), path],
      input: JSON.stringify(conf),
      env,
      context: `${type} ${command}`,
    });
    if (r.exitCode !== 0) {
      let msg = r.stdout.trim() || r.stderr.trim();
      let code: number = CniErrorCode.DelegateFailure;
      try {
        const e = JSON.parse(r.stdout) as { code?: number; msg?: string; details?: string };
        if (typeof e.code === 'number') code = e.code;
        if (typeof e.msg === 'string') msg = e.msg + (e.details ? ` (${e.details})` : '');
      } catch {
        // Not error JSON: keep the raw text in the message.
      }
      throw new CniError(code, `plugin type="${type}" failed (${command.toLowerCase()}): ${msg}`);
    }
    return r.stdout;
  }

  /** ADD through the whole list; on failure DELs what was added (libcni leaves that to the caller; weft does it here). */
  async add(list: ConfList, att: Attachment): Promise<CniResult> {
    let prev: CniResult | undefined;
    for (let i = 0; i < list.plugins.length; i++) {
      const plugin = list.plugins[i]!;
      try {
        const out = await this.invoke(plugin.type, 'ADD', att, this.pluginConfig(list, i, att, prev));
        prev = parseResult(JSON.parse(out), `${plugin.type} result`);
      } catch (err) {
        // Undo the plugins that already ran; a cleanup failure is reported with the cause.
        try {
          await this.del(list, att, prev);
        } catch (cleanupErr) {
          throw new Error(`${(err as Error).message}; rollback also failed: ${(cleanupErr as Error).message}`, {
            cause: err,
          });
        }
        throw err;
      }
    }
    if (!prev) throw new Error(`conflist ${list.name}: no plugins`);
    return prev;
  }

  /** DEL through the list in reverse order; every plugin runs even if one fails; errors are combined. */
  async del(list: ConfList, att: Attachment, cached?: CniResult): Promise<void> {
    const errors: string[] = [];
    for (let i = list.plugins.length - 1; i >= 0; i--) {
      const plugin = list.plugins[i]!;
      try {
        await this.invoke(plugin.type, 'DEL', att, this.pluginConfig(list, i, att, cached));
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (errors.length > 0) throw new Error(`DEL ${att.containerId}: ${errors.join('; ')}`);
  }

  async check(list: ConfList, att: Attachment, cached: CniResult): Promise<void> {
    for (let i = 0; i < list.plugins.length; i++) {
      const plugin = list.plugins[i]!;
      await this.invoke(plugin.type, 'CHECK', att, this.pluginConfig(list, i, att, cached));
    }
  }
}
