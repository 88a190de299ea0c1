/**
 * The portmap plugin (a chained plugin, CNI spec 1.1): forwards hostPorts on the node to the
 * pod, with nftables, for configs written for the reference portmap. Scope: what Kubernetes'
 * `hostPort` needs (DNAT from outside, from the node itself incl. 127.0.0.1, hairpin), nothing
 * else. The rule design and the reasons behind it are in src/core/nft/portmap.ts; this file only
 * wires config, prevResult, the lock and the nft port together.
 *
 * Every read-modify-write of the shared table runs under one flock (PORTMAP_LOCK_FILE in the
 * lock dir): the table is listed, the plan is computed from what the kernel holds, and one
 * atomic `nft -f` applies it.
 *
 * - ADD: prevResult is required; no portMappings or no pod address → prevResult passes through
 *   untouched. A hostPort held by another attachment is refused (code 7). The nft change is
 *   atomic; if setting route_localnet fails afterwards, the elements are removed again.
 * - DEL: removes this attachment's elements by their comment; needs neither prevResult nor
 *   portMappings, succeeds when there is nothing (no table); deletes the table with its last
 *   element.
 * - CHECK: the elements ADD would make must be there, owned by this attachment.
 * - GC: removes this network's elements whose attachment is not in cni.dev/valid-attachments.
 * - STATUS: nft must answer.
 */

import { join } from 'node:path';
import { prevResultOf } from '../../core/cni/config.js';
import { CniError, CniErrorCode } from '../../core/cni/errors.js';
import { networkNameOf, parsePortmapConfig, podAddressesOf } from '../../core/cni/plugins/portmap-config.js';
import type { CniResult } from '../../core/cni/result.js';
import { PORTMAP_LOCK_FILE, PORTMAP_TABLE } from '../../core/names.js';
import { formatIp, type IpNet } from '../../core/net/ip.js';
import {
  checkElements,
  desiredElements,
  findConflicts,
  networkPart,
  networkPartOfComment,
  planAdd,
  planRemove,
  portmapComment,
  type PortmapElement,
} from '../../core/nft/portmap.js';
import { parsePortmapListing } from '../../core/nft/portmap-listing.js';
import type { NftTx } from '../../core/nft/tx.js';
import type { PluginDeps } from '../deps.js';
import type { CniPlugin, PluginCall } from '../skel.js';

