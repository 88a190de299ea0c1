/**
 * Answers one question from the cluster zone, as CoreDNS's kubernetes plugin does for kubeadm's
 * Corefile (`kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure; fallthrough
 * in-addr.arpa ip6.arpa }`, `ttl 5`): pure, from the ClusterIndex.
 *
 * - Names in the zone are always answered here: records of the asked type; NODATA (NOERROR, no
 *   answer) for a name that exists with other types or as an empty non-terminal; NXDOMAIN
 *   otherwise; both negative answers carry the zone's SOA in the authority section, whose
 *   minimum (and TTL) is the zone's TTL, so resolvers cache the negative answer that long
 *   (RFC 2308 §5).
 * - Reverse names (in-addr.arpa, ip6.arpa) are answered only when a ClusterIP or headless
 *   endpoint has that address; any other reverse name is not ours (undefined: forward it), as
 *   the Corefile's `fallthrough in-addr.arpa ip6.arpa` does.
 * - ExternalName: a CNAME for every query type (RFC 1034 §3.6.2); a target inside the zone is
 *   followed here, one outside is left to the server (`chase`), which resolves it upstream and
 *   appends the result, as CoreDNS does.
 * - ANY: answered minimally per RFC 8482 (one synthesized HINFO "RFC8482" for a name that
 *   exists, the negative answer otherwise), never the full set: no amplification, no walking.
 * - Pod names `<a-b-c-d>.<ns>.pod.<zone>`: "insecure" (kubeadm's default) answers any address in
 *   an existing namespace; "verified" only addresses of pods in that namespace; "disabled" none.
 * - `dns-version.<zone>` TXT "1.1.0" (the specification's schema version); SOA and NS at the
 *   apex; `ns.dns.<zone>` has the addresses of kube-system/kube-dns, as CoreDNS gives its own.
 */

import type { DnsAnswer, DnsQuestion, DnsRecord, SoaData } from './records.js';
import type { ClusterIndex } from './cluster-index.js';
import type { NameRecords } from './service-records.js';
import { inZone, ipOfDashed, ipOfReverseName, labelsBelow, normalizeName } from './dns-names.js';

export type PodMode = 'insecure' | 'verified' | 'disabled';

export interface ClusterZoneConfig {
  /** The cluster domain in normal form ("cluster.local"). */
  zone: string;
  /** TTL of every answer and of negative answers (seconds; CoreDNS's default 5). */
  ttl: number;
  pods: PodMode;
}

export interface AnswerContext {
  /** The SOA serial: the cluster cache's revision (CoreDNS uses the time of the last change). */
  serial: number;
  /** "verified" pod mode: the namespaces of pods that have this address. */
  podNamespaces?: (ip: string) => readonly string[];
}

export interface ClusterResult {
  answer: DnsAnswer;
  /** A CNAME target outside the zone, for the server to resolve and append (answer ends with its CNAME). */
  chase?: string;
  /**
   * True when the answer depends only on the index (so it holds until the index changes): not
   * when it has a chase, nor a "verified" pod answer, which depends on the pods.
   */
  cacheable: boolean;
}

/** The Kubernetes DNS schema version this server implements. */
export const SCHEMA_VERSION = '1.1.0';
/** How many CNAMEs inside the zone are followed before the answer stops (a loop guard). */
const MAX_CNAME_CHAIN = 8;

function soa(cfg: ClusterZoneConfig, serial: number): DnsRecord {
  const data: SoaData = {
    mname: cfg.zone === '' ? 'ns.dns' : `ns.dns.${cfg.zone}`,
    rname: cfg.zone === '' ? 'hostmaster' : `hostmaster.${cfg.zone}`,
    serial: serial >>> 0,
    refresh: 7200,
    retry: 1800,
    expire: 86400,
    minimum: cfg.ttl,
  };
  return { name: cfg.zone, type: 'SOA', ttl: Math.min(cfg.ttl, 300), data };
}

