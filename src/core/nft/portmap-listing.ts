/**
 * Reads PORTMAP_TABLE back from `nft -j list table inet weft-portmap` into PortmapElements, so
 * DEL, GC and CHECK decide from what the kernel actually holds (not from a cache that could lie).
 *
 * nft's JSON is read by the one listing parser (./listing.ts); this file gives the generic
 * elements their portmap meaning and checks their shape (a full-length prefix comes back as the
 * bare address; protocols by name, or as numbers when /etc/protocols does not know them).
 */

import { PORTMAP_OBJECTS, PORTMAP_TABLE } from '../names.js';
import { bitsOf, formatCidr, formatIp, tryParseCidr, tryParseIp, type IpFamily } from '../net/ip.js';
import type { PortmapProtocol } from '../cni/plugins/portmap-config.js';
import type { PortmapElement } from './portmap.js';
import { parseTable } from './listing.js';
import type { Element } from './model.js';

type SetRole = { kind: 'dnat'; family: IpFamily; hostIp: boolean } | { kind: 'masq'; family: IpFamily };

function roleOf(name: string): SetRole | undefined {
  for (const f of [4, 6] as const) {
    if (name === PORTMAP_OBJECTS.anyAddressMap[f]) return { kind: 'dnat', family: f, hostIp: false };
    if (name === PORTMAP_OBJECTS.hostIpMap[f]) return { kind: 'dnat', family: f, hostIp: true };
    if (name === PORTMAP_OBJECTS.masqSet[f]) return { kind: 'masq', family: f };
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class ListingError extends Error {
  override readonly name = 'ListingError';
}

const PROTOCOL_NUMBERS: Record<number, PortmapProtocol> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

function protocolOf(v: unknown): PortmapProtocol {
  if (v === 'tcp' || v === 'udp' || v === 'sctp') return v;
  const p = typeof v === 'number' ? PROTOCOL_NUMBERS[v] : undefined;
  if (!p) throw new ListingError(`unexpected protocol ${JSON.stringify(v)}`);
  return p;
}

function portOf(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ListingError(`unexpected port ${JSON.stringify(v)}`);
  return n;
}

function addressOf(v: unknown, family: IpFamily): string {
  const ip = typeof v === 'string' ? tryParseIp(v) : undefined;
  if (!ip || ip.family !== family) throw new ListingError(`unexpected IPv${family} address ${JSON.stringify(v)}`);
  return formatIp(ip);
}

function prefixOf(v: unknown, family: IpFamily): string {
  if (typeof v === 'string') return `${addressOf(v, family)}/${bitsOf(family)}`;
  const p = isObject(v) && isObject(v.prefix) ? v.prefix : undefined;
  const net =
    p && typeof p.addr === 'string' && typeof p.len === 'number' ? tryParseCidr(`${p.addr}/${p.len}`) : undefined;
  if (!net || net.address.family !== family)
    throw new ListingError(`unexpected IPv${family} prefix ${JSON.stringify(v)}`);
  return formatCidr(net);
}

function tupleOf(parts: readonly unknown[], length: number): unknown[] {
  if (parts.length !== length)
    throw new ListingError(`expected a concatenation of ${length}, got ${JSON.stringify(parts)}`);
  return [...parts];
}

function parseEntry(role: SetRole, e: Element): PortmapElement {
  const { family } = role;
  const comment = e.comment ?? '';
  if (role.kind === 'masq') {
    const [source, pod] = tupleOf(e.key, 2);
    return { kind: 'masq', family, source: prefixOf(source, family), podIp: addressOf(pod, family), comment };
  }
  if (!Array.isArray(e.value)) throw new ListingError(`expected a map element with a value, got ${JSON.stringify(e)}`);
  const key = tupleOf(e.key, role.hostIp ? 3 : 2);
  const [podIp, podPort] = tupleOf(e.value, 2);
  const [hostIp, proto, port] = role.hostIp ? [addressOf(key[0], family), key[1], key[2]] : [undefined, key[0], key[1]];
  return {
    kind: 'dnat',
    family,
    ...(hostIp !== undefined ? { hostIp } : {}),
    protocol: protocolOf(proto),
    hostPort: portOf(port),
    podIp: addressOf(podIp, family),
    podPort: portOf(podPort),
    comment,
  };
}

/**
 * Every element of PORTMAP_TABLE's maps and sets, from the "nftables" array of a JSON listing.
 * Objects of other tables, and sets this module does not know, are ignored; an element of a
 * known set that does not have the expected shape is an error naming it (DEL must not guess).
 */
export function parsePortmapListing(objects: readonly unknown[]): PortmapElement[] {
  const table = parseTable(objects, 'inet', PORTMAP_TABLE);
  const out: PortmapElement[] = [];
  for (const set of table?.sets ?? []) {
    const role = roleOf(set.name);
    if (!role) continue;
    for (const e of set.elements) {
      try {
        out.push(parseEntry(role, e));
      } catch (err) {
        if (!(err instanceof ListingError)) throw err;
        throw new Error(`read nft set inet ${PORTMAP_TABLE} ${set.name}: ${err.message}`, { cause: err });
      }
    }
  }
  return out;
}
