/**
 * A strict sliding window: it keeps every accepted arrival with its weight, so
 * "how much arrived in (now - length, now]" is exact at every instant. Fixed
 * buckets would let a client burst twice the limit across a bucket edge, and
 * the simulator exists to catch exactly that.
 */
export class SlidingWindow {
  /** Length of the window in ms. */
  readonly lengthMs: number;
  // Parallel arrays used as a queue; `#head` is the first live entry.
  #times: number[] = [];
  #weights: number[] = [];
  #head = 0;
  #count = 0;
  #total = 0;

  /** @param lengthMs length of the window in ms (> 0). */
  constructor(lengthMs: number) {
    this.lengthMs = lengthMs;
  }

  /** Records an arrival at `t` (ms, non-decreasing) with `weight` (1 for RPM, tokens for TPM). */
  add(t: number, weight: number): void {
    this.#times.push(t);
    this.#weights.push(weight);
    this.#count += 1;
    this.#total += weight;
  }

  /** Number of arrivals in (now - length, now]. */
  count(now: number): number {
    this.#prune(now);
    return this.#count;
  }

  /** Sum of weights in (now - length, now]. */
  total(now: number): number {
    this.#prune(now);
    return this.#total;
  }

  /** Time of the oldest arrival still in the window, or `undefined` when empty. */
  oldest(now: number): number | undefined {
    this.#prune(now);
    return this.#count > 0 ? this.#times[this.#head] : undefined;
  }

  #prune(now: number): void {
    // An arrival at t leaves the window once now - t >= length: the window is (now - length, now].
    while (this.#count > 0 && now - (this.#times[this.#head] as number) >= this.lengthMs) {
      this.#total -= this.#weights[this.#head] as number;
      this.#head += 1;
      this.#count -= 1;
    }
    if (this.#count === 0) this.#total = 0; // drop float drift once empty
    // Compact now and then so a long run does not keep dead entries forever.
    if (this.#head > 1024 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#weights = this.#weights.slice(this.#head);
      this.#head = 0;
    }
  }
}