function kernelError(action: string, err: unknown): CniError {
  if (err instanceof CniError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CniError(CniErrorCode.KernelFailure, `portmap: ${action}: ${message}`, '', { cause: err });
}

export function createPortmapPlugin(deps: PluginDeps): CniPlugin {
  const lockPath = join(deps.lockDir, PORTMAP_LOCK_FILE);

  async function withLock<T>(fn: () => Promise<T>): Promise<T> {
    const lock = await deps.locker.acquire(lockPath);
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** The table's elements, or undefined when the table does not exist. */
  async function listElements(): Promise<PortmapElement[] | undefined> {
    let objects: unknown[] | undefined;
    try {
      objects = await deps.nft.listTable('inet', PORTMAP_TABLE);
    } catch (err) {
      throw kernelError(`list table inet ${PORTMAP_TABLE}`, err);
    }
    return objects === undefined ? undefined : parsePortmapListing(objects);
  }

  async function apply(tx: NftTx, action: string): Promise<void> {
    if (tx.empty) return;
    try {
      await deps.nft.apply(tx, `portmap: ${action}`);
    } catch (err) {
      throw kernelError(action, err);
    }
  }

  /**
   * The localhost case (see src/core/nft/portmap.ts): route_localnet=1 on the device that routes
   * to the pod's IPv4 address, so that 127.0.0.1-sourced packets DNATed in output may leave
   * through it. Found with `ip route get`, as the reference's getRoutableHostIF does.
   */
  async function enableLocalnetRouting(pod: IpNet): Promise<void> {
    const ip = formatIp(pod.address);
    const r = await deps.exec.run({
      argv: ['ip', '-j', 'route', 'get', ip],
      context: `portmap: find the device routing to ${ip}`,
    });
    const routes = JSON.parse(r.stdout) as Array<{ dev?: unknown }>;
    const dev = routes[0]?.dev;
    if (typeof dev !== 'string' || dev === '' || dev === 'lo') return;
    // The slash form keeps a dotted device name (eth0.100) from being read as more levels.
    await deps.exec.run({
      argv: ['sysctl', '-q', '-w', `net/ipv4/conf/${dev}/route_localnet=1`],
      context: `portmap: set net.ipv4.conf.${dev}.route_localnet=1 for 127.0.0.1 → ${ip}`,
    });
  }

  /**
   * Stale UDP conntrack entries for a hostPort (made before the mapping existed) would keep
   * steering packets away from the pod, as the reference notes; drop them. Informative only:
   * failure (or a node without the conntrack tool) is logged, never fatal.
   */
  async function flushUdpConntrack(elements: readonly PortmapElement[]): Promise<void> {
    const seen = new Set<string>();
    for (const e of elements) {
      if (e.kind !== 'dnat' || e.protocol !== 'udp') continue;
      const key = `${e.family}/${e.hostPort}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const argv = [
        'conntrack',
        '-D',
        '-f',
        e.family === 4 ? 'ipv4' : 'ipv6',
        '-p',
        'udp',
        '--dport',
        String(e.hostPort),
      ];
      try {
        const r = await deps.exec.tryRun({ argv });
        // Exit 1 with "0 flow entries" just means there was nothing to delete.
        if (r.exitCode !== 0 && !/0 flow entries/.test(r.stderr))
          deps.log(`portmap: ${argv.join(' ')}: exit ${r.exitCode}: ${r.stderr.trim()}`);
      } catch (err) {
        deps.log(`portmap: ${argv.join(' ')}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  function plan(call: PluginCall): {
    prev: CniResult;
    desired: PortmapElement[];
    podAddresses: IpNet[];
    snat: boolean;
  } {
    const config = parsePortmapConfig(call.config);
    for (const note of config.notes) deps.log(`portmap: ${note}`);
    const prev = prevResultOf(call.config as { prevResult?: unknown });
    if (!prev)
      throw new CniError(
        CniErrorCode.InvalidNetworkConfig,
        `portmap ${call.env.command}: prevResult is required (portmap must be chained after a plugin that gives the pod its addresses)`,
      );
    const podAddresses = podAddressesOf(prev, call.env.ifname);
    const comment = portmapComment(config.network, call.env.containerId, call.env.ifname);
    const desired = desiredElements({
      mappings: config.mappings,
      podAddresses,
      snat: config.snat,
      masqAll: config.masqAll,
      comment,
    });
    return { prev, desired, podAddresses, snat: config.snat };
  }

  const add = async (call: PluginCall): Promise<CniResult> => {
    const { prev, desired, podAddresses, snat } = plan(call);
    if (desired.length === 0) return prev;
    await withLock(async () => {
      const existing = (await listElements()) ?? [];
      const conflicts = findConflicts(existing, desired);
      if (conflicts.length > 0)
        throw new CniError(CniErrorCode.InvalidNetworkConfig, `portmap ADD: ${conflicts.join('; ')}`);
      await apply(planAdd(existing, desired), `add hostPort mappings for ${call.env.containerId}/${call.env.ifname}`);
      const pod4 = podAddresses.find((p) => p.address.family === 4);
      if (!snat || !pod4 || !desired.some((d) => d.kind === 'dnat' && d.family === 4)) return;
      try {
        await enableLocalnetRouting(pod4);
      } catch (err) {
        // ADD fails as a whole: take our elements out again (and the table if it is now empty).
        const comment = desired[0]?.comment ?? '';
        const after = (await listElements()) ?? [];
        await apply(
          planRemove(after, (e) => e.comment === comment),
          'roll back hostPort mappings',
        );
        throw kernelError('enable route_localnet', err);
      }
    });
    await flushUdpConntrack(desired);
    return prev;
  };

  const del = async (call: PluginCall): Promise<void> => {
    const comment = portmapComment(networkNameOf(call.config), call.env.containerId, call.env.ifname);
    await withLock(async () => {
      const existing = await listElements();
      if (existing === undefined) return;
      await apply(
        planRemove(existing, (e) => e.comment === comment),
        `remove hostPort mappings of ${call.env.containerId}/${call.env.ifname}`,
      );
    });
  };

  const check = async (call: PluginCall): Promise<void> => {
    const { desired } = plan(call);
    if (desired.length === 0) return;
    const existing = (await withLock(listElements)) ?? [];
    const problems = checkElements(existing, desired);
    if (problems.length > 0)
      throw new CniError(
        CniErrorCode.CheckFailed,
        `portmap CHECK ${call.env.containerId}/${call.env.ifname}: ${problems.join('; ')}`,
      );
  };

  const gc = async (call: PluginCall): Promise<void> => {
    const network = networkNameOf(call.config);
    const raw = call.config['cni.dev/valid-attachments'];
    if (raw === undefined || raw === null) {
      // Without the list every element would look stale; removing them all on a malformed call
      // is worse than leaving them for the next well-formed GC.
      deps.log('portmap GC: no cni.dev/valid-attachments in the config; nothing removed');
      return;
    }
    if (!Array.isArray(raw))
      throw new CniError(
        CniErrorCode.InvalidNetworkConfig,
        'invalid network config: cni.dev/valid-attachments: must be a list',
      );
    const valid = new Set<string>();
    raw.forEach((a: unknown, i) => {
      const o = a as { containerID?: unknown; ifname?: unknown } | null;
      if (!o || typeof o.containerID !== 'string' || typeof o.ifname !== 'string') {
        throw new CniError(
          CniErrorCode.InvalidNetworkConfig,
          `invalid network config: cni.dev/valid-attachments[${i}]: must have string containerID and ifname`,
        );
      }
      valid.add(portmapComment(network, o.containerID, o.ifname));
    });
    const ours = networkPart(network);
    await withLock(async () => {
      const existing = await listElements();
      if (existing === undefined) return;
      await apply(
        planRemove(existing, (e) => networkPartOfComment(e.comment) === ours && !valid.has(e.comment)),
        `GC hostPort mappings of network "${network}"`,
      );
    });
  };

  const status = async (): Promise<void> => {
    try {
      await deps.nft.listTable('inet', PORTMAP_TABLE);
    } catch (err) {
      throw new CniError(
        CniErrorCode.PluginNotAvailable,
        `portmap STATUS: nftables is not usable: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  };

  return { add, del, check, gc, status };
}
