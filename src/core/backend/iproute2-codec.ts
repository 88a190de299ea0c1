/**
 * The backends' iproute2 dialect, kept pure so it is unit-tested without root: a BackendChange
 * list rendered as `ip -batch` lines and `bridge -batch` lines, and the JSON that `ip -j -d
 * address show type vxlan`, `ip -j route show proto 119`, `ip -j neigh show` and
 * `bridge -j fdb show dev X` print, parsed into ActualBackendState. The adapter
 * (src/adapters/netlink-iproute2.ts) only runs the processes.
 */

import { VXLAN_DEVICE_PREFIX, WEFT_ROUTE_PROTOCOL } from '../names.js';
import type { ActualNeighbour, ActualRoute, BackendChange, BackendFdbEntry, VxlanDeviceState } from './state.js';
import type { TunDeviceState } from './udp-plan.js';

/** A token safe on a batch line (the batch readers split on whitespace and treat '#' as a comment). */
function token(text: string, what: string): string {
  if (text === '' || /[\s"'#\\]/.test(text))
    throw new Error(
      `iproute2 batch: ${what} ${JSON.stringify(text)} cannot be used (empty, or contains whitespace, quotes, '#' or '\\')`,
    );
  return text;
}

const PROTO = String(WEFT_ROUTE_PROTOCOL);

function ipLines(c: BackendChange): string[] {
  switch (c.kind) {
    case 'create-device': {
      const d = c.device;
      const name = token(d.name, 'device');
      return [
        // nolearning: the FDB comes from leases only (see plan.ts); a learnt entry could point a
        // VTEP MAC at a stale or spoofed source address.
        `link add ${name} address ${token(d.mac, 'mac')} mtu ${d.mtu} type vxlan id ${d.vni} dstport ${d.port} local ${token(d.local, 'local')} dev ${token(d.underlay, 'underlay')} nolearning`,
        `address add ${token(d.address, 'address')} dev ${name}`,
        `link set ${name} up`,
      ];
    }
    case 'delete-device':
      return [`link delete ${token(c.name, 'device')}`];
    case 'set-device': {
      const parts = [`link set ${token(c.name, 'device')}`];
      if (c.mtu !== undefined) parts.push(`mtu ${c.mtu}`);
      if (c.mac !== undefined) parts.push(`address ${token(c.mac, 'mac')}`);
      if (c.up) parts.push('up');
      return [parts.join(' ')];
    }
    case 'add-address':
      return [`address add ${token(c.cidr, 'address')} dev ${token(c.dev, 'device')}`];
    case 'delete-address':
      return [`address delete ${token(c.cidr, 'address')} dev ${token(c.dev, 'device')}`];
    case 'add-route':
    case 'replace-route': {
      const r = c.route;
      return [
        `route replace ${token(r.dst, 'route')}${r.via === undefined ? '' : ` via ${token(r.via, 'gateway')}`} dev ${token(r.dev, 'device')}${r.onlink ? ' onlink' : ''} proto ${PROTO}`,
      ];
    }
    case 'delete-route': {
      const r = c.route;
      const type = r.type === 'unicast' ? '' : `${token(r.type, 'route type')} `;
      const via = r.via ? ` via ${token(r.via, 'gateway')}` : '';
      const dev = r.dev ? ` dev ${token(r.dev, 'device')}` : '';
      return [`route delete ${type}${token(r.dst, 'route')}${via}${dev} proto ${PROTO} table main`];
    }
    case 'add-neighbour':
    case 'replace-neighbour': {
      const n = c.neighbour;
      return [
        `neigh replace ${token(n.ip, 'neighbour')} lladdr ${token(n.mac, 'mac')} dev ${token(n.dev, 'device')} nud permanent`,
      ];
    }
    case 'delete-neighbour':
      return [`neigh delete ${token(c.neighbour.ip, 'neighbour')} dev ${token(c.neighbour.dev, 'device')}`];
    case 'add-fdb':
    case 'replace-fdb':
    case 'delete-fdb':
      return [];
  }
}

function bridgeLines(c: BackendChange): string[] {
  switch (c.kind) {
    case 'add-fdb':
    case 'replace-fdb': {
      const e = c.entry;
      // `self`: the entry belongs to the VXLAN device's own table, not to a bridge it is a port of.
      return [
        `fdb replace ${token(e.mac, 'mac')} dev ${token(e.dev, 'device')} dst ${token(e.dst, 'fdb dst')} self permanent`,
      ];
    }
    case 'delete-fdb': {
      const e = c.entry;
      return [`fdb delete ${token(e.mac, 'mac')} dev ${token(e.dev, 'device')} dst ${token(e.dst, 'fdb dst')} self`];
    }
    default:
      return [];
  }
}

export interface RenderedBatches {
  /** `ip -batch -` input; empty when there is nothing for ip. */
  ip: string[];
  /** `bridge -batch -` input, run after the ip batch (the device must exist); may be empty. */
  bridge: string[];
}

/** Renders a change list (in diffBackend's order) as batch lines. */
export function renderBatches(changes: readonly BackendChange[]): RenderedBatches {
  return { ip: changes.flatMap(ipLines), bridge: changes.flatMap(bridgeLines) };
}

export class Iproute2ParseError extends Error {
  override readonly name = 'Iproute2ParseError';
}

type Json = Record<string, unknown>;

function asArray(value: unknown, what: string): Json[] {
  if (!Array.isArray(value))
    throw new Iproute2ParseError(`${what}: expected a JSON array, got ${JSON.stringify(value)?.slice(0, 80)}`);
  return value.filter((v): v is Json => typeof v === 'object' && v !== null);
}

/** Parses the output of an iproute2 JSON listing; an empty output is an empty list. */
export function parseJsonList(text: string, what: string): Json[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (err) {
    throw new Iproute2ParseError(`${what}: output is not JSON: ${trimmed.slice(0, 80)}`, { cause: err });
  }
  return asArray(value, what);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** `ip -j -d address show type vxlan`: weft's devices (by name prefix), others ignored. */
export function parseVxlanDevices(text: string): VxlanDeviceState[] {
  const out: VxlanDeviceState[] = [];
  for (const l of parseJsonList(text, 'ip -j -d address show type vxlan')) {
    const name = str(l.ifname);
    const info = obj(l.linkinfo);
    if (!name?.startsWith(VXLAN_DEVICE_PREFIX) || info.info_kind !== 'vxlan') continue;
    const data = obj(info.info_data);
    const addresses = (Array.isArray(l.addr_info) ? l.addr_info : [])
      .map(obj)
      .filter((a) => a.family === 'inet')
      .map((a) => `${str(a.local) ?? ''}/${num(a.prefixlen) ?? 32}`);
    const dev: VxlanDeviceState = {
      name,
      vni: num(data.id) ?? -1,
      port: num(data.port) ?? -1,
      learning: data.learning !== false,
      mtu: num(l.mtu) ?? 0,
      mac: (str(l.address) ?? '').toLowerCase(),
      up: strings(l.flags).includes('UP'),
      addresses,
    };
    const local = str(data.local);
    const underlay = str(data.link);
    if (local) dev.local = local;
    if (underlay) dev.underlay = underlay;
    out.push(dev);
  }
  return out;
}

/** `ip -j address show dev NAME` of the udp backend's TUN device; undefined when it is not there. */
export function parseTunDevice(text: string, name: string): TunDeviceState | undefined {
  const l = parseJsonList(text, `ip -j address show dev ${name}`).find((x) => str(x.ifname) === name);
  if (!l) return undefined;
  return {
    name,
    mtu: num(l.mtu) ?? 0,
    up: strings(l.flags).includes('UP'),
    addresses: (Array.isArray(l.addr_info) ? l.addr_info : [])
      .map(obj)
      .filter((a) => a.family === 'inet')
      .map((a) => `${str(a.local) ?? ''}/${num(a.prefixlen) ?? 32}`),
  };
}

/** `ip -j route show table main proto 119` (ip omits the protocol, it was the filter). */
export function parseRoutes(text: string): ActualRoute[] {
  return parseJsonList(text, `ip -j route show proto ${PROTO}`).map((r) => {
    const dst = str(r.dst) ?? '';
    const route: ActualRoute = {
      // ip prints "default" for 0.0.0.0/0 and a bare address for a /32.
      dst: dst === 'default' ? '0.0.0.0/0' : dst.includes('/') ? dst : `${dst}/32`,
      onlink: strings(r.flags).includes('onlink'),
      type: str(r.type) ?? 'unicast',
    };
    const via = str(r.gateway);
    const dev = str(r.dev);
    if (via) route.via = via;
    if (dev) route.dev = dev;
    return route;
  });
}

/** `ip -j neigh show` (all devices), keeping entries on `devices`. */
export function parseNeighbours(text: string, devices: ReadonlySet<string>): ActualNeighbour[] {
  const out: ActualNeighbour[] = [];
  for (const n of parseJsonList(text, 'ip -j neigh show')) {
    const dev = str(n.dev);
    const ip = str(n.dst);
    if (!dev || !ip || !devices.has(dev)) continue;
    out.push({ dev, ip, mac: (str(n.lladdr) ?? '').toLowerCase(), permanent: strings(n.state).includes('PERMANENT') });
  }
  return out;
}

/** `bridge -j fdb show dev <dev>`: the entries with a destination (the only kind weft makes). */
export function parseFdb(text: string, dev: string): BackendFdbEntry[] {
  const out: BackendFdbEntry[] = [];
  for (const e of parseJsonList(text, `bridge -j fdb show dev ${dev}`)) {
    const mac = str(e.mac);
    const dst = str(e.dst);
    if (mac && dst && e.state === 'permanent') out.push({ dev, mac: mac.toLowerCase(), dst });
  }
  return out;
}

/**
 * Splits the output of `ip -j -batch -` (or `bridge -j -batch -`) into one text per command:
 * without -p (pretty), each listing command prints its JSON array on one line.
 */
export function splitBatchOutput(text: string, commands: readonly string[]): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== commands.length) {
    throw new Iproute2ParseError(
      `batch listing (${commands.join('; ')}): expected ${commands.length} JSON lines, got ${lines.length}: ${text.slice(0, 120)}`,
    );
  }
  return lines;
}
