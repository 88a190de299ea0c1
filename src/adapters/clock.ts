/**
 * The real Clock: Date.now and Node's timers. Timers are unref'd only when asked, so an agent's
 * loops keep the process alive while a CLI's short waits do not.
 */

import type { Clock, TimerHandle } from '../ports/clock.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number): TimerHandle => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};
