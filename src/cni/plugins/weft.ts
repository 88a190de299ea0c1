/**
 * The `weft` CNI plugin: the node-level plugin a cluster's conflist names, in the role of
 * Flannel's `flannel` plugin. It reads the subnet.env the agent wrote, builds a bridge config
 * with host-local IPAM on the node's subnet, and delegates ADD/DEL/CHECK to it.
 *
 * Config (Flannel's, renamed): `subnetFile` (default /run/weft/subnet.env), `dataDir` (default
 * /var/lib/cni/weft), `delegate` (fields merged into the generated bridge config; `delegate.type`
 * defaults to "bridge", `delegate.ipam` fields are merged into the generated ipam).
 * The generated config is saved per container at ADD and reused at DEL and CHECK, so a pod is
 * torn down with the config it was made with even if subnet.env changed since (as Flannel does).
 *
 * `portmap` (weft's own, not Flannel's): fields of a portmap config (`type` defaults to
 * "portmap") that this plugin runs after the delegate, as the next plugin of a conflist would,
 * with the runtime's `portMappings` (declare the capability on this plugin). Why: the runtime
 * execs every plugin of a chain for every pod, and a chained portmap was one more plugin process
 * per pod, nearly always to pass the result through. ADD calls it only when there are mappings;
 * DEL always does (it cannot know whether the ADD had any). A portmap chained separately in the
 * conflist still works as before.
 *
 * Masquerade: the bridge's ipMasq is on exactly when the agent does not masquerade (subnet.env
 * FLANNEL_IPMASQ), unless `delegate.ipMasq` says otherwise; the whole story (three tables, which
 * is live for which config, and why) is in src/core/nft/masquerade.ts, where it is decided.
 */

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { BASE_CONFIG, parseWith } from '../../core/cni/config.js';
import { CniError, CniErrorCode, toCniError } from '../../core/cni/errors.js';
import { convertResult, type CniResult } from '../../core/cni/result.js';
import { parseSubnetEnv } from '../../core/cni/subnet-env.js';
import { DEFAULT_AGENT_RUN_DIR } from '../../core/names.js';
import { bridgeIpMasq } from '../../core/nft/masquerade.js';
import type { PluginDeps } from '../deps.js';
import type { CniPlugin, PluginCall } from '../skel.js';

const WEFT_CONFIG = BASE_CONFIG.extend({
  subnetFile: z.string().min(1).default(join(DEFAULT_AGENT_RUN_DIR, 'subnet.env')),
  dataDir: z.string().min(1).default('/var/lib/cni/weft'),
  delegate: z.record(z.unknown()).default({}),
  portmap: z.record(z.unknown()).optional(),
});
type WeftConfig = z.infer<typeof WEFT_CONFIG>;

function readSubnetEnv(path: string) {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CniError(
      CniErrorCode.TryAgainLater,
      `read ${path}: ${(err as Error).message}`,
      'is the weft agent running on this node? It writes this file once the node has a subnet',
    );
  }
  return parseSubnetEnv(text, path);
}

