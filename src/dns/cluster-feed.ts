/**
 * Keeps the DNS server's ClusterIndex equal to the cluster cache: at start it files every
 * Namespace and Service (with its EndpointSlices); after each batch only the Services the batch
 * touched are filed again (a slice counts for the Service its label names now and the one it
 * named before), so a change is answered as soon as the cache has it, at the cost of that
 * Service alone. A fresh list (the cache's relist) files everything again.
 */

import type { ClusterCache } from '../agent/cluster-cache.js';
import { ClusterIndex } from '../core/dns/cluster-index.js';
import type { AnswerContext, PodMode } from '../core/dns/cluster-answer.js';
import type { K8sKind } from '../core/k8s/objects.js';
import { SERVICE_NAME_LABEL } from '../core/k8s/objects.js';
import type { ObjectKey } from '../core/k8s/object-key.js';
import type { ZoneSource } from './resolver.js';

/** The kinds the DNS server follows (Pods only when pod names are verified against them). */
export function feedKinds(pods: PodMode): K8sKind[] {
  return pods === 'verified'
    ? ['Namespace', 'Service', 'EndpointSlice', 'Pod']
    : ['Namespace', 'Service', 'EndpointSlice'];
}

export class ClusterFeed implements ZoneSource {
  readonly index: ClusterIndex;
  /** "ns/slice" → the Service its label named when it was last filed. */
  private readonly sliceService = new Map<string, string>();
  private readonly services = new Set<string>();
  private readonly namespaces = new Set<string>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly cache: ClusterCache,
    zone: string,
    private readonly pods: PodMode,
  ) {
    this.index = new ClusterIndex(zone);
  }

  /** Files the cache's current contents and follows its changes (the cache must be started). */
  start(): void {
    this.refileAll();
    this.unsubscribe = this.cache.subscribe(['Namespace', 'Service', 'EndpointSlice'], (_kinds, objects) => {
      if (objects === undefined) this.refileAll();
      else this.apply(objects);
    });
  }

  stop(): void {
    this.unsubscribe?.();
  }

  context(): AnswerContext {
    return {
      serial: this.cache.revision(),
      ...(this.pods === 'verified'
        ? { podNamespaces: (ip: string) => this.cache.podsWithIP(ip).map((p) => p.object.metadata.namespace) }
        : {}),
    };
  }

  private apply(objects: readonly ObjectKey[]): void {
    const touched = new Set<string>();
    for (const k of objects) {
      if (k.kind === 'Namespace') this.fileNamespace(k.name);
      else if (k.kind === 'Service') touched.add(`${k.namespace}/${k.name}`);
      else if (k.kind === 'EndpointSlice') {
        const key = `${k.namespace}/${k.name}`;
        const before = this.sliceService.get(key);
        if (before !== undefined) touched.add(`${k.namespace}/${before}`);
        const now = this.cache.get('EndpointSlice', k.namespace, k.name)?.object.metadata.labels[SERVICE_NAME_LABEL];
        if (now === undefined) this.sliceService.delete(key);
        else {
          this.sliceService.set(key, now);
          touched.add(`${k.namespace}/${now}`);
        }
      }
    }
    for (const s of touched) {
      const [ns, name] = s.split('/') as [string, string];
      this.fileService(ns, name);
    }
  }

  private fileService(ns: string, name: string): void {
    const svc = this.cache.service(ns, name)?.object;
    const key = `${ns}/${name}`;
    if (svc) this.services.add(key);
    else this.services.delete(key);
    const slices = svc ? this.cache.slicesOfService(ns, name).map((s) => s.object) : [];
    this.index.setService(ns, name, svc, slices);
  }

  private fileNamespace(name: string): void {
    const exists = this.cache.get('Namespace', '', name) !== undefined;
    if (exists) this.namespaces.add(name);
    else this.namespaces.delete(name);
    this.index.setNamespace(name, exists);
  }

  private refileAll(): void {
    const services = new Set(
      this.cache.list('Service').map((s) => `${s.object.metadata.namespace}/${s.object.metadata.name}`),
    );
    for (const gone of [...this.services].filter((s) => !services.has(s))) {
      const [ns, name] = gone.split('/') as [string, string];
      this.fileService(ns, name);
    }
    for (const s of services) {
      const [ns, name] = s.split('/') as [string, string];
      this.fileService(ns, name);
    }
    const namespaces = new Set(this.cache.list('Namespace').map((n) => n.object.metadata.name));
    for (const n of new Set([...this.namespaces, ...namespaces])) this.fileNamespace(n);
    this.sliceService.clear();
    for (const s of this.cache.list('EndpointSlice')) {
      const svc = s.object.metadata.labels[SERVICE_NAME_LABEL];
      if (svc !== undefined) this.sliceService.set(`${s.object.metadata.namespace}/${s.object.metadata.name}`, svc);
    }
  }
}
