/**
 * A busy event loop on demand: what a batch process that parses, writes or
 * computes between its requests does to the timers and sockets of the pool.
 */

/** What {@link stallEventLoop} does. */
export interface StallOptions {
  /** Ms between the starts of two stalls. */
  readonly everyMs: number;
  /** Ms each stall keeps the thread busy (nothing else runs meanwhile). */
  readonly forMs: number;
}

/**
 * Blocks the event loop for `forMs` every `everyMs` (a busy-wait on a timer,
 * unref'd so it never keeps the process alive) until the returned function is
 * called.
 * @throws {RangeError} when `forMs` is not below `everyMs` or either is not a positive number.
 * @example const stop = stallEventLoop({ everyMs: 1000, forMs: 150 }); ...; stop();
 */
export function stallEventLoop(options: StallOptions): () => void {
  const { everyMs, forMs } = options;
  if (!(typeof everyMs === 'number' && everyMs > 0 && Number.isFinite(everyMs))) throw new RangeError(`Expected \`everyMs\` to be a number of ms > 0, got \`${String(everyMs)}\``);
  if (!(typeof forMs === 'number' && forMs > 0 && forMs < everyMs)) throw new RangeError(`Expected \`forMs\` to be a number of ms > 0 and below everyMs (${everyMs}), got \`${String(forMs)}\``);
  const timer = setInterval(() => {
    const until = performance.now() + forMs;
    while (performance.now() < until) {
      // Busy: the point is to hold the thread.
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
