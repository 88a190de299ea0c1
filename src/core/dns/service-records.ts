/**
 * The DNS names one Service gives the cluster zone, from the Service and its EndpointSlices, as
 * the Kubernetes DNS specification (https://github.com/kubernetes/dns/blob/master/docs/specification.md,
 * schema 1.1.0) and CoreDNS's kubernetes plugin answer them. Pure; the index (cluster-index.ts)
 * adds and removes a Service's names as one unit when the Service or one of its slices changes.
 *
 * With base = `<svc>.<ns>.svc.<zone>`:
 * - ClusterIP Service: base A/AAAA → the ClusterIP; SRV at base for every port and at
 *   `_<port>._<proto>.base` for each named port, target base; PTR of the ClusterIP → base.
 * - Headless Service (clusterIP None): base A/AAAA → every ready endpoint address; each address
 *   also as `<label>.base`, label = the endpoint's hostname, else the dashed address (CoreDNS's
 *   endpointHostname); SRV at base and `_<port>._<proto>.base` per endpoint address and slice
 *   port, target `<label>.base`, port the endpoint's; PTR of each address → `<label>.base`.
 * - Endpoint names `<label>.base` exist for ClusterIP Services too (CoreDNS answers them for
 *   every Service); PTR for endpoints is kept to headless Services, as the specification says
 *   (CoreDNS also answers it for endpoints of ClusterIP Services).
 * - ExternalName: base CNAME → spec.externalName.
 * - A Service with no ClusterIP yet still has its name (NODATA, as CoreDNS answers); a headless
 *   Service with no ready endpoint has none (NXDOMAIN, the specification's 2.4.1 and CoreDNS).
 *
 * "Ready" is CoreDNS's reading of an EndpointSlice: conditions.ready true or absent; the
 * Service's publishNotReadyAddresses publishes not-ready endpoints too (the EndpointSlice
 * controller already marks them ready; honouring it here also covers hand-written slices).
 * FQDN slices give no records (CoreDNS watches only IPv4 and IPv6 slices).
 */

import type { EndpointSlice, Service } from '../k8s/objects.js';
import { canonicalIp, dashedIp, normalizeName, reverseName } from './dns-names.js';

/** One SRV answer before weights are shared out (they depend on how many answer together). */
export interface SrvTarget {
  port: number;
  target: string;
}

/** The records at one name. Arrays are in a stable order and free of duplicates. */
export interface NameRecords {
  a?: string[];
  aaaa?: string[];
  srv?: SrvTarget[];
  cname?: string;
}

export interface ServiceRecords {
  /** name (normal form) → records. */
  names: Map<string, NameRecords>;
  /** reverse name (normal form) → PTR targets. */
  ptrs: Map<string, string[]>;
}

function isReady(ready: boolean | undefined, publishNotReady: boolean): boolean {
  return publishNotReady || ready !== false;
}

class Builder {
  readonly names = new Map<string, NameRecords>();
  readonly ptrs = new Map<string, string[]>();

  at(name: string): NameRecords {
    let r = this.names.get(name);
    if (!r) this.names.set(name, (r = {}));
    return r;
  }
  address(name: string, ip: string): void {
    const r = this.at(name);
    const list = ip.includes(':') ? (r.aaaa ??= []) : (r.a ??= []);
    if (!list.includes(ip)) list.push(ip);
  }
  srv(name: string, port: number, target: string): void {
    const list = (this.at(name).srv ??= []);
    if (!list.some((s) => s.port === port && s.target === target)) list.push({ port, target });
  }
  ptr(ip: string, target: string): void {
    const rev = reverseName(ip);
    if (rev === undefined) return;
    const list = this.ptrs.get(rev) ?? [];
    if (!list.includes(target)) list.push(target);
    this.ptrs.set(rev, list);
  }
}

/** The protocol label of an SRV name: "_tcp", "_udp", "_sctp". */
function protoLabel(protocol: string): string {
  return `_${protocol.toLowerCase()}`;
}

export function serviceRecords(svc: Service, slices: readonly EndpointSlice[], zone: string): ServiceRecords {
  const b = new Builder();
  const base = normalizeName(`${svc.metadata.name}.${svc.metadata.namespace}.svc${zone === '' ? '' : `.${zone}`}`);
  const headless = svc.spec.clusterIP === 'None';
  // A headless Service exists only through its ready endpoints (spec 2.4.1: none ready is NXDOMAIN).
  if (!headless) b.at(base);
  if (svc.spec.type === 'ExternalName') {
    if (svc.spec.externalName) b.at(base).cname = normalizeName(svc.spec.externalName);
    return { names: b.names, ptrs: b.ptrs };
  }
  const clusterIP = svc.spec.clusterIP && !headless ? canonicalIp(svc.spec.clusterIP) : undefined;
  if (clusterIP) {
    b.address(base, clusterIP);
    b.ptr(clusterIP, base);
    for (const p of svc.spec.ports) {
      b.srv(base, p.port, base);
      if (p.name) b.srv(`_${p.name.toLowerCase()}.${protoLabel(p.protocol)}.${base}`, p.port, base);
    }
  }
  const publish = svc.spec.publishNotReadyAddresses === true;
  // Slices in name order, so answers do not depend on the order the cache lists them in.
  const ordered = [...slices].sort((x, y) => (x.metadata.name < y.metadata.name ? -1 : 1));
  for (const slice of ordered) {
    if (slice.addressType === 'FQDN') continue;
    for (const ep of slice.endpoints) {
      if (!isReady(ep.conditions?.ready, publish)) continue;
      for (const raw of ep.addresses) {
        const ip = canonicalIp(raw);
        if (ip === undefined) continue;
        const owner = `${ep.hostname ? ep.hostname.toLowerCase() : dashedIp(ip)}.${base}`;
        b.address(owner, ip);
        if (!headless) continue;
        b.address(base, ip);
        b.ptr(ip, owner);
        for (const p of slice.ports) {
          if (p.port === undefined) continue;
          b.srv(base, p.port, owner);
          if (p.name) b.srv(`_${p.name.toLowerCase()}.${protoLabel(p.protocol)}.${base}`, p.port, owner);
        }
      }
    }
  }
  return { names: b.names, ptrs: b.ptrs };
}
