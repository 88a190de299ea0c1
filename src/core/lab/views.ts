/**
 * What `weft get` prints, as kubectl prints it: aligned tables (default and `-o wide`) of the
 * columns the kinds registry (core/k8s/kinds.ts) names, and the documents of `-o json|yaml` (the
 * stored object with the metadata and status the API server would add). Pure: the caller passes
 * `now` for ages.
 */

import { namespaceOf, type K8sKind, type K8sObject, type ObjectOfKind, type Pod } from '../k8s/objects.js';
import { KIND_INFO, type PrinterColumn } from '../k8s/kinds.js';
import type { NodeInfo, Stored } from '../../ports/object-store.js';
import { segmentCidr, segmentOfAddress } from './lab-spec.js';

export interface Rows {
  header: string[];
  rows: string[][];
}

export interface ViewOptions {
  wide?: boolean;
  allNamespaces?: boolean;
  /** The lab's segment count: with two or more, nodes get a SEGMENT column (one segment: the table as always). */
  segments?: number;
  /**
   * Nodes: the network daemon each node runs ("weft", "flanneld"), for labs that run a peer on
   * some nodes (`--peer`): an AGENT column after BACKEND. Absent: the table as always.
   */
  daemons?: Readonly<Record<string, string>>;
}

/** kubectl's HumanDuration: 90s, 3m12s, 45m, 3h5m, 30h, 3d4h, 120d, 3y. */
export function formatAge(fromIso: string, now: number): string {
  const from = Date.parse(fromIso);
  if (Number.isNaN(from)) return '<unknown>';
  const s = Math.max(0, Math.floor((now - from) / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(s / 3600);
  const d = Math.floor(h / 24);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (h < 3) return `${m}m`;
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

/** Columns padded to their widest cell plus 3 spaces, as kubectl's tabwriter does. */
export function renderTable(header: readonly string[], rows: readonly string[][]): string {
  return alignColumns([header.map((h) => h.toUpperCase()), ...rows]);
}

/** renderTable without the upper-cased header: every line as given, aligned. */
export function alignColumns(all: readonly (readonly string[])[]): string {
  const widths = (all[0] ?? []).map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return (
    all
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3)))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function noResources(namespace: string | undefined): string {
  return namespace === undefined ? 'No resources found\n' : `No resources found in ${namespace} namespace.\n`;
}

/** Natural order for names like n2 < n10. */
function natural(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** The rows of stored objects of one kind, with the registry's columns (NAMESPACE first with -A). */
export function objectRows<K extends K8sKind>(
  kind: K,
  items: readonly Stored<ObjectOfKind<K>>[],
  now: number,
  o: ViewOptions,
): Rows {
  const info = KIND_INFO[kind];
  const columns = (info.columns as ReadonlyArray<PrinterColumn<ObjectOfKind<K>>>).filter((c) => o.wide || !c.wide);
  const withNamespace = o.allNamespaces === true && info.scope === 'Namespaced';
  const header = [...(withNamespace ? ['namespace'] : []), ...columns.map((c) => c.name)];
  const rows = items.map((s) => {
    const obj: K8sObject = s.object;
    const namespace = namespaceOf(obj);
    return [
      ...(withNamespace ? [namespace] : []),
      ...columns.map((c) =>
        c.cell === 'age' ? formatAge(s.meta.creationTimestamp, now) : c.cell(s.object, { wide: o.wide === true }),
      ),
    ];
  });
  return { header, rows };
}

export const podRows = (items: readonly Stored<Pod>[], now: number, o: ViewOptions): Rows =>
  objectRows('Pod', items, now, o);

export function nodeRows(nodes: readonly NodeInfo[], now: number, o: ViewOptions): Rows {
  const segments = o.segments ?? 1;
  const segmented = segments > 1;
  const header = [
    'name',
    'status',
    'subnet',
    'public-ip',
    ...(segmented ? ['segment'] : []),
    'backend',
    ...(o.daemons ? ['agent'] : []),
    ...(o.wide ? ['heartbeat', 'message'] : []),
  ];
  const segmentOf = (ip: string) => {
    const k = segmentOfAddress(ip, segments);
    return k === undefined ? '<none>' : segmentCidr(k);
  };
  const rows = [...nodes]
    .sort((a, b) => natural(a.name, b.name))
    .map((n) => [
      n.name,
      n.ready ? 'Ready' : 'NotReady',
      n.podCIDR ?? '<none>',
      n.internalIP,
      ...(segmented ? [segmentOf(n.internalIP)] : []),
      n.backend ?? '<none>',
      ...(o.daemons ? [o.daemons[n.name] ?? '<unknown>'] : []),
      ...(o.wide ? [formatAge(n.heartbeat, now), n.message ?? ''] : []),
    ]);
  return { header, rows };
}

type Doc = Record<string, unknown>;

/** The stored object with the metadata the API server adds. */
export function objectDocument(s: Stored): Doc {
  return {
    ...s.object,
    metadata: {
      ...s.object.metadata,
      uid: s.meta.uid,
      resourceVersion: String(s.meta.resourceVersion),
      creationTimestamp: s.meta.creationTimestamp,
    },
  };
}

/** A pod as the API server returns it: one the node has not reported on yet is Pending. */
export function podDocument(s: Stored<Pod>): Doc {
  return { ...objectDocument(s), status: s.object.status ?? { phase: 'Pending' } };
}

export function nodeDocument(n: NodeInfo): Doc {
  const annotations: Record<string, string> = { 'flannel.alpha.coreos.com/public-ip': n.internalIP };
  if (n.backend) annotations['flannel.alpha.coreos.com/backend-type'] = n.backend;
  const ready: Doc = { type: 'Ready', status: n.ready ? 'True' : 'False', lastHeartbeatTime: n.heartbeat };
  if (n.message) ready.message = n.message;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n.name, annotations },
    spec: n.podCIDR ? { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] } : {},
    status: { addresses: [{ type: 'InternalIP', address: n.internalIP }], conditions: [ready] },
  };
}

export function toList(items: readonly Doc[]): Doc {
  return { apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } };
}
