import type { Clock } from '../clock.js';

/**
 * The dispatcher's one timer: set for the earliest moment anything can start
 * (a window frees a start, a pause or a backoff ends), never for a later one
 * while an earlier is set. No polling.
 */
export class WakeTimer {
  private timer: unknown;
  private at = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly wake: () => void,
  ) {}

  /** Wakes at clock time `at`, unless already set to wake earlier. */
  set(at: number): void {
    if (this.timer !== undefined) {
      if (this.at <= at) return;
      this.clock.clearTimeout(this.timer);
    }
    this.at = at;
    // Requests wait on this timer: it keeps the process alive (a batch job that
    // only awaits its requests must not exit while they wait for a window).
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.at = Infinity;
        this.wake();
      },
      at - this.clock.now(),
      true,
    );
  }

  /** Nothing waits: no timer, which would hold an idle process open. */
  clear(): void {
    if (this.timer === undefined) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Infinity;
  }
}