function under(zone: string, rel: string): string {
  return zone === '' ? rel : `${rel}.${zone}`;
}

/**
 * The answer for `q` if the cluster zone holds it, or undefined when the name is not ours (out of
 * the zone, or a reverse name without a cluster address): then the server forwards it.
 */
export function answerCluster(
  index: ClusterIndex,
  q: DnsQuestion,
  cfg: ClusterZoneConfig,
  ctx: AnswerContext,
): ClusterResult | undefined {
  const r = answerZone(index, q, cfg, ctx);
  if (r === undefined) return undefined;
  const podName = normalizeName(q.name).endsWith(cfg.zone === '' ? '.pod' : `.pod.${cfg.zone}`);
  return { ...r, cacheable: r.chase === undefined && !(cfg.pods === 'verified' && podName) };
}

function answerZone(
  index: ClusterIndex,
  q: DnsQuestion,
  cfg: ClusterZoneConfig,
  ctx: AnswerContext,
): Omit<ClusterResult, 'cacheable'> | undefined {
  const name = normalizeName(q.name);
  const owner = q.name.endsWith('.') ? q.name.slice(0, -1) : q.name;
  if (!inZone(name, cfg.zone)) {
    if (ipOfReverseName(name) === undefined) return undefined;
    const targets = index.lookupPtr(name);
    if (targets.length === 0) return undefined;
    if (q.class !== 'IN') return { answer: negative('REFUSED', cfg, ctx, false) };
    if (q.type === 'PTR')
      return { answer: positive(targets.map((t) => ({ name: owner, type: 'PTR', ttl: cfg.ttl, data: t }))) };
    if (q.type === 'ANY') return { answer: positive([rfc8482(owner, cfg.ttl)]) };
    // NODATA; the SOA is the reverse zone's, as CoreDNS (authoritative for in-addr.arpa and ip6.arpa) gives it.
    const apex = name.endsWith('.ip6.arpa') ? 'ip6.arpa' : 'in-addr.arpa';
    const nodata = negative('NOERROR', cfg, ctx, true);
    return { answer: { ...nodata, authorities: nodata.authorities.map((r) => ({ ...r, name: apex })) } };
  }
  if (q.class !== 'IN') return { answer: negative('REFUSED', cfg, ctx, false) };

  const records = recordsAt(index, name, cfg, ctx);
  if (records === undefined) return { answer: negative('NXDOMAIN', cfg, ctx, true) };
  if (q.type === 'ANY') return { answer: positive([rfc8482(owner, cfg.ttl)]) };

  const answers: DnsRecord[] = [];
  let at = records;
  let atOwner = owner;
  for (let hop = 0; at.cname !== undefined && q.type !== 'CNAME'; hop++) {
    answers.push({ name: atOwner, type: 'CNAME', ttl: cfg.ttl, data: at.cname });
    if (!inZone(at.cname, cfg.zone)) return { answer: positive(answers), chase: at.cname };
    const next = hop < MAX_CNAME_CHAIN ? recordsAt(index, at.cname, cfg, ctx) : undefined;
    if (next === undefined) return { answer: positive(answers) };
    atOwner = at.cname;
    at = next;
  }
  const additionals: DnsRecord[] = [];
  answers.push(...recordsOfType(index, atOwner, at, q.type, cfg, ctx, additionals));
  if (answers.length === 0) return { answer: negative('NOERROR', cfg, ctx, true) };
  return { answer: { ...positive(answers), additionals } };
}

/** What a name in the zone has: records (possibly none: it exists), or undefined when it does not exist. */
interface ZoneRecords extends NameRecords {
  txt?: string[];
  soa?: boolean;
  ns?: string;
}

