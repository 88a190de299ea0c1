/**
 * The host-local IPAM plugin: hands out addresses from configured ranges, one per range set,
 * remembering them in files under <dataDir>/<network name>/ in the reference plugin's layout.
 * Scope: what the reference host-local does (and what a Kubernetes node needs), with the same
 * config; it can run alone or be delegated to by bridge, and it shares its data directory and
 * lock with the reference plugin, so the two can be mixed on one node.
 *
 * This file only wires: parsing and allocation are in src/core/ipam/, the files in
 * src/adapters/ipam-disk-store.ts.
 *
 * - ADD: validates everything before touching disk, then under the network's flock gives one
 *   address per range set (idempotent; a failed ADD leaves no reservation of its own behind).
 * - DEL: frees every address of (container id, ifname); succeeds when there are none. It needs
 *   only name and dataDir from the config, so a pod is torn down even after its ranges changed.
 * - CHECK: the attachment still holds an address in every range set (and those of prevResult).
 * - GC: frees reservations of attachments not in cni.dev/valid-attachments (required).
 * - STATUS: fails with code 50 when any range set has no free address, because ADD needs one from
 *   every set; reading the directory failing is also code 50. It takes no lock and writes nothing.
 */

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { prevResultOf } from '../../core/cni/config.js';
import { CniError, CniErrorCode } from '../../core/cni/errors.js';
import type { CniDns, CniResult } from '../../core/cni/result.js';
import { allocate, checkAttachment, collectGarbage, freeCounts, type Attachment } from '../../core/ipam/allocator.js';
import {
  parseHostLocalConfig,
  parseHostLocalTarget,
  parseValidAttachments,
  type HostLocalTarget,
} from '../../core/ipam/host-local-config.js';
import { buildIpamResult, parseResolvConf } from '../../core/ipam/ipam-result.js';
import { formatRangeSet } from '../../core/ipam/range.js';
import { tryParseCidr, type IpAddress } from '../../core/net/ip.js';
import { DiskIpamStore, LOCK_FILE, networkDir } from '../../adapters/ipam-disk-store.js';
import type { IpamStore } from '../../ports/ipam-store.js';
import type { PluginDeps } from '../deps.js';
import type { CniPlugin, PluginCall } from '../skel.js';

function io(action: string, err: unknown): CniError {
  if (err instanceof CniError) return err;
  return new CniError(CniErrorCode.IoFailure, `${action}: ${err instanceof Error ? err.message : String(err)}`, '', {
    cause: err,
  });
}

async function dirExists(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw io(`stat ${dir}`, err);
  }
}

/**
 * Runs `f` on the network's store while holding `<dir>/lock`. With `create` false and no
 * directory yet, there is nothing to look at: returns undefined without creating anything.
 */
async function withNetwork<T>(
  deps: PluginDeps,
  target: HostLocalTarget,
  create: boolean,
  f: (store: IpamStore) => Promise<T>,
): Promise<T | undefined> {
  const dir = networkDir(target.dataDir, target.name);
  if (!create && !(await dirExists(dir))) return undefined;
  const lockPath = join(dir, LOCK_FILE);
  let lock;
  try {
    lock = await deps.locker.acquire(lockPath);
  } catch (err) {
    throw io(`lock ${lockPath}`, err);
  }
  try {
    return await f(new DiskIpamStore(dir));
  } finally {
    await lock.release();
  }
}

function attachmentOf(call: PluginCall): Attachment {
  return { containerId: call.env.containerId, ifname: call.env.ifname };
}

async function readDns(path: string): Promise<CniDns> {
  try {
    return parseResolvConf(await readFile(path, 'utf8'));
  } catch (err) {
    throw io(`read ipam.resolvConf ${path}`, err);
  }
}

/** Addresses of the prevResult, for CHECK. */
function prevAddresses(call: PluginCall): IpAddress[] {
  return (prevResultOf(call.config)?.ips ?? []).flatMap((ip) => {
    const net = tryParseCidr(ip.address);
    return net ? [net.address] : [];
  });
}

export function createHostLocalPlugin(deps: PluginDeps): CniPlugin {
  return {
    add: async (call): Promise<CniResult> => {
      const cfg = parseHostLocalConfig(call.config, call.env.args);
      // Read before reserving anything, as the reference does: a bad path changes nothing.
      const dns = cfg.resolvConf ? await readDns(cfg.resolvConf) : undefined;
      const att = attachmentOf(call);
      const allocations = await withNetwork(deps, cfg, true, (store) => allocate(store, cfg.sets, att, cfg.requested));
      if (!allocations)
        throw new CniError(CniErrorCode.IoFailure, `host-local: network directory for "${cfg.name}" vanished`);
      return buildIpamResult(call.version, allocations, cfg.routes, dns);
    },

    del: async (call) => {
      const target = parseHostLocalTarget(call.config);
      const { containerId, ifname } = attachmentOf(call);
      await withNetwork(deps, target, false, async (store) => {
        try {
          return await store.releaseById(containerId, ifname);
        } catch (err) {
          throw io(`release addresses of ${containerId}/${ifname}`, err);
        }
      });
    },

    check: async (call) => {
      const cfg = parseHostLocalConfig(call.config, call.env.args);
      const att = attachmentOf(call);
      const done = await withNetwork(deps, cfg, false, async (store) => {
        await checkAttachment(store, cfg.sets, att, prevAddresses(call));
        return true;
      });
      if (!done)
        throw new CniError(
          CniErrorCode.CheckFailed,
          `host-local: no reservations at all for network "${cfg.name}" (${att.containerId}/${att.ifname} holds nothing)`,
        );
    },

    gc: async (call) => {
      const target = parseHostLocalTarget(call.config);
      const valid = parseValidAttachments(call.config);
      const freed = await withNetwork(deps, target, false, (store) => collectGarbage(store, valid));
      if (freed && freed.length > 0) deps.log(`host-local GC ${target.name}: freed ${freed.join(', ')}`);
    },

    status: async (call) => {
      const cfg = parseHostLocalConfig(call.config, call.env.args);
      const dir = networkDir(cfg.dataDir, cfg.name);
      let counts: bigint[];
      try {
        counts = freeCounts(cfg.sets, await new DiskIpamStore(dir).list());
      } catch (err) {
        throw new CniError(
          CniErrorCode.PluginNotAvailable,
          `host-local: cannot read ${dir}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      const full = counts.findIndex((n) => n <= 0n);
      if (full >= 0) {
        throw new CniError(
          CniErrorCode.PluginNotAvailable,
          `host-local: no IP addresses available in range set ${full} (${formatRangeSet(cfg.sets[full]!)})`,
        );
      }
    },
  };
}
