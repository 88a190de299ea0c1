/**
 * The one registry of the kinds weft stores: for each, its apiVersion, scope, schema (the strict
 * zod decoder of schema-*.ts), the names kubectl knows it by (singular, plural, short names; the
 * group qualifies them in messages: networkpolicy.networking.k8s.io/deny) and the columns
 * `weft get` prints (kubectl's additionalPrinterColumns, `wide` ones only with -o wide).
 *
 * Parsing, `weft apply` / `weft get` and the cluster cache all read it, so adding a kind (more
 * Service types' objects, later Gateway) means one type in objects.ts, one schema and one entry
 * here. Nodes are not stored objects (the pod runners register them, see ObjectStore.putNode);
 * `NODE_RESOURCE` gives their names for `weft get` only.
 */

import type { z } from 'zod';
import type { K8sKind, K8sObject, ObjectOfKind } from './objects.js';

export type { K8sKind, K8sObject, ObjectOfKind } from './objects.js';
import { isPodReady, podRestarts, podStatusReason } from './pod-status.js';
import { formatLabelSelector, isEmptySelector } from './selector.js';
import { NETWORK_POLICY } from './schema-policy.js';
import { ENDPOINT_SLICE, NAMESPACE, POD, SERVICE } from './schema-workloads.js';
import { INGRESS, INGRESS_CLASS, SECRET } from './schema-ingress.js';
import {
  ingressAddress,
  ingressClassOf,
  ingressHosts,
  ingressPorts,
  serviceExternalIp,
  servicePorts,
  sliceEndpointPorts,
  sliceEndpoints,
} from './printers.js';

export type KindScope = 'Namespaced' | 'Cluster';

/** A column of `weft get`: a cell from the object, or the object's age (from its creation time). */
export interface PrinterColumn<T> {
  name: string;
  /** Only with -o wide. */
  wide?: boolean;
  cell: ((obj: T, o: { wide: boolean }) => string) | 'age';
}

export interface KindInfo<K extends K8sKind> {
  kind: K;
  apiVersion: ObjectOfKind<K>['apiVersion'];
  /** The API group ("" for core/v1). */
  group: string;
  scope: KindScope;
  schema: z.ZodType<ObjectOfKind<K>, z.ZodTypeDef, unknown>;
  singular: string;
  plural: string;
  shortNames: readonly string[];
  /** Without the NAMESPACE column, which `-A` adds for namespaced kinds. */
  columns: ReadonlyArray<PrinterColumn<ObjectOfKind<K>>>;
}

export function labelsText(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? '<none>' : keys.map((k) => `${k}=${labels[k]}`).join(',');
}

