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
   * Calls `fn` once after `ms`. Only a timer with `keepAlive` holds the process
   * open (the pool's wake-up while requests wait for a window); every other one
   * is unref'd, so an idle pool never keeps the process alive.
   */
  setTimeout(fn: () => void, ms: number, keepAlive?: boolean): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The longest delay a Node timer holds (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The real clock: `performance.now()` and Node timers, unref'd unless `keepAlive`. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms, keepAlive) {
    // Node fires a delay above 2^31-1 ms (e.g. Infinity) after 1 ms: cap it instead.
    const t = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    if (keepAlive !== true) t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};
