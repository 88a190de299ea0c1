/**
 * A LeaseStore watch by polling: list every `pollMs`, diff against the last list, report what
 * appeared, changed or went. Both stores use it: SQLite has no change notifications across
 * processes, and for etcd polling survives an outage with no reconnect logic (the first
 * successful poll after it reports everything that changed meanwhile). Expiry needs no event:
 * an expired lease simply stops being listed.
 */

import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Lease, LeaseEvent, LeaseWatch } from '../ports/lease-store.js';

const identity = (l: Lease) => JSON.stringify([l.publicIp, l.backendType, l.backendData, l.nodeName ?? '']);

export async function pollingWatch(
  list: () => Promise<Lease[]>,
  clock: Clock,
  pollMs: number,
  onEvent: (e: LeaseEvent) => void,
  onError?: (err: Error) => void,
): Promise<LeaseWatch> {
  let known = new Map((await list()).map((l) => [l.subnet, identity(l)]));
  let stopped = false;
  let failing = false;
  let timer: TimerHandle | undefined;
  const poll = async () => {
    if (stopped) return;
    try {
      const now = await list();
      const next = new Map(now.map((l) => [l.subnet, identity(l)]));
      for (const l of now) if (known.get(l.subnet) !== next.get(l.subnet)) onEvent({ type: 'added', lease: l });
      for (const s of known.keys()) if (!next.has(s)) onEvent({ type: 'removed', subnet: s });
      known = next;
      failing = false;
    } catch (err) {
      // Reported once per outage, not once per poll.
      if (!failing) onError?.(err instanceof Error ? err : new Error(String(err)));
      failing = true;
    }
    if (!stopped) timer = clock.setTimeout(() => void poll(), pollMs);
  };
  timer = clock.setTimeout(() => void poll(), pollMs);
  return {
    stop: async () => {
      stopped = true;
      timer?.cancel();
    },
  };
}

/** The watches a store has handed out, so that close() can stop every one of them. */
export class WatchRegistry {
  private readonly live = new Set<LeaseWatch>();

  /** Wraps a watch so that stopping it also forgets it. */
  track(inner: LeaseWatch): LeaseWatch {
    const w: LeaseWatch = {
      stop: async () => {
        await inner.stop();
        this.live.delete(w);
      },
    };
    this.live.add(w);
    return w;
  }

  async stopAll(): Promise<void> {
    for (const w of [...this.live]) await w.stop();
  }
}
