/**
 * A LeaseStore watch by polling: list every `pollMs`, diff against the last list, report what
 * appeared, changed or went. The SQLite store uses it, as SQLite has no change notifications
 * across processes (the etcd store has real watches: lease-store-etcd-watch.ts). After an outage
 * the first successful poll reports everything that changed meanwhile. Expiry needs no event:
 * an expired lease simply stops being listed.
 */

import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Lease, LeaseEvent, LeaseWatch } from '../ports/lease-store.js';

const identity = (l: Lease) => JSON.stringify([l.publicIp, l.backendType, l.backendData, l.nodeName ?? '']);

/** Without a change hint, or with one, at least this often a full list (ms). */
const FULL_LIST_MS = 5_000;

/**
 * `changed`, when the store has a cheap way to tell (SQLite's data_version), says whether anything
 * was written since it was last asked: polls without a write skip the list, except when a known
 * lease may have expired meanwhile (expiry writes nothing) and at least every FULL_LIST_MS.
 */
export async function pollingWatch(
  list: () => Promise<Lease[]>,
  clock: Clock,
  pollMs: number,
  onEvent: (e: LeaseEvent) => void,
  onError?: (err: Error) => void,
  changed?: () => boolean,
  /** Subscribes to a hint that the store was written (inotify on its file); returns the stop. */
  subscribeWake?: (wake: () => void) => () => void,
): Promise<LeaseWatch> {
  changed?.();
  const first = await list();
  let known = new Map(first.map((l) => [l.subnet, identity(l)]));
  const nextDue = (leases: Lease[]) => Math.min(clock.now() + FULL_LIST_MS, ...leases.map((l) => l.expiresAt));
  let due = nextDue(first);
  let stopped = false;
  let failing = false;
  let timer: TimerHandle | undefined;
  let polling = false;
  let again = false;
  const poll = async () => {
    if (stopped) return;
    if (polling) {
      again = true;
      return;
    }
    polling = true;
    timer?.cancel();
    try {
      if (changed && !failing && !changed() && clock.now() < due) return;
      const now = await list();
      due = nextDue(now);
      const next = new Map(now.map((l) => [l.subnet, identity(l)]));
      for (const l of now) if (known.get(l.subnet) !== next.get(l.subnet)) onEvent({ type: 'added', lease: l });
      for (const s of known.keys()) if (!next.has(s)) onEvent({ type: 'removed', subnet: s });
      known = next;
      failing = false;
    } catch (err) {
      // Reported once per outage, not once per poll.
      if (!failing) onError?.(err instanceof Error ? err : new Error(String(err)));
      failing = true;
    } finally {
      polling = false;
      if (!stopped) {
        // The next look: at the latest after pollMs, or as soon as a known lease may expire.
        timer = clock.setTimeout(() => void poll(), Math.max(1, Math.min(pollMs, due - clock.now())));
        if (again) {
          again = false;
          void poll();
        }
      }
    }
  };
  timer = clock.setTimeout(() => void poll(), pollMs);
  // A wake can come a moment before the commit it announces is visible (SQLite appends to the
  // WAL, then publishes the commit): a second look 20 ms later catches it.
  let recheck: TimerHandle | undefined;
  const unsubscribe = subscribeWake?.(() => {
    void poll();
    recheck ??= clock.setTimeout(() => {
      recheck = undefined;
      void poll();
    }, 20);
  });
  return {
    stop: async () => {
      stopped = true;
      timer?.cancel();
      recheck?.cancel();
      unsubscribe?.();
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
