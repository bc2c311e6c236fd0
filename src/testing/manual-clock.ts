import type { Clock, TimerHandle } from '../clock.js';
import { MinHeap } from '../queue/min-heap.js';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** Lets every pending promise callback and I/O callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A clock that moves only when told: pass it as the pool's `clock` and drive
 * limits, pauses and backoff in tests without sleeping.
 *
 * @example
 * const clock = new ManualClock();
 * const pool = new KimiPool({ keys, clock });
 * await clock.advance(60_000); // runs every timer due in the next minute, in order
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new MinHeap<Timer>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq));

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    if (handle !== null && typeof handle === 'object') (handle as Timer).cancelled = true;
  }

  /** Number of timers still pending. */
  get pending(): number {
    let n = 0;
    for (const t of this.timersSnapshot()) if (!t.cancelled) n++;
    return n;
  }

  /** Moves time forward by `ms`, firing due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.t + ms);
  }

  /** Moves time to `target` (never backwards). */
  async advanceTo(target: number): Promise<void> {
    await settle();
    for (;;) {
      const next = this.timers.peek();
      if (next === undefined || next.at > target) break;
      this.timers.pop();
      if (next.cancelled) continue;
      if (next.at > this.t) this.t = next.at;
      next.fn();
      await settle();
    }
    if (target > this.t) this.t = target;
    await settle();
  }

  /**
   * Runs timers until `done()` is true or no timer is left; throws after
   * `limitMs` of clock time so a stuck test fails instead of hanging.
   */
  async runUntil(done: () => boolean, limitMs = 1e9): Promise<void> {
    const end = this.t + limitMs;
    await settle();
    while (!done()) {
      const next = this.timers.peek();
      if (next === undefined) {
        await settle();
        if (done()) return;
        throw new Error(`ManualClock.runUntil: no timer left at t=${this.t} and the condition is still false`);
      }
      if (next.at > end) throw new Error(`ManualClock.runUntil: condition still false after ${limitMs} ms`);
      this.timers.pop();
      if (next.cancelled) continue;
      if (next.at > this.t) this.t = next.at;
      next.fn();
      await settle();
    }
  }

  private timersSnapshot(): Timer[] {
    const all = this.timers.drain();
    for (const t of all) this.timers.push(t);
    return all;
  }
}
