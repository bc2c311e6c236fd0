/**
 * The last `limit` request starts of one account, as a ring buffer.
 * A new start is allowed when fewer than `limit` starts lie within the span
 * before it, i.e. once the oldest of the last `limit` starts is `span` old.
 * O(1) per check and per record; memory grows only as far as `limit`.
 */
export class StartLog {
  private ring: number[] = [];
  private next = 0;
  private limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Earliest time at which one more start keeps every window of `span` at or under the limit. */
  freeAt(span: number): number {
    if (this.limit === Infinity) return -Infinity;
    if (this.limit <= 0) return Infinity;
    if (this.ring.length < this.limit) return -Infinity;
    return (this.ring[this.next] as number) + span;
  }

  record(t: number): void {
    if (this.limit === Infinity) return;
    if (this.ring.length < this.limit) {
      // Still filling: append in order; the oldest stays at index 0 (= next).
      this.ring.push(t);
      return;
    }
    this.ring[this.next] = t;
    this.next = (this.next + 1) % this.limit;
  }

  /** Number of recorded starts later than `since`. */
  countSince(since: number): number {
    let n = 0;
    for (const t of this.ring) if (t > since) n++;
    return n;
  }

  /** Changes the limit, keeping the most recent starts. */
  resize(limit: number): void {
    const ordered = [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    this.limit = limit;
    this.ring = limit === Infinity ? [] : ordered.slice(Math.max(0, ordered.length - limit));
    this.next = 0;
  }
}
