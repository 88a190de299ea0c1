/**
 * The host-local IPAM config: schema (zod), canonical form, and the addresses a runtime asks for.
 *
 * Accepts the reference plugin's config unchanged (plugins/ipam/host-local/backend/allocator/
 * config.go): `ipam.ranges` (a list of range sets), the older single range written directly in
 * `ipam` (subnet/rangeStart/rangeEnd/gateway, which becomes range set 0 as in the reference),
 * `routes`, `dataDir`, `resolvConf`, and requested addresses from CNI_ARGS `IP=a,b`,
 * `args.cni.ips` and `runtimeConfig.ips`. Everything is validated here, before any file is
 * touched, and every error is the spec's code 7 naming the field.
 */

import { z } from 'zod';
import { BASE_CONFIG, parseWith } from '../cni/config.js';
import { CniError, CniErrorCode } from '../cni/errors.js';
import { parseRoute, type CniRoute } from '../cni/result.js';
import { DEFAULT_IPAM_DATA_DIR } from '../names.js';
import { formatIp, sameIp, tryParseCidr, tryParseIp, type IpAddress } from '../net/ip.js';
import type { Attachment } from './allocator.js';
import {
  canonicalizeRangeSet,
  formatRangeSet,
  RangeConfigError,
  rangeFor,
  requireDisjointSets,
  type IpRange,
  type RangeSpec,
} from './range.js';

const optText = z.string().optional();

const RANGE = z
  .object({ subnet: z.string({ required_error: 'missing' }), rangeStart: optText, rangeEnd: optText, gateway: optText })
  .passthrough();

const IPAM = z
  .object({
    type: z.string().min(1, 'must not be empty'),
    ranges: z.array(z.array(RANGE)).optional(),
    subnet: optText,
    rangeStart: optText,
    rangeEnd: optText,
    gateway: optText,
    routes: z.array(z.unknown()).optional(),
    dataDir: optText,
    resolvConf: optText,
  })
  .passthrough();

const HOST_LOCAL_CONFIG = BASE_CONFIG.extend({
  name: z
    .string({ required_error: 'missing (host-local keeps its reservations under <dataDir>/<name>)' })
    .min(1, 'must not be empty'),
  ipam: IPAM,
});

const ATTACHMENT = z
  .object({ containerID: z.string().min(1, 'must not be empty'), ifname: z.string().min(1, 'must not be empty') })
  .passthrough();

/** Just what DEL and GC need: where the reservations are. */
const TARGET_CONFIG = BASE_CONFIG.extend({
  name: HOST_LOCAL_CONFIG.shape.name,
  ipam: z.object({ dataDir: optText }).passthrough(),
  'cni.dev/valid-attachments': z.array(ATTACHMENT).optional(),
});

export interface HostLocalTarget {
  /** The network name, one directory under dataDir. */
  name: string;
  dataDir: string;
}

export interface HostLocalConfig extends HostLocalTarget {
  /** Range set i gives the container its i-th address. */
  sets: IpRange[][];
  routes: CniRoute[];
  /** Path of a resolv.conf-style file whose contents become the result's dns. */
  resolvConf: string | undefined;
  /** requested[i]: the address asked for in range set i, if any. */
  requested: Array<IpAddress | undefined>;
}

function invalid(field: string, reason: string): CniError {
  return new CniError(CniErrorCode.InvalidNetworkConfig, `invalid network config: ${field}: ${reason}`);
}

function requireDirName(name: string): void {
  if (name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw invalid('name', `"${name}" cannot be a directory name (host-local stores reservations in <dataDir>/<name>)`);
  }
}

function targetOf(name: string, dataDir: string | undefined): HostLocalTarget {
  requireDirName(name);
  return { name, dataDir: dataDir || DEFAULT_IPAM_DATA_DIR };
}

/** Parses only the network name and dataDir (DEL and GC must work even when ranges changed). */
export function parseHostLocalTarget(config: Record<string, unknown>): HostLocalTarget {
  const c = parseWith(TARGET_CONFIG, config);
  return targetOf(c.name, c.ipam.dataDir);
}

/** GC's `cni.dev/valid-attachments`; required, so that a missing list never frees everything. */
export function parseValidAttachments(config: Record<string, unknown>): Attachment[] {
  const c = parseWith(TARGET_CONFIG, config);
  const list = c['cni.dev/valid-attachments'];
  if (!list) throw invalid('cni.dev/valid-attachments', 'missing (GC needs the list of attachments to keep)');
  return list.map((a) => ({ containerId: a.containerID, ifname: a.ifname }));
}

/** A requested address and where it came from, for error messages. */
export interface RequestedIp {
  ip: IpAddress;
  source: string;
}

/** Address text as the reference accepts it: a plain IP, or (runtimeConfig) a CIDR's address. */
function parseRequested(text: string, source: string): IpAddress {
  const trimmed = text.trim();
  const ip = tryParseIp(trimmed) ?? tryParseCidr(trimmed)?.address;
  if (!ip) throw invalid(source, `invalid IP "${text}"`);
  return ip;
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw invalid(field, 'must be a list of IP addresses');
  return value as string[];
}

