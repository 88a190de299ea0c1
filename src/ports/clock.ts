/**
 * Clock: time and timers, injected so that loops with retries, leases and resyncs are testable
 * without waiting. The real one is `systemClock` in src/adapters/clock.ts.
 */

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls fn once after ms; the handle cancels it. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}
