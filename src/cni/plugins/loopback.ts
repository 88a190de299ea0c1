/**
 * The loopback plugin: brings `lo` up inside the pod's network namespace, as the reference
 * loopback plugin does. Scope: only that; it takes no IPAM and reports lo's addresses.
 *
 * ADD returns lo as the one interface (with the sandbox path) and its addresses (127.0.0.1/8 and
 * ::1/128 when IPv6 is on), so that runtimes that read the loopback result see what the
 * reference plugin reports. DEL sets lo down and succeeds when the namespace is gone.
 */

import { CniError, CniErrorCode } from '../../core/cni/errors.js';
import type { CniIpConfig, CniResult } from '../../core/cni/result.js';
import type { Exec } from '../../ports/exec.js';
import type { PluginDeps } from '../deps.js';
import { netnsExists, requireNetns } from '../netns.js';
import type { CniPlugin, PluginCall } from '../skel.js';

interface IpAddrJson {
  ifname?: string;
  flags?: string[];
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

async function showLo(exec: Exec, netns: string): Promise<IpAddrJson> {
  const r = await exec.run({ argv: ['ip', '-j', 'addr', 'show', 'dev', 'lo'], netns, context: `read lo in ${netns}` });
  const list = JSON.parse(r.stdout) as IpAddrJson[];
  const lo = list[0];
  if (!lo) throw new CniError(CniErrorCode.KernelFailure, `read lo in ${netns}: no such interface`);
  return lo;
}

function ipsOf(lo: IpAddrJson): CniIpConfig[] {
  return (lo.addr_info ?? [])
    .filter((a) => a.local && a.prefixlen !== undefined)
    .map((a) => ({ address: `${a.local}/${a.prefixlen}`, interface: 0 }));
}

export function createLoopbackPlugin(deps: PluginDeps): CniPlugin {
  const add = async (call: PluginCall): Promise<CniResult> => {
    requireNetns(call.env.netns);
    await deps.exec.run({
      argv: ['ip', 'link', 'set', 'dev', 'lo', 'up'],
      netns: call.env.netns,
      context: 'set lo up',
    });
    const lo = await showLo(deps.exec, call.env.netns);
    return {
      cniVersion: call.version,
      interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: call.env.netns }],
      ips: ipsOf(lo),
      dns: {},
    };
  };
  return {
    add,
    del: async (call) => {
      // The pod's namespace may already be gone; then there is nothing to undo.
      if (!netnsExists(call.env.netns)) return;
      await deps.exec.run({
        argv: ['ip', 'link', 'set', 'dev', 'lo', 'down'],
        netns: call.env.netns,
        context: 'set lo down',
      });
    },
    check: async (call) => {
      requireNetns(call.env.netns);
      const lo = await showLo(deps.exec, call.env.netns);
      if (!(lo.flags ?? []).includes('UP')) {
        throw new CniError(CniErrorCode.CheckFailed, `loopback CHECK: lo is down in ${call.env.netns}`);
      }
    },
    gc: async () => undefined,
    status: async () => undefined,
  };
}