/** Collects requested addresses from CNI_ARGS, args.cni.ips and runtimeConfig.ips, deduplicated. */
export function collectRequestedIps(
  config: Record<string, unknown>,
  cniArgs: ReadonlyArray<[string, string]>,
): RequestedIp[] {
  const out: RequestedIp[] = [];
  const add = (text: string, source: string) => {
    const ip = parseRequested(text, source);
    if (!out.some((r) => sameIp(r.ip, ip))) out.push({ ip, source });
  };
  for (const [k, v] of cniArgs) {
    if (k !== 'IP') continue;
    v.split(',').forEach((item, i) => add(item, `CNI_ARGS IP[${i}]`));
  }
  const args = config.args as { cni?: { ips?: unknown } } | undefined;
  stringList(args?.cni?.ips, 'args.cni.ips').forEach((t, i) => add(t, `args.cni.ips[${i}]`));
  const rc = config.runtimeConfig as { ips?: unknown } | undefined;
  stringList(rc?.ips, 'runtimeConfig.ips').forEach((t, i) => add(t, `runtimeConfig.ips[${i}]`));
  return out;
}

/**
 * Maps each requested address to its range set. Each must fall in one set, never on a gateway,
 * and a set gives one address, so two requests in one set are an error.
 */
export function assignRequestedIps(
  sets: readonly (readonly IpRange[])[],
  requests: readonly RequestedIp[],
): Array<IpAddress | undefined> {
  const out: Array<IpAddress | undefined> = sets.map(() => undefined);
  for (const req of requests) {
    const index = sets.findIndex((s) => rangeFor(s, req.ip) !== undefined);
    const text = formatIp(req.ip);
    if (index < 0)
      throw invalid(
        req.source,
        `requested IP ${text} is not in any range set (${sets.map(formatRangeSet).join('; ')})`,
      );
    const range = rangeFor(sets[index]!, req.ip)!;
    if (sameIp(range.gateway, req.ip))
      throw invalid(req.source, `requested IP ${text} is the gateway of range set ${index}`);
    const already = out[index];
    if (already)
      throw invalid(
        req.source,
        `requested IPs ${formatIp(already)} and ${text} are both in range set ${index}, which gives one address`,
      );
    out[index] = req.ip;
  }
  return out;
}

function rangeSpecsOf(
  ipam: z.infer<typeof IPAM>,
): Array<{ specs: RangeSpec[]; field: string; fieldOf: (i: number) => string }> {
  const sets: Array<{ specs: RangeSpec[]; field: string; fieldOf: (i: number) => string }> = [];
  if (ipam.subnet) {
    sets.push({
      specs: [{ subnet: ipam.subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd, gateway: ipam.gateway }],
      field: 'ipam',
      fieldOf: () => 'ipam',
    });
  } else {
    for (const f of ['rangeStart', 'rangeEnd', 'gateway'] as const) {
      if (ipam[f]) throw invalid(`ipam.${f}`, 'set without ipam.subnet (put it in a range of ipam.ranges)');
    }
  }
  (ipam.ranges ?? []).forEach((set, i) => {
    sets.push({
      specs: set.map((r) => ({
        ...r,
        rangeStart: r.rangeStart || undefined,
        rangeEnd: r.rangeEnd || undefined,
        gateway: r.gateway || undefined,
      })),
      field: `ipam.ranges[${i}]`,
      fieldOf: (j) => `ipam.ranges[${i}][${j}]`,
    });
  });
  return sets;
}

/** Parses and validates the whole config for ADD, CHECK and STATUS. */
export function parseHostLocalConfig(
  config: Record<string, unknown>,
  cniArgs: ReadonlyArray<[string, string]>,
): HostLocalConfig {
  const c = parseWith(HOST_LOCAL_CONFIG, config);
  const target = targetOf(c.name, c.ipam.dataDir);
  const specs = rangeSpecsOf(c.ipam);
  if (specs.length === 0) throw invalid('ipam.ranges', 'no IP ranges specified');
  let sets: IpRange[][];
  try {
    sets = specs.map((s) => canonicalizeRangeSet(s.specs, s.field, s.fieldOf));
    requireDisjointSets(sets, (i) => specs[i]!.field);
  } catch (err) {
    if (err instanceof RangeConfigError) throw invalid(err.field, err.reason);
    throw err;
  }
  const routes = (c.ipam.routes ?? []).map((r, i) => {
    try {
      return parseRoute(r, `ipam.routes[${i}]`, CniErrorCode.InvalidNetworkConfig);
    } catch (err) {
      if (err instanceof CniError) throw new CniError(err.code, `invalid network config: ${err.message}`);
      throw err;
    }
  });
  const requested = assignRequestedIps(sets, collectRequestedIps(config, cniArgs));
  return { ...target, sets, routes, resolvConf: c.ipam.resolvConf || undefined, requested };
}