export const KIND_INFO: { readonly [K in K8sKind]: KindInfo<K> } = {
  Namespace: {
    kind: 'Namespace',
    apiVersion: 'v1',
    group: '',
    scope: 'Cluster',
    schema: NAMESPACE,
    singular: 'namespace',
    plural: 'namespaces',
    shortNames: ['ns'],
    columns: [
      { name: 'name', cell: (n) => n.metadata.name },
      { name: 'status', cell: () => 'Active' },
      { name: 'age', cell: 'age' },
      { name: 'labels', wide: true, cell: (n) => labelsText(n.metadata.labels) },
    ],
  },
  Pod: {
    kind: 'Pod',
    apiVersion: 'v1',
    group: '',
    scope: 'Namespaced',
    schema: POD,
    singular: 'pod',
    plural: 'pods',
    shortNames: ['po'],
    columns: [
      { name: 'name', cell: (p) => p.metadata.name },
      {
        name: 'ready',
        // Per container when the node reports them (program containers); else the pod's Ready condition stands for all.
        cell: (p) => {
          const n = p.spec.containers.length;
          const cs = p.status?.containerStatuses;
          const ready = cs ? cs.filter((c) => c.ready).length : isPodReady(p) ? n : 0;
          return `${ready}/${n}`;
        },
      },
      // As kubectl: Terminating while being deleted, else a container's reason (CrashLoopBackOff, Completed, Error…), else the phase.
      { name: 'status', cell: (p) => podStatusReason(p) },
      { name: 'restarts', cell: (p) => String(podRestarts(p)) },
      { name: 'age', cell: 'age' },
      { name: 'ip', wide: true, cell: (p) => p.status?.podIP ?? '<none>' },
      { name: 'node', wide: true, cell: (p) => p.spec.nodeName ?? '<none>' },
    ],
  },
  NetworkPolicy: {
    kind: 'NetworkPolicy',
    apiVersion: 'networking.k8s.io/v1',
    group: 'networking.k8s.io',
    scope: 'Namespaced',
    schema: NETWORK_POLICY,
    singular: 'networkpolicy',
    plural: 'networkpolicies',
    shortNames: ['netpol'],
    columns: [
      { name: 'name', cell: (p) => p.metadata.name },
      {
        name: 'pod-selector',
        cell: (p) => (isEmptySelector(p.spec.podSelector) ? '<none>' : formatLabelSelector(p.spec.podSelector)),
      },
      { name: 'age', cell: 'age' },
      { name: 'policy-types', wide: true, cell: (p) => p.spec.policyTypes.join(',') },
    ],
  },
  Service: {
    kind: 'Service',
    apiVersion: 'v1',
    group: '',
    scope: 'Namespaced',
    schema: SERVICE,
    singular: 'service',
    plural: 'services',
    shortNames: ['svc'],
    columns: [
      { name: 'name', cell: (s) => s.metadata.name },
      { name: 'type', cell: (s) => s.spec.type },
      { name: 'cluster-ip', cell: (s) => s.spec.clusterIP ?? '<none>' },
      { name: 'external-ip', cell: (s, o) => serviceExternalIp(s, o.wide) },
      { name: 'port(s)', cell: servicePorts },
      { name: 'age', cell: 'age' },
      { name: 'selector', wide: true, cell: (s) => (s.spec.selector ? labelsText(s.spec.selector) : '<none>') },
    ],
  },
  EndpointSlice: {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    group: 'discovery.k8s.io',
    scope: 'Namespaced',
    schema: ENDPOINT_SLICE,
    singular: 'endpointslice',
    plural: 'endpointslices',
    shortNames: [],
    columns: [
      { name: 'name', cell: (e) => e.metadata.name },
      { name: 'addresstype', cell: (e) => e.addressType },
      { name: 'ports', cell: sliceEndpointPorts },
      { name: 'endpoints', cell: sliceEndpoints },
      { name: 'age', cell: 'age' },
    ],
  },
  Ingress: {
    kind: 'Ingress',
    apiVersion: 'networking.k8s.io/v1',
    group: 'networking.k8s.io',
    scope: 'Namespaced',
    schema: INGRESS,
    singular: 'ingress',
    plural: 'ingresses',
    shortNames: ['ing'],
    columns: [
      { name: 'name', cell: (i) => i.metadata.name },
      { name: 'class', cell: (i) => ingressClassOf(i) ?? '<none>' },
      { name: 'hosts', cell: ingressHosts },
      { name: 'address', cell: ingressAddress },
      { name: 'ports', cell: ingressPorts },
      { name: 'age', cell: 'age' },
      // weft's own: the controller's verdict on its last render (Configured, or the nginx error).
      {
        name: 'configured',
        wide: true,
        cell: (i) => {
          const c = i.status?.conditions?.find((x) => x.type === 'Configured');
          return c === undefined ? '<unknown>' : c.status === 'True' ? 'True' : `False: ${c.message}`;
        },
      },
    ],
  },
  IngressClass: {
    kind: 'IngressClass',
    apiVersion: 'networking.k8s.io/v1',
    group: 'networking.k8s.io',
    scope: 'Cluster',
    schema: INGRESS_CLASS,
    singular: 'ingressclass',
    plural: 'ingressclasses',
    shortNames: [],
    columns: [
      { name: 'name', cell: (c) => c.metadata.name },
      { name: 'controller', cell: (c) => c.spec.controller },
      { name: 'parameters', cell: () => '<none>' },
      { name: 'age', cell: 'age' },
    ],
  },
  // `weft get secrets` prints no data (kubectl's DATA column is the number of keys); -o yaml and -o json show it.
  Secret: {
    kind: 'Secret',
    apiVersion: 'v1',
    group: '',
    scope: 'Namespaced',
    schema: SECRET,
    singular: 'secret',
    plural: 'secrets',
    shortNames: [],
    columns: [
      { name: 'name', cell: (s) => s.metadata.name },
      { name: 'type', cell: (s) => s.type },
      { name: 'data', cell: (s) => String(Object.keys(s.data).length) },
      { name: 'age', cell: 'age' },
    ],
  },
};

/** Every stored kind, in registry order. */
export const SUPPORTED_KINDS = Object.keys(KIND_INFO) as K8sKind[];

/** The apiVersion each kind must be written with. */
export const API_VERSIONS = Object.fromEntries(SUPPORTED_KINDS.map((k) => [k, KIND_INFO[k].apiVersion])) as Readonly<
  Record<K8sKind, K8sObject['apiVersion']>
>;

/** kubectl's names of a kind in messages: pod, networkpolicy.networking.k8s.io (and their plurals). */
export function resourceNames(kind: K8sKind): { singular: string; plural: string } {
  const { singular, plural, group } = KIND_INFO[kind];
  const q = (n: string) => (group === '' ? n : `${n}.${group}`);
  return { singular: q(singular), plural: q(plural) };
}

/** The kind a `weft get` argument names (plural, singular, short name, kind, or a group-qualified name), any case. */
export function kindNamed(arg: string): K8sKind | undefined {
  const a = arg.toLowerCase();
  return SUPPORTED_KINDS.find((k) => {
    const i = KIND_INFO[k];
    const names = [i.plural, i.singular, ...i.shortNames, k.toLowerCase()];
    return names.includes(a) || (i.group !== '' && names.some((n) => `${n}.${i.group}` === a));
  });
}

/** Nodes, for `weft get` (not a stored kind). */
export const NODE_RESOURCE = { singular: 'node', plural: 'nodes', shortNames: ['no'] } as const;
