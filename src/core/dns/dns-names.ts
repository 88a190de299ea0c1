/**
 * Domain-name text as weft's DNS server compares it: one normal form (lower case, no trailing
 * dot; DNS names compare case-insensitively, RFC 4343), the in-addr.arpa / ip6.arpa names of
 * PTR queries, and the dashed address labels the Kubernetes DNS schema uses for pods
 * (`10-244-1-5.<ns>.pod.<zone>`) and for endpoints without a hostname (CoreDNS's
 * endpointHostname: dots, or an IPv6 address's colons, become dashes).
 */

import { formatIp, tryParseIp } from '../net/ip.js';

/** A name's normal form: lower case, no trailing dot ("" is the root). */
export function normalizeName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n.toLowerCase();
}

/** Is `name` (normal form) `zone` itself or below it? */
export function inZone(name: string, zone: string): boolean {
  if (zone === '') return true;
  return name === zone || name.endsWith(`.${zone}`);
}

/** The labels of `name` before `.zone` (name must be in the zone): "a.b.cluster.local" → ["a", "b"]. */
export function labelsBelow(name: string, zone: string): string[] {
  if (name === zone) return [];
  const rest = zone === '' ? name : name.slice(0, name.length - zone.length - 1);
  return rest.split('.');
}

/** The canonical text of an address (Go's net.IP.String(), RFC 5952), or undefined when it is not one. */
export function canonicalIp(text: string): string | undefined {
  const ip = tryParseIp(text);
  return ip === undefined ? undefined : formatIp(ip);
}

/** CoreDNS's endpoint label for an address: "10.244.1.5" → "10-244-1-5", "fd00::5" → "fd00--5". */
export function dashedIp(ip: string): string {
  return ip.includes('.') ? ip.replaceAll('.', '-') : ip.replaceAll(':', '-');
}

/**
 * The address a pod label stands for, as CoreDNS's findPods reads it: three dashes and no "--"
 * is IPv4, anything else has its dashes read as colons; undefined when that is not an address.
 */
export function ipOfDashed(label: string): string | undefined {
  const dashes = label.split('-').length - 1;
  const text = dashes === 3 && !label.includes('--') ? label.replaceAll('-', '.') : label.replaceAll('-', ':');
  return canonicalIp(text);
}

/** The reverse-lookup name of an address (RFC 1035 §3.5, RFC 3596 §2.5), in normal form. */
export function reverseName(ipText: string): string | undefined {
  const ip = tryParseIp(ipText);
  if (ip === undefined) return undefined;
  if (ip.family === 4) {
    const octets = [0n, 8n, 16n, 24n].map((s) => String((ip.value >> s) & 0xffn));
    return `${octets.join('.')}.in-addr.arpa`;
  }
  const nibbles: string[] = [];
  for (let i = 0; i < 32; i++) nibbles.push(((ip.value >> BigInt(i * 4)) & 0xfn).toString(16));
  return `${nibbles.join('.')}.ip6.arpa`;
}

/** The address a full reverse name stands for (normal form in, canonical IP out), or undefined. */
export function ipOfReverseName(name: string): string | undefined {
  if (name.endsWith('.in-addr.arpa')) {
    const parts = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p))) return undefined;
    return canonicalIp(parts.reverse().join('.'));
  }
  if (name.endsWith('.ip6.arpa')) {
    const parts = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (parts.length !== 32 || !parts.every((p) => /^[0-9a-f]$/.test(p))) return undefined;
    const hex = parts.reverse().join('');
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4));
    return canonicalIp(groups.join(':'));
  }
  return undefined;
}
