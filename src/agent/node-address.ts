/**
 * Finding the node's underlay ("public") address and interface, as flanneld does: --public-ip
 * wins; else the first global IPv4 address of --iface; else the interface of the default route.
 * Also reads the interface's MTU and connected prefix, which the backends need.
 */

import type { Exec } from '../ports/exec.js';

export interface NodeAddress {
  iface: string;
  /** The node's underlay address, e.g. "10.99.0.1". */
  publicIp: string;
  /** The underlay interface's connected prefix length for that address. */
  prefixLen: number;
  mtu: number;
}

interface AddrJson {
  ifname: string;
  mtu: number;
  addr_info?: Array<{ family: string; local: string; prefixlen: number; scope: string }>;
}

export async function detectNodeAddress(exec: Exec, opts: { iface?: string; publicIp?: string }): Promise<NodeAddress> {
  const addrs = JSON.parse(
    (await exec.run({ argv: ['ip', '-j', '-4', 'addr', 'show'], context: 'list addresses' })).stdout,
  ) as AddrJson[];
  const withIp = (a: AddrJson) => (a.addr_info ?? []).filter((i) => i.family === 'inet' && i.scope === 'global');
  if (opts.publicIp) {
    for (const a of addrs) {
      const hit = withIp(a).find((i) => i.local === opts.publicIp);
      if (hit && (!opts.iface || opts.iface === a.ifname))
        return { iface: a.ifname, publicIp: hit.local, prefixLen: hit.prefixlen, mtu: a.mtu };
    }
    throw new Error(
      `--public-ip ${opts.publicIp}: no interface${opts.iface ? ` named ${opts.iface}` : ''} on this node has that address`,
    );
  }
  let iface = opts.iface;
  if (!iface) {
    const routes = JSON.parse(
      (await exec.run({ argv: ['ip', '-j', '-4', 'route', 'show', 'default'], context: 'find the default route' }))
        .stdout,
    ) as Array<{ dev?: string }>;
    iface = routes[0]?.dev;
    if (!iface) throw new Error('cannot find the node address: no default route; pass --iface or --public-ip');
  }
  const a = addrs.find((x) => x.ifname === iface);
  if (!a) throw new Error(`--iface ${iface}: no such interface`);
  const first = withIp(a)[0];
  if (!first) throw new Error(`--iface ${iface}: the interface has no global IPv4 address`);
  return { iface, publicIp: first.local, prefixLen: first.prefixlen, mtu: a.mtu };
}
