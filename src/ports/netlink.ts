/**
 * Netlink: the backends' own small port to the kernel (separate from Links, which serves the CNI
 * plugins): it reads the state weft's backends own in one network namespace (the weft VXLAN
 * devices, routes with weft's protocol number, the neighbours and FDB entries on those devices)
 * and applies a change list computed by src/core/backend/diff.ts. The real implementation is
 * src/adapters/netlink-iproute2.ts (iproute2 JSON listings and batches).
 */

import type { ActualBackendState, BackendChange } from '../core/backend/state.js';

export interface Netlink {
  /**
   * The backend state in the namespace. Nothing found is an empty list in each field (a
   * namespace without weft's state reads as { devices: [], routes: [], neighbours: [], fdb: [] }).
   * Objects that are not weft's (other devices, routes of other protocols) are never returned.
   */
  read(): Promise<ActualBackendState>;
  /**
   * Applies the changes in order, as few processes as possible (one `ip -batch`, one `bridge
   * -batch`). An empty list runs nothing. On failure it throws, naming the change list; the
   * batch may have been applied partly, which the next read-diff-apply repairs.
   */
  apply(changes: readonly BackendChange[]): Promise<void>;
}
