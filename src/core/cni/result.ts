/**
 * The CNI result: one internal shape (the 1.1.0 one) and conversion to and from every supported
 * version.
 *
 * Shapes (CNI spec, "Success" results):
 * - 0.3.0, 0.3.1, 0.4.0: ips[] carry "version": "4" | "6"; interfaces have name, mac, sandbox;
 *   routes have dst and gw.
 * - 1.0.0: ips[] lose "version".
 * - 1.1.0: interfaces gain mtu, socketPath, pciID; routes gain mtu, advmss, priority, table, scope.
 * Fields a version does not know are dropped when converting down, so a runtime never sees a
 * field its version's schema forbids.
 */

import { CniError, CniErrorCode } from './errors.js';
import { isSupportedVersion, versionAtLeast, type CniVersion } from './version.js';
import { tryParseCidr, tryParseIp } from '../net/ip.js';

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface CniIpConfig {
  /** Interface address in CIDR form, host bits set ("10.244.0.5/24"). */
  address: string;
  gateway?: string;
  /** Index into interfaces[]. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(field: string, reason: string): CniError {
  return new CniError(CniErrorCode.DecodingFailure, `invalid result: ${field}: ${reason}`);
}

function optString(o: Record<string, unknown>, key: string, field: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${field}.${key}`, 'must be a string');
  return v;
}

function optInt(o: Record<string, unknown>, key: string, field: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(`${field}.${key}`, 'must be an integer');
  return v;
}

function optStrings(o: Record<string, unknown>, key: string, field: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw bad(`${field}.${key}`, 'must be a list of strings');
  return v as string[];
}

/**
 * Parses a result of any supported version (a prevResult, or a delegated plugin's output) into
 * the internal shape. Throws a CniError (decoding failure) naming the bad field.
 */
export function parseResult(value: unknown, field = 'result'): CniResult {
  if (!isObject(value)) throw bad(field, 'must be an object');
  const cniVersion = value.cniVersion;
  if (typeof cniVersion !== 'string') throw bad(`${field}.cniVersion`, 'missing');
  if (!isSupportedVersion(cniVersion)) {
    throw new CniError(CniErrorCode.IncompatibleVersion, `${field}: unsupported cniVersion "${cniVersion}"`);
  }
  const result: CniResult = { cniVersion };
  if (value.interfaces !== undefined && value.interfaces !== null) {
    if (!Array.isArray(value.interfaces)) throw bad(`${field}.interfaces`, 'must be a list');
    result.interfaces = value.interfaces.map((raw, i) => {
      const f = `${field}.interfaces[${i}]`;
      if (!isObject(raw)) throw bad(f, 'must be an object');
      const name = optString(raw, 'name', f);
      if (!name) throw bad(`${f}.name`, 'missing');
      return compact({
        name,
        mac: optString(raw, 'mac', f),
        mtu: optInt(raw, 'mtu', f),
        sandbox: optString(raw, 'sandbox', f),
        socketPath: optString(raw, 'socketPath', f),
        pciID: optString(raw, 'pciID', f),
      });
    });
  }
  if (value.ips !== undefined && value.ips !== null) {
    if (!Array.isArray(value.ips)) throw bad(`${field}.ips`, 'must be a list');
    result.ips = value.ips.map((raw, i) => {
      const f = `${field}.ips[${i}]`;
      if (!isObject(raw)) throw bad(f, 'must be an object');
      const address = optString(raw, 'address', f);
      if (!address || !tryParseCidr(address))
        throw bad(`${f}.address`, `must be an address in CIDR form, got ${JSON.stringify(raw.address)}`);
      const gateway = optString(raw, 'gateway', f);
      if (gateway !== undefined && !tryParseIp(gateway)) throw bad(`${f}.gateway`, `invalid IP "${gateway}"`);
      return compact({ address, gateway, interface: optInt(raw, 'interface', f) });
    });
  }
  if (value.routes !== undefined && value.routes !== null) {
    if (!Array.isArray(value.routes)) throw bad(`${field}.routes`, 'must be a list');
    result.routes = value.routes.map((raw, i) => parseRoute(raw, `${field}.routes[${i}]`, DecodingFailure));
  }
  if (value.dns !== undefined && value.dns !== null) {
    if (!isObject(value.dns)) throw bad(`${field}.dns`, 'must be an object');
    result.dns = parseDns(value.dns, `${field}.dns`);
  }
  return result;
}

const DecodingFailure = CniErrorCode.DecodingFailure;

/** Parses a route object ({dst, gw, ...}), reporting errors with the given code. */
export function parseRoute(raw: unknown, field: string, code: number): CniRoute {
  const fail = (f: string, reason: string) => new CniError(code, `${f}: ${reason}`);
  if (!isObject(raw)) throw fail(field, 'must be an object');
  const dst = raw.dst;
  if (typeof dst !== 'string' || !tryParseCidr(dst))
    throw fail(`${field}.dst`, `must be a CIDR, got ${JSON.stringify(dst)}`);
  const gw = raw.gw;
  if (gw !== undefined && gw !== null && (typeof gw !== 'string' || !tryParseIp(gw))) {
    throw fail(`${field}.gw`, `must be an IP address, got ${JSON.stringify(gw)}`);
  }
  const ints: Record<string, number | undefined> = {};
  for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope']) {
    const v = raw[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw fail(`${field}.${k}`, 'must be a non-negative integer');
    ints[k] = v;
  }
  return compact({ dst, gw: typeof gw === 'string' ? gw : undefined, ...ints });
}

function parseDns(o: Record<string, unknown>, f: string): CniDns {
  return compact({
    nameservers: optStrings(o, 'nameservers', f),
    domain: optString(o, 'domain', f),
    search: optStrings(o, 'search', f),
    options: optStrings(o, 'options', f),
  });
}

/** Drops undefined members so that JSON output has no "key": undefined noise. */
export function compact<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

function ipVersionOf(address: string): '4' | '6' {
  return address.includes(':') ? '6' : '4';
}

/**
 * Renders a result in the shape of the requested version. The output is a plain JSON value with
 * fields in the spec's order.
 */
export function convertResult(result: CniResult, version: CniVersion): Record<string, unknown> {
  const v11 = versionAtLeast(version, '1.1.0');
  const v1 = versionAtLeast(version, '1.0.0');
  const out: Record<string, unknown> = { cniVersion: version };
  if (result.interfaces && result.interfaces.length > 0) {
    out.interfaces = result.interfaces.map((i) =>
      compact({
        name: i.name,
        mac: i.mac,
        mtu: v11 ? i.mtu : undefined,
        sandbox: i.sandbox,
        socketPath: v11 ? i.socketPath : undefined,
        pciID: v11 ? i.pciID : undefined,
      }),
    );
  }
  if (result.ips && result.ips.length > 0) {
    out.ips = result.ips.map((ip) =>
      compact({
        version: v1 ? undefined : ipVersionOf(ip.address),
        interface: ip.interface,
        address: ip.address,
        gateway: ip.gateway,
      }),
    );
  }
  if (result.routes && result.routes.length > 0) {
    out.routes = result.routes.map((r) => (v11 ? compact({ ...r }) : compact({ dst: r.dst, gw: r.gw })));
  }
  out.dns = result.dns ? compact({ ...result.dns }) : {};
  return out;
}
