/**
 * Links over iproute2. Link reads and changes are `ip -j -d -batch` lines: changes, then
 * `address show` lines that read links back (-j -d only shape their output), one batch per call,
 * run by one `ip` process, or by a long-lived session (ip-session.ts) when one is given for this
 * process's own namespace. Routes are read with `ip -j route show`. Works in the process's own
 * namespace, or in another one given by path through the Exec port's `netns` option (nsenter
 * --net=PATH), because `ip -n` only takes names under /var/run/netns, not the paths container
 * runtimes pass as CNI_NETNS.
 */

import type { Exec } from '../ports/exec.js';
import { batchError, IpBatchError, type IpSession } from './ip-session.js';
import {
  type AddressState,
  type ApplyOptions,
  type LinkChange,
  type Links,
  type LinkState,
  type NsOption,
  type RouteSpec,
  type RouteState,
} from '../ports/links.js';
import { LinkBatchError } from '../core/port-errors.js';

/** A token safe to put on an `ip -batch` line (the batch reader splits on whitespace). */
function token(text: string, what: string): string {
  if (text === '' || /[\s"'#\\]/.test(text))
    throw new Error(
      `ip batch: ${what} ${JSON.stringify(text)} cannot be used (empty, or contains whitespace, quotes, '#' or '\\')`,
    );
  return text;
}

function routeArgs(r: RouteSpec): string[] {
  const args = [token(r.dst, 'route destination')];
  if (r.gw) args.push('via', token(r.gw, 'gateway'));
  return args;
}

function routeExtras(r: RouteSpec): string[] {
  const args: string[] = [];
  if (r.mtu !== undefined) args.push('mtu', String(r.mtu));
  if (r.advmss !== undefined) args.push('advmss', String(r.advmss));
  if (r.priority !== undefined) args.push('metric', String(r.priority));
  if (r.table !== undefined) args.push('table', String(r.table));
  if (r.scope !== undefined) args.push('scope', String(r.scope));
  return args;
}

/** One `ip -batch` line per change (exported for unit tests). */
export function renderChange(c: LinkChange): string {
  const mtu = (m: number | undefined) => (m ? ['mtu', String(m)] : []);
  const parts: string[] = (() => {
    switch (c.op) {
      case 'add-bridge':
        return ['link', 'add', 'name', token(c.name, 'link'), ...mtu(c.mtu), 'type', 'bridge'];
      case 'add-veth':
        return [
          'link',
          'add',
          'name',
          token(c.name, 'link'),
          ...mtu(c.mtu),
          'type',
          'veth',
          'peer',
          'name',
          token(c.peer, 'link'),
          ...mtu(c.mtu),
          ...(c.peerMac ? ['address', token(c.peerMac, 'MAC')] : []),
          'netns',
          token(c.peerNetns, 'netns path'),
        ];
      case 'set-master':
        return ['link', 'set', 'dev', token(c.name, 'link'), 'master', token(c.master, 'link')];
      case 'set-up':
        return ['link', 'set', 'dev', token(c.name, 'link'), 'up'];
      case 'set-mac':
        return ['link', 'set', 'dev', token(c.name, 'link'), 'address', token(c.mac, 'MAC')];
      case 'set-promisc':
        return ['link', 'set', 'dev', token(c.name, 'link'), 'promisc', c.on ? 'on' : 'off'];
      case 'set-hairpin':
        return ['link', 'set', 'dev', token(c.name, 'link'), 'type', 'bridge_slave', 'hairpin', c.on ? 'on' : 'off'];
      case 'set-addrgenmode':
        return ['link', 'set', 'dev', token(c.name, 'link'), 'addrgenmode', c.mode];
      case 'add-address': {
        const v4 = !c.cidr.includes(':');
        // "broadcast +" derives the broadcast address from the prefix, as netlink clients do.
        return [
          'address',
          'add',
          token(c.cidr, 'address'),
          ...(v4 ? ['broadcast', '+'] : []),
          'dev',
          token(c.dev, 'link'),
          ...(!v4 && c.nodad ? ['nodad'] : []),
        ];
      }
      case 'del-address':
        return ['address', 'del', token(c.cidr, 'address'), 'dev', token(c.dev, 'link')];
      case 'replace-route':
        return ['route', 'replace', ...routeArgs(c.route), 'dev', token(c.dev, 'link'), ...routeExtras(c.route)];
      case 'del-link':
        return ['link', 'del', 'dev', token(c.name, 'link')];
    }
  })();
  return parts.join(' ');
}

interface IpAddrJson {
  ifindex?: number;
  ifname?: string;
  link_index?: number;
  flags?: string[];
  mtu?: number;
  master?: string;
  address?: string;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number; tentative?: boolean; dadfailed?: boolean }>;
}

interface IpRouteJson {
  dst?: string;
  gateway?: string;
  dev?: string;
}

function toLinkState(j: IpAddrJson): LinkState {
  const addresses: AddressState[] = (j.addr_info ?? [])
    .filter((a) => (a.family === 'inet' || a.family === 'inet6') && a.local !== undefined && a.prefixlen !== undefined)
    .map((a) => ({
      cidr: `${a.local}/${a.prefixlen}`,
      family: a.family === 'inet' ? 4 : 6,
      tentative: a.tentative === true,
      dadFailed: a.dadfailed === true,
    }));
  const state: LinkState = {
    name: j.ifname ?? '',
    index: j.ifindex ?? 0,
    mtu: j.mtu ?? 0,
    mac: j.address ?? '',
    up: (j.flags ?? []).includes('UP'),
    promisc: (j.flags ?? []).includes('PROMISC'),
    addresses,
  };
  if (j.linkinfo?.info_kind) state.kind = j.linkinfo.info_kind;
  if (j.master) state.master = j.master;
  if (j.link_index !== undefined) state.peerIndex = j.link_index;
  if (j.linkinfo?.info_slave_kind === 'bridge') state.hairpin = j.linkinfo.info_slave_data?.hairpin === true;
  return state;
}

function normalizeDst(dst: string | undefined, family: 4 | 6): string {
  if (!dst || dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  if (dst.includes('/')) return dst;
  return `${dst}/${family === 4 ? 32 : 128}`;
}

export class Iproute2Links implements Links {
  /** With `session`, work in this process's own namespace goes through it (see ip-session.ts). */
  constructor(
    private readonly exec: Exec,
    private readonly session?: IpSession,
  ) {}

  private ns(opts: NsOption | undefined): { netns?: string } {
    return opts?.netns ? { netns: opts.netns } : {};
  }

  /**
   * Runs the lines as one batch in the namespace (the session for this process's own, when there
   * is one) and returns the output lines of its `shows` `address show` lines. Rejects with
   * IpBatchError naming the failed line.
   */
  private async batch(
    lines: readonly string[],
    shows: number,
    opts: NsOption | undefined,
    context: string,
  ): Promise<string[]> {
    if (this.session && !opts?.netns) return this.session.run(lines, shows);
    const r = await this.exec.tryRun({
      argv: ['ip', '-j', '-d', '-batch', '-'],
      input: `${lines.join('\n')}\n`,
      ...this.ns(opts),
      context,
    });
    if (r.exitCode !== 0) throw batchError(r.stderr, lines, 0, `exit code ${r.exitCode}`);
    return r.stdout.split('\n').filter((l) => l.trim() !== '');
  }

  async get(name: string, opts?: NsOption): Promise<LinkState | undefined> {
    const where = opts?.netns ? ` in ${opts.netns}` : '';
    try {
      const [out] = await this.batch([`address show dev ${token(name, 'link')}`], 1, opts, `read link ${name}${where}`);
      const first = (JSON.parse(out?.trim() || '[]') as IpAddrJson[])[0];
      return first ? toLinkState(first) : undefined;
    } catch (err) {
      // iproute2 says `Device "x" does not exist.` for a missing link; anything else is a failure.
      if (err instanceof IpBatchError && /does not exist/.test(err.stderr)) return undefined;
      throw new Error(`read link ${name}${where}: ${(err as Error).message}`, { cause: err });
    }
  }

  async list(opts?: NsOption): Promise<LinkState[]> {
    const where = opts?.netns ? ` in ${opts.netns}` : '';
    const [out] = await this.batch(['address show'], 1, opts, `read links${where}`).catch((err: unknown) => {
      throw new Error(`read links${where}: ${(err as Error).message}`, { cause: err });
    });
    return (JSON.parse(out?.trim() || '[]') as IpAddrJson[]).map(toLinkState);
  }

  async routes(family: 4 | 6, opts?: NsOption): Promise<RouteState[]> {
    const r = await this.exec.run({
      argv: ['ip', '-j', `-${family}`, 'route', 'show', 'table', 'main'],
      ...this.ns(opts),
      context: `read IPv${family} routes${opts?.netns ? ` in ${opts.netns}` : ''}`,
    });
    const list = JSON.parse(r.stdout.trim() || '[]') as IpRouteJson[];
    return list.map((j) => {
      const route: RouteState = { dst: normalizeDst(j.dst, family) };
      if (j.gateway) route.gateway = j.gateway;
      if (j.dev) route.dev = j.dev;
      return route;
    });
  }

  async apply(changes: readonly LinkChange[], opts: ApplyOptions): Promise<LinkState[]> {
    const reads = opts.read ?? [];
    if (changes.length === 0 && reads.length === 0) return [];
    const lines = [...changes.map(renderChange), ...reads.map((name) => `address show dev ${token(name, 'link')}`)];
    let shown: string[];
    try {
      shown = await this.batch(lines, reads.length, opts, opts.context);
    } catch (err) {
      if (!(err instanceof IpBatchError)) throw err;
      // A failed read is no failed change: only a change line's index is reported.
      const failedIndex =
        err.failedIndex !== undefined && err.failedIndex < changes.length ? err.failedIndex : undefined;
      throw new LinkBatchError(
        `${opts.context}${opts.netns ? ` (in ${opts.netns})` : ''}: ${err.message}`,
        failedIndex,
        { cause: err },
      );
    }
    // Each `address show` line prints one JSON array on a line of its own.
    if (shown.length !== reads.length)
      throw new Error(`${opts.context}: expected ${reads.length} link reads from ip, got ${shown.length}`);
    return shown.map((l, i) => {
      const first = (JSON.parse(l) as IpAddrJson[])[0];
      if (!first) throw new Error(`${opts.context}: ip printed no state for link ${reads[i]}`);
      return toLinkState(first);
    });
  }
}
