/**
 * The backend reconciler: makes the kernel of one node match the desired backend state (from
 * src/core/backend/plan.ts) by reading what is there, diffing, and applying only the difference,
 * so that running it again, or after an agent restart, changes nothing that is already right
 * and drops no packet of an established flow. The agent calls it from its sync runner on every
 * lease event, config change and periodic resync; the same call switches backends (a host-gw
 * plan has no VXLAN device, so the old device goes, and the routes become host-gw's).
 *
 * Calls must not overlap for one namespace (the agent's SyncRunner guarantees that): two
 * concurrent read-diff-apply rounds could each add what the other already added.
 *
 * `teardown()` is reconcile towards "no backend": every weft VXLAN device and every route with
 * weft's protocol number goes, nothing else (the agent's `cleanup`).
 */

import { describeChange, diffBackend } from '../core/backend/diff.js';
import { noBackend, type BackendChange, type DesiredBackendState, type PeerError } from '../core/backend/state.js';
import type { Netlink } from '../ports/netlink.js';

export interface ReconcileSummary {
  /** The changes applied, in order; empty when the kernel already matched. */
  changes: BackendChange[];
  /** describeChange() of each change, for logs. */
  described: string[];
  /** Peers the plan could not serve (passed through from the desired state). */
  peerErrors: PeerError[];
}

export class BackendReconcileError extends Error {
  override readonly name = 'BackendReconcileError';
}

export class BackendReconciler {
  constructor(private readonly netlink: Netlink) {}

  /** Reads the kernel, applies the difference to `desired`, and says what it did. */
  async reconcile(desired: DesiredBackendState): Promise<ReconcileSummary> {
    const changes = await this.converge(desired, `reconcile ${desired.type} backend`);
    return { changes, described: changes.map(describeChange), peerErrors: desired.errors };
  }

  /** Removes every weft VXLAN device and weft-protocol route; returns what it removed. */
  async teardown(): Promise<ReconcileSummary> {
    const changes = await this.converge(noBackend(), 'tear down backend');
    return { changes, described: changes.map(describeChange), peerErrors: [] };
  }

  private async converge(desired: DesiredBackendState, action: string): Promise<BackendChange[]> {
    const actual = await this.netlink.read();
    const changes = diffBackend(desired, actual);
    if (changes.length === 0) return changes;
    try {
      await this.netlink.apply(changes);
    } catch (err) {
      const list = changes.map(describeChange).join('; ');
      throw new BackendReconcileError(
        `${action}: applying ${changes.length} change(s) failed (${list}): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    return changes;
  }
}
