/** What test/cluster-watch.test.ts and its child processes share: the record format of a change. */

import type { K8sKind } from '../../src/core/k8s/objects.js';
import type { Stored } from '../../src/ports/object-store.js';

export const ALL_KINDS: K8sKind[] = ['Namespace', 'Pod', 'NetworkPolicy', 'Service', 'EndpointSlice'];
export const LOG_LIMIT = 1_000_000;

/** What one change looks like in every record: the writers', the consumers' and the log's. */
export interface ChangeLine {
  type: string;
  kind: string;
  name: string;
  /** The pod's seq label and status message after the change ("" when absent). */
  mark: string;
  revision?: number;
}

export function markOf(s: Stored): string {
  const o = s.object;
  return `${o.metadata.labels.seq ?? ''}|${o.kind === 'Pod' ? (o.status?.message ?? '') : ''}`;
}
