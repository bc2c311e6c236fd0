import { Deque } from '../queue/deque.js';

interface Entry {
  /** When the entry's first reservation was made (merging stops `granularity` after it). */
  readonly first: number;
  /** When its last reservation was made: the entry expires `span` after this. */
  t: number;
  tokens: number;
}

/**
 * A sliding sum of token reservations. Entries older than the span drop out.
 * With a `granularity`, reservations less than it apart from an entry's first
 * one merge into that entry, stamped with the LATER time: the merged entry
 * expires no earlier than its parts would, which is conservative and bounds
 * memory (a day of TPD at 1 s granularity is at most 86,400 entries).
 */
export class TokenWindow {
  private readonly entries = new Deque<Entry>();
  private total = 0;
  private last: Entry | undefined;

  constructor(private readonly granularity = 0) {}

  /** Tokens reserved within the span ending at `now`. */
  sum(now: number, span: number): number {
    this.evict(now, span);
    return this.total;
  }

  /**
   * Earliest time at which `need` more tokens keep the sum at or under `limit`:
   * `-Infinity` if they fit now, `Infinity` if they never can.
   */
  freeAt(now: number, span: number, need: number, limit: number): number {
    if (limit === Infinity) return -Infinity;
    if (need > limit) return Infinity;
    this.evict(now, span);
    let excess = this.total + need - limit;
    if (excess <= 0) return -Infinity;
    // Walk from the oldest entry until enough of them have expired.
    for (let i = 0; ; i++) {
      const e = this.entries.at(i);
      if (e === undefined) return Infinity;
      excess -= e.tokens;
      if (excess <= 0) return e.t + span;
    }
  }

  record(t: number, tokens: number): void {
    this.total += tokens;
    const last = this.last;
    if (last !== undefined && t - last.first < this.granularity) {
      last.tokens += tokens;
      if (t > last.t) last.t = t;
      return;
    }
    this.last = { first: t, t, tokens };
    this.entries.push(this.last);
  }

  private evict(now: number, span: number): void {
    for (let e = this.entries.peek(); e !== undefined && e.t + span <= now; e = this.entries.peek()) {
      this.entries.shift();
      this.total -= e.tokens;
      if (e === this.last) this.last = undefined;
    }
  }
}