/** The bridge config this plugin delegates to, from subnet.env and the `delegate` overrides. */
export function delegateConfig(conf: WeftConfig, subnetFileText: string): Record<string, unknown> {
  const env = parseSubnetEnv(subnetFileText, conf.subnetFile);
  const d = conf.delegate;
  const ipamOverrides = (typeof d.ipam === 'object' && d.ipam !== null ? d.ipam : {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {
    cniVersion: conf.cniVersion,
    name: conf.name,
    type: 'bridge',
    mtu: env.mtu,
    isGateway: true,
    ...d,
    // Which table masquerades is decided in one place: src/core/nft/masquerade.ts.
    ipMasq: bridgeIpMasq(env.ipMasq, d.ipMasq),
    // The agent enforces policy here: new pods wait for it (src/core/cni/subnet-env.ts).
    ...(env.awaitPolicy && d.awaitPolicy === undefined ? { awaitPolicy: true } : {}),
    ipam: { type: 'host-local', ranges: [[{ subnet: env.subnet }]], routes: [{ dst: env.network }], ...ipamOverrides },
  };
  for (const k of ['runtimeConfig', 'args', 'prevResult'] as const) if (conf[k] !== undefined) out[k] = conf[k];
  return out;
}

/** The config of the chained portmap call (see the file comment). */
export function portmapConfig(conf: WeftConfig, prevResult: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {
    cniVersion: conf.cniVersion,
    name: conf.name,
    type: 'portmap',
    ...conf.portmap,
  };
  const mappings = conf.runtimeConfig?.portMappings;
  if (mappings !== undefined) out.runtimeConfig = { portMappings: mappings };
  if (prevResult !== undefined) out.prevResult = prevResult;
  return out;
}

function hasPortMappings(conf: WeftConfig): boolean {
  const m = conf.runtimeConfig?.portMappings;
  return Array.isArray(m) && m.length > 0;
}

function savedPath(conf: WeftConfig, containerId: string, ifname: string): string {
  return join(conf.dataDir, ifname === 'eth0' ? containerId : `${containerId}-${ifname}`);
}

function loadSaved(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CniError(CniErrorCode.IoFailure, `read saved delegate config ${path}: ${(err as Error).message}`);
  }
}

export function createWeftPlugin(deps: PluginDeps): CniPlugin {
  const parse = (call: PluginCall) => parseWith(WEFT_CONFIG, call.config);
  const withPrev = (saved: string, call: PluginCall): string => {
    const obj = JSON.parse(saved) as Record<string, unknown>;
    if (call.config.prevResult !== undefined) obj.prevResult = call.config.prevResult;
    return JSON.stringify(obj);
  };
  return {
    add: async (call): Promise<CniResult> => {
      const conf = parse(call);
      const text = JSON.stringify(delegateConfig(conf, readFileText(conf.subnetFile)));
      const type = String((JSON.parse(text) as { type: unknown }).type);
      const path = savedPath(conf, call.env.containerId, call.env.ifname);
      mkdirSync(conf.dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
      try {
        const result = await deps.delegator.run(type, 'ADD', call.env, text);
        if (!result) throw new CniError(CniErrorCode.DelegateFailure, `${type} ADD returned no result`);
        if (!conf.portmap || !hasPortMappings(conf)) return result;
        try {
          const mapped = await runPortmap(conf, call, 'ADD', convertResult(result, call.version));
          if (!mapped) throw new CniError(CniErrorCode.DelegateFailure, 'portmap ADD returned no result');
          return mapped;
        } catch (err) {
          // Undo the delegate's ADD: the pod must not keep an address without its hostPorts.
          try {
            await deps.delegator.run(type, 'DEL', call.env, withPrev(text, call));
          } catch (undoErr) {
            throw new CniError(
              toCniError(err).code,
              `${(err as Error).message}; rollback (${type} DEL) also failed: ${(undoErr as Error).message}`,
              '',
              { cause: err },
            );
          }
          throw err;
        }
      } catch (err) {
        rmSync(path, { force: true });
        throw err;
      }
    },
    del: async (call) => {
      const conf = parse(call);
      // The chained portmap first (reverse order of ADD); its failure is reported after the
      // delegate's DEL has run, so the pod's address is released either way.
      let portmapError: Error | undefined;
      if (conf.portmap) {
        await runPortmap(conf, call, 'DEL', call.config.prevResult).catch((err: unknown) => {
          portmapError = err as Error;
        });
      }
      await delDelegate(conf, call);
      if (portmapError) throw portmapError;
    },
    check: async (call) => {
      const conf = parse(call);
      const saved = loadSaved(savedPath(conf, call.env.containerId, call.env.ifname));
      if (saved === undefined)
        throw new CniError(
          CniErrorCode.CheckFailed,
          `weft CHECK: no saved config for container ${call.env.containerId}`,
        );
      const type = String((JSON.parse(saved) as { type: unknown }).type);
      await deps.delegator.run(type, 'CHECK', call.env, withPrev(saved, call));
      if (conf.portmap && hasPortMappings(conf)) await runPortmap(conf, call, 'CHECK', call.config.prevResult);
    },
    gc: async (call) => {
      const conf = parse(call);
      await gcDelegate(conf, call);
      if (conf.portmap)
        await runPortmap(conf, call, 'GC', undefined, {
          'cni.dev/valid-attachments': call.config['cni.dev/valid-attachments'] ?? [],
        });
    },
    status: async (call) => {
      const conf = parse(call);
      try {
        readSubnetEnv(conf.subnetFile);
      } catch (err) {
        throw new CniError(CniErrorCode.PluginNotAvailable, `weft: not ready: ${(err as Error).message}`);
      }
    },
  };

  /** Runs the chained portmap (see the file comment); its result for ADD. */
  function runPortmap(
    conf: WeftConfig,
    call: PluginCall,
    command: 'ADD' | 'DEL' | 'CHECK' | 'GC',
    prevResult: unknown,
    extra: Record<string, unknown> = {},
  ): Promise<CniResult | undefined> {
    const pm = { ...portmapConfig(conf, prevResult), ...extra };
    return deps.delegator.run(String(pm.type), command, call.env, JSON.stringify(pm));
  }

  async function delDelegate(conf: WeftConfig, call: PluginCall): Promise<void> {
    const path = savedPath(conf, call.env.containerId, call.env.ifname);
    const saved = loadSaved(path);
    // Without a saved config (ADD never finished, or DEL ran before) fall back to a fresh one,
    // so that whatever the bridge and IPAM still hold is released.
    let text = saved;
    if (text === undefined) {
      try {
        text = JSON.stringify(delegateConfig(conf, readFileSync(conf.subnetFile, 'utf8')));
      } catch (err) {
        deps.log(
          `weft DEL ${call.env.containerId}: no saved config and no usable ${conf.subnetFile} (${(err as Error).message}); nothing to delegate`,
        );
        return;
      }
    }
    const type = String((JSON.parse(text) as { type: unknown }).type);
    await deps.delegator.run(type, 'DEL', call.env, withPrev(text, call));
    rmSync(path, { force: true });
  }

  /**
   * Saved configs of attachments the runtime no longer knows are dropped, and GC is passed on to
   * the bridge (which passes it to IPAM) so their addresses are freed too.
   */
  async function gcDelegate(conf: WeftConfig, call: PluginCall): Promise<void> {
    const valid = new Set(
      ((call.config['cni.dev/valid-attachments'] ?? []) as Array<{ containerID?: string; ifname?: string }>).map((a) =>
        a.ifname === 'eth0' || a.ifname === undefined ? String(a.containerID) : `${a.containerID}-${a.ifname}`,
      ),
    );
    let saved: string[] = [];
    try {
      saved = readdirSync(conf.dataDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const name of saved)
      if (!name.endsWith('.tmp') && !valid.has(name)) rmSync(join(conf.dataDir, name), { force: true });
    const text = JSON.stringify({
      ...delegateConfig(conf, readFileText(conf.subnetFile)),
      'cni.dev/valid-attachments': call.config['cni.dev/valid-attachments'] ?? [],
    });
    const type = String((JSON.parse(text) as { type: unknown }).type);
    await deps.delegator.run(type, 'GC', call.env, text);
  }
}

function readFileText(path: string): string {
  readSubnetEnv(path);
  return readFileSync(path, 'utf8');
}
