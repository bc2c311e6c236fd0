/**
 * Time, injected. Every limit, pause and backoff in the pool reads this clock,
 * so tests drive time by hand instead of sleeping.
 */

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** The pool's view of time. */
export interface Clock {
  /** Milliseconds on a monotonic scale (need not be the epoch). */
  now(): number;
  /**
   * Calls `fn` once after `ms`. Timers must not keep the process alive on their own
   * (the system clock unrefs them): an idle pool never holds the event loop.
   */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `performance.now()` and unref'd Node timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};
