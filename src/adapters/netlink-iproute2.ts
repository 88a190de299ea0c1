/**
 * The Netlink port over iproute2: reads with one `ip -j -d -batch -` (weft's VXLAN devices with
 * their addresses, weft-protocol routes, neighbours) plus one `bridge -j -batch -` (the FDB of
 * each weft device), and applies a change list with one `ip -batch -` and, when FDB entries
 * change, one `bridge -batch -`. Works in the process's own namespace or in one given by path
 * (the Exec port's `netns` option, nsenter --net=PATH), so the lab and the kernel tests run one
 * agent's backend per node namespace from a single process.
 *
 * Rendering and parsing live in src/core/backend/iproute2-codec.ts (pure, unit-tested).
 */

import {
  parseFdb,
  parseNeighbours,
  parseRoutes,
  parseVxlanDevices,
  renderBatches,
  splitBatchOutput,
} from '../core/backend/iproute2-codec.js';
import type { ActualBackendState, BackendChange } from '../core/backend/state.js';
import { WEFT_ROUTE_PROTOCOL } from '../core/names.js';
import type { Exec } from '../ports/exec.js';
import type { Netlink } from '../ports/netlink.js';

export interface Iproute2NetlinkOptions {
  /** Network namespace path; the process's own namespace when omitted. */
  netns?: string;
}

export class Iproute2Netlink implements Netlink {
  constructor(
    private readonly exec: Exec,
    private readonly opts: Iproute2NetlinkOptions = {},
  ) {}

  private where(): string {
    return this.opts.netns ? ` in ${this.opts.netns}` : '';
  }

  private async batch(argv: string[], lines: readonly string[], context: string): Promise<string> {
    const r = await this.exec.run({
      argv: [...argv, '-batch', '-'],
      input: lines.join('\n') + '\n',
      netns: this.opts.netns,
      context: `${context}${this.where()}`,
    });
    return r.stdout;
  }

  async read(): Promise<ActualBackendState> {
    // Routes: the main table only (weft installs none elsewhere), IPv4 (ip's default family).
    const listings = ['address show type vxlan', `route show table main proto ${WEFT_ROUTE_PROTOCOL}`, 'neigh show'];
    const [links = '', routes = '', neighs = ''] = splitBatchOutput(
      await this.batch(['ip', '-j', '-d'], listings, 'read backend state'),
      listings,
    );
    const devices = parseVxlanDevices(links);
    const names = devices.map((d) => d.name);
    let fdbTexts: string[] = [];
    if (names.length) {
      const fdbListings = names.map((n) => `fdb show dev ${n}`);
      fdbTexts = splitBatchOutput(await this.batch(['bridge', '-j'], fdbListings, 'read backend FDB'), fdbListings);
    }
    return {
      devices,
      routes: parseRoutes(routes),
      neighbours: parseNeighbours(neighs, new Set(names)),
      fdb: names.flatMap((n, i) => parseFdb(fdbTexts[i] ?? '', n)),
    };
  }

  async apply(changes: readonly BackendChange[]): Promise<void> {
    const { ip, bridge } = renderBatches(changes);
    const summary = `${changes.length} backend change(s)`;
    // ip first: a created device must exist before its FDB entries are written.
    if (ip.length) await this.batch(['ip'], ip, `apply ${summary}`);
    if (bridge.length) await this.batch(['bridge'], bridge, `apply FDB part of ${summary}`);
  }
}
