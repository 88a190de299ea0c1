/**
 * The flow log of a whole lab as one bounded list, the way `weft ui` keeps it: every node's flows
 * (its ring read at start, then followed live) merged in time order, each flow once, and at most
 * `capacity` of them, the newest kept. A flow can arrive twice (the live stream and the ring read
 * overlap, and a node's ring is read again after its agent restarts), so a flow whose record is
 * already kept is not added again, as `weft flows -f` prints it once. Pure, so the bound and the
 * order are tested without a lab.
 */

import type { Flow } from './flow.js';

export class MergedFlowLog {
  /** Oldest first (ties: by node, as mergeFlows orders them). */
  private readonly flows: Flow[] = [];
  private readonly keys = new Set<string>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new Error(`flow log capacity ${capacity}: must be at least 1`);
  }

  /**
   * Adds a flow in its place by time; true when it is new and kept (false: already kept, or older
   * than every kept flow of a full log).
   */
  add(f: Flow): boolean {
    const key = JSON.stringify(f);
    if (this.keys.has(key)) return false;
    const before = (a: Flow, b: Flow) => a.time < b.time || (a.time === b.time && a.node.localeCompare(b.node) < 0);
    if (this.flows.length >= this.capacity && !before(this.flows[0]!, f)) return false;
    // Flows come mostly in time order: look for the place from the end.
    let at = this.flows.length;
    while (at > 0 && before(f, this.flows[at - 1]!)) at--;
    this.flows.splice(at, 0, f);
    this.keys.add(key);
    while (this.flows.length > this.capacity) this.keys.delete(JSON.stringify(this.flows.shift()));
    return true;
  }

  get size(): number {
    return this.flows.length;
  }

  /** The kept flows that `matches`, oldest first, at most the newest `limit` of them. */
  list(matches: (f: Flow) => boolean = () => true, limit = this.capacity): Flow[] {
    const out: Flow[] = [];
    for (let i = this.flows.length - 1; i >= 0 && out.length < limit; i--)
      if (matches(this.flows[i]!)) out.push(this.flows[i]!);
    return out.reverse();
  }
}
