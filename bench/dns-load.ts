/**
 * The DNS benchmark's cluster and its clients: N Services spread over a few namespaces, each
 * with one EndpointSlice of K made-up endpoints, written to a lab's SQLite object store as the
 * lab's `weft apply` leaves them (the parser's defaults, one commit per chunk); the same names
 * as a hosts file for dnsmasq and as a dnsperf query file; and a small UDP DNS client
 * (dns-packet) for the checks and the creation-to-answer polling.
 *
 * ClusterIPs are 10.100.0.0/16 and up (Service i: 10.(100 + i>>16).(i>>8 & 255).(i & 255)),
 * endpoints 172.16.0.0/12; nothing is dialled.
 */

import { createSocket, type Socket } from 'node:dgram';
import * as packet from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import { parseManifestLocated } from '../src/core/k8s/parse.js';
import type { EndpointSlice, K8sObject, Namespace, Service } from '../src/core/k8s/objects.js';
import type { ObjectStore } from '../src/ports/object-store.js';

export interface DnsLoad {
  services: number;
  namespaces: number;
  endpointsPerService: number;
  /** Headless Services (clusterIP None): their names answer with the endpoints instead. */
  headless?: boolean;
}

export const loadNamespace = (k: number): string => `dns-${k}`;
export const loadServiceName = (i: number): string => `s${i}`;
export const loadServiceNs = (l: DnsLoad, i: number): string => loadNamespace(i % l.namespaces);
export const loadFqdn = (l: DnsLoad, i: number, zone = 'cluster.local'): string =>
  `${loadServiceName(i)}.${loadServiceNs(l, i)}.svc.${zone}`;
export const loadClusterIp = (i: number): string => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const endpointIp = (i: number, j: number, perService: number): string => {
  const n = i * perService + j;
  return `172.${16 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
};

/** One object of each kind through the parser, so the clones below carry exactly its defaults. */
function template<T extends K8sObject>(doc: object): T {
  return parseManifestLocated(JSON.stringify(doc))[0]!.object as T;
}

export function namespaceObject(name: string): Namespace {
  return template<Namespace>({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

export function serviceObject(ns: string, name: string, clusterIP: string): Service {
  return template<Service>({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { clusterIP, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }] },
  });
}

/** The objects of the load (Namespaces first), made by cloning parsed templates (parsing 20,000 takes seconds). */
export function loadObjects(l: DnsLoad): K8sObject[] {
  const svc = serviceObject('t', 't', l.headless ? 'None' : '10.100.0.0');
  const slice = template<EndpointSlice>({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 't-1', namespace: 't', labels: { 'kubernetes.io/service-name': 't' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints: [{ addresses: ['172.16.0.1'], conditions: { ready: true } }],
  });
  const out: K8sObject[] = Array.from({ length: l.namespaces }, (_, k) => namespaceObject(loadNamespace(k)));
  for (let i = 0; i < l.services; i++) {
    const ns = loadServiceNs(l, i);
    const name = loadServiceName(i);
    out.push({
      ...svc,
      metadata: { ...svc.metadata, namespace: ns, name },
      spec: { ...svc.spec, clusterIP: l.headless ? 'None' : loadClusterIp(i) },
    });
    if (l.endpointsPerService === 0) continue;
    out.push({
      ...slice,
      metadata: { ...slice.metadata, namespace: ns, name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
      endpoints: Array.from({ length: l.endpointsPerService }, (_, j) => ({
        ...slice.endpoints[0]!,
        addresses: [endpointIp(i, j, l.endpointsPerService)],
      })),
    });
  }
  return out;
}

/** Writes the load to the store, `chunk` objects a commit (as a large `weft apply -f` would). */
export async function fillStore(store: ObjectStore, l: DnsLoad, chunk = 5000): Promise<number> {
  const objects = loadObjects(l);
  for (let at = 0; at < objects.length; at += chunk)
    await store.commit({ put: objects.slice(at, at + chunk), delete: [] });
  return objects.length;
}

/** dnsmasq's addn-hosts file: the same names to the same addresses. */
export const loadHostsFile = (l: DnsLoad): string =>
  Array.from({ length: l.services }, (_, i) => `${loadClusterIp(i)} ${loadFqdn(l, i)}\n`).join('');

/** dnsperf's query file: one query per Service name and type (A, or A and AAAA). */
export const loadQueryFile = (l: DnsLoad, types: readonly string[] = ['A']): string =>
  Array.from({ length: l.services }, (_, i) => types.map((t) => `${loadFqdn(l, i)} ${t}\n`).join('')).join('');

/** A UDP DNS client on one socket: answers are matched to questions by id; a lost one times out. */
export class DnsClient {
  private readonly sock: Socket;
  private readonly waiting = new Map<number, (p: DecodedPacket | undefined) => void>();
  private nextId = 0;

  /** To `host`:`port`; over `sock` when given (e.g. a socket made in a pod's namespace), else a new one. */
  constructor(
    private readonly port: number,
    private readonly host = '127.0.0.1',
    sock?: Socket,
  ) {
    this.sock = sock ?? createSocket('udp4');
    this.sock.on('message', (buf) => {
      if (buf.length < 2) return;
      const resolve = this.waiting.get(buf.readUInt16BE(0));
      if (!resolve) return;
      this.waiting.delete(buf.readUInt16BE(0));
      try {
        resolve(packet.decode(buf));
      } catch {
        resolve(undefined); // an undecodable answer counts as none
      }
    });
  }

  /** The answer to `name` `type`; undefined when none came within `timeoutMs`. */
  ask(name: string, type: 'A' | 'AAAA' = 'A', timeoutMs = 1000): Promise<DecodedPacket | undefined> {
    let id = 0;
    for (let tries = 0; tries < 65536; tries++) {
      id = this.nextId = (this.nextId + 1) & 0xffff;
      if (!this.waiting.has(id)) break;
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(id, (p) => {
        clearTimeout(timer);
        resolve(p);
      });
      this.sock.send(
        packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ name, type }] }),
        this.port,
        this.host,
      );
    });
  }

  close(): void {
    this.sock.close();
  }
}

export const rcodeOf = (p: DecodedPacket): string =>
  ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'][(p.flags ?? 0) & 0xf] ?? 'OTHER';

/** The A addresses of an answer, sorted. */
export const addressesOf = (p: DecodedPacket): string[] =>
  (p.answers ?? []).flatMap((a) => (a.type === 'A' ? [a.data] : [])).sort();