function recordsAt(
  index: ClusterIndex,
  name: string,
  cfg: ClusterZoneConfig,
  ctx: AnswerContext,
): ZoneRecords | undefined {
  const z = cfg.zone;
  if (name === z) return { soa: true, ns: under(z, 'ns.dns') };
  if (name === under(z, 'svc') || name === under(z, 'pod') || name === under(z, 'dns')) return {};
  if (name === under(z, 'dns-version')) return { txt: [SCHEMA_VERSION] };
  if (name === under(z, 'ns.dns')) {
    const dns = index.lookup(under(z, 'kube-dns.kube-system.svc'));
    return { ...(dns?.a ? { a: dns.a } : {}), ...(dns?.aaaa ? { aaaa: dns.aaaa } : {}) };
  }
  const found = index.lookup(name);
  if (found) return found;
  const labels = labelsBelow(name, z);
  if (labels.length === 3 && labels[2] === 'pod' && cfg.pods !== 'disabled') {
    const [label, ns] = labels as [string, string];
    if (!index.exists(under(z, `${ns}.pod`))) return undefined;
    const ip = ipOfDashed(label);
    if (ip === undefined) return undefined;
    if (cfg.pods === 'verified' && !(ctx.podNamespaces?.(ip) ?? []).includes(ns)) return undefined;
    return ip.includes(':') ? { aaaa: [ip] } : { a: [ip] };
  }
  return index.exists(name) ? {} : undefined;
}

function recordsOfType(
  index: ClusterIndex,
  owner: string,
  r: ZoneRecords,
  type: string,
  cfg: ClusterZoneConfig,
  ctx: AnswerContext,
  additionals: DnsRecord[],
): DnsRecord[] {
  const ttl = cfg.ttl;
  switch (type) {
    case 'A':
      return (r.a ?? []).map((ip) => ({ name: owner, type: 'A', ttl, data: ip }));
    case 'AAAA':
      return (r.aaaa ?? []).map((ip) => ({ name: owner, type: 'AAAA', ttl, data: ip }));
    case 'CNAME':
      return r.cname === undefined ? [] : [{ name: owner, type: 'CNAME', ttl, data: r.cname }];
    case 'TXT':
      return r.txt ? [{ name: owner, type: 'TXT', ttl, data: r.txt }] : [];
    case 'SOA':
      return r.soa ? [{ ...soa(cfg, ctx.serial), name: owner }] : [];
    case 'NS':
      return r.ns ? [{ name: owner, type: 'NS', ttl, data: r.ns }] : [];
    case 'SRV': {
      const srv = r.srv ?? [];
      // CoreDNS shares a weight of 100 among the records of one priority (all are priority 0).
      const weight = Math.max(1, Math.floor(100 / Math.max(1, srv.length)));
      const seen = new Set<string>();
      for (const s of srv) {
        if (seen.has(s.target)) continue;
        seen.add(s.target);
        const t = index.lookup(s.target);
        for (const ip of t?.a ?? []) additionals.push({ name: s.target, type: 'A', ttl, data: ip });
        for (const ip of t?.aaaa ?? []) additionals.push({ name: s.target, type: 'AAAA', ttl, data: ip });
      }
      return srv.map((s) => ({
        name: owner,
        type: 'SRV',
        ttl,
        data: { priority: 0, weight, port: s.port, target: s.target },
      }));
    }
    default:
      return [];
  }
}

function positive(answers: DnsRecord[]): DnsAnswer {
  return { rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals: [] };
}

function negative(
  rcode: 'NOERROR' | 'NXDOMAIN' | 'REFUSED',
  cfg: ClusterZoneConfig,
  ctx: AnswerContext,
  withSoa: boolean,
): DnsAnswer {
  return {
    rcode,
    authoritative: rcode !== 'REFUSED',
    answers: [],
    authorities: withSoa ? [soa(cfg, ctx.serial)] : [],
    additionals: [],
  };
}

function rfc8482(owner: string, ttl: number): DnsRecord {
  return { name: owner, type: 'HINFO', ttl, data: { cpu: 'RFC8482', os: '' } };
}
