/**
 * The last request starts of one account, as a ring buffer.
 * A new start is allowed when fewer than `limit` starts lie within the span
 * before it, i.e. once the oldest of the last `limit` starts is `span` old.
 * Starts not recorded yet (granted, not yet sent) count as later than any
 * recorded one: they will be recorded at the time they leave, which is now or
 * later. O(1) per check and per record; memory grows only as far as the
 * largest limit the account has had (a limit lowered for a moment, then raised
 * again, must still see every start of the window).
 */
export class StartLog {
  private ring: number[] = [];
  private next = 0;
  /** Entries kept: the largest finite limit seen. */
  private capacity: number;
  private limit: number;

  constructor(limit: number) {
    this.limit = limit;
    this.capacity = Number.isFinite(limit) ? limit : 0;
  }

  /**
   * Earliest time at which one more start keeps every window of `span` at or
   * under the limit, with `pending` starts still to be recorded (now or later).
   * `Infinity` when the pending ones alone fill the limit: ask again once one is recorded.
   */
  freeAt(span: number, pending = 0): number {
    if (this.limit === Infinity) return -Infinity;
    // The recorded start that must leave the window first: the k-th most recent.
    const k = this.limit - pending;
    if (k <= 0) return Infinity;
    const n = this.ring.length;
    if (n < k) return -Infinity;
    // Filling: oldest at 0; full: the newest is just before `next`.
    const i = n < this.capacity ? n - k : (this.next - k + this.capacity) % this.capacity;
    return (this.ring[i] as number) + span;
  }

  record(t: number): void {
    if (this.limit === Infinity || this.capacity === 0) return;
    if (this.ring.length < this.capacity) {
      // Still filling: append in order; the oldest stays at index 0 (= next).
      this.ring.push(t);
      return;
    }
    this.ring[this.next] = t;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Number of recorded starts later than `since`. */
  countSince(since: number): number {
    let n = 0;
    for (const t of this.ring) if (t > since) n++;
    return n;
  }

  /** The recorded starts, oldest first. */
  times(): number[] {
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }

  /** Replaces the recorded starts with `times` (sorted, oldest first); keeps the latest that fit. */
  replace(times: readonly number[]): void {
    this.ring = this.capacity === 0 ? [] : times.slice(Math.max(0, times.length - this.capacity));
    this.next = 0;
  }

  /** Changes the limit. Keeps every recorded start; room grows to a larger limit, never shrinks. */
  resize(limit: number): void {
    this.limit = limit;
    if (!Number.isFinite(limit) || limit <= this.capacity) return;
    this.ring = [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    this.next = 0;
    this.capacity = limit;
  }
}
