import { Deque } from './deque.js';
import { MinHeap } from './min-heap.js';

/** What the queue needs of an entry. */
export interface Queueable {
  /** Submission order: lower first within a priority. Kept across re-queues. */
  readonly seq: number;
  readonly priority: number;
  /** True while the entry sits in the queue; cleared to remove it lazily. */
  queued: boolean;
}

const bySeq = (a: Queueable, b: Queueable): boolean => a.seq < b.seq;

/**
 * One priority level: new entries arrive in `seq` order, so a FIFO holds them
 * in O(1); entries put back after a bounce go to a small heap so they regain
 * their place in front of younger ones.
 */
class Level<T extends Queueable> {
  readonly fresh = new Deque<T>();
  readonly returned = new MinHeap<T>(bySeq);

  peek(): T | undefined {
    for (;;) {
      const f = this.fresh.peek();
      const r = this.returned.peek();
      if (f !== undefined && !f.queued) {
        this.fresh.shift();
        continue;
      }
      if (r !== undefined && !r.queued) {
        this.returned.pop();
        continue;
      }
      if (f === undefined) return r;
      if (r === undefined) return f;
      return r.seq < f.seq ? r : f;
    }
  }

  /** Drops every entry no longer queued. */
  compact(): void {
    const fresh = this.fresh.drain();
    for (const item of fresh) if (item.queued) this.fresh.push(item);
    const returned = this.returned.drain();
    for (const item of returned) if (item.queued) this.returned.push(item);
  }

  shiftHead(head: T): void {
    if (this.fresh.peek() === head) this.fresh.shift();
    else this.returned.pop();
  }
}

/**
 * The pool's single queue: higher `priority` first, then lower `seq` (FIFO).
 * O(1) for the common case (new entries, few distinct priorities), O(log n)
 * for re-queued entries and O(log p) in the number of distinct priorities.
 * Removal is lazy: clear `queued` and call {@link JobQueue.forget}.
 */
export class JobQueue<T extends Queueable> {
  private readonly levels = new Map<number, Level<T>>();
  /** Max-heap of the priorities that have a level. */
  private readonly priorities = new MinHeap<number>((a, b) => a > b);
  private live = 0;
  /** Entries forgotten since the last compaction (some may have left by `peek` since). */
  private forgotten = 0;

  /** Number of entries still queued. */
  get size(): number {
    return this.live;
  }

  /** Adds a new entry (its `seq` must be larger than any added before). */
  push(item: T): void {
    this.level(item.priority).fresh.push(item);
    item.queued = true;
    this.live++;
  }

  /** Puts back an entry that left the queue earlier, at its original place. */
  pushBack(item: T): void {
    this.level(item.priority).returned.push(item);
    item.queued = true;
    this.live++;
  }

  /**
   * Takes an entry out. Removal is lazy, but forgotten entries never pile up:
   * once they outnumber the live ones (and a thousand), the queue is rebuilt
   * without them, so 3,000 aborted requests do not stay reachable until the
   * next pop. O(1) amortised.
   */
  forget(item: T): void {
    item.queued = false;
    this.live--;
    if (++this.forgotten > 1024 && this.forgotten > this.live) this.compact();
  }

  /** Entries held, forgotten ones included (for tests and diagnostics). */
  get stored(): number {
    let n = 0;
    for (const level of this.levels.values()) n += level.fresh.size + level.returned.size;
    return n;
  }

  private compact(): void {
    this.forgotten = 0;
    // An emptied level stays until peek() drops it with its priority (the heap has no removal).
    for (const level of this.levels.values()) level.compact();
  }

  peek(): T | undefined {
    for (;;) {
      const p = this.priorities.peek();
      if (p === undefined) return undefined;
      const level = this.levels.get(p) as Level<T>;
      const head = level.peek();
      if (head !== undefined) return head;
      this.levels.delete(p);
      this.priorities.pop();
    }
  }

  pop(): T | undefined {
    const head = this.peek();
    if (head === undefined) return undefined;
    (this.levels.get(head.priority) as Level<T>).shiftHead(head);
    head.queued = false;
    this.live--;
    return head;
  }

  /** Removes and returns every queued entry in queue order. */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.pop(); item !== undefined; item = this.pop()) out.push(item);
    return out;
  }

  private level(priority: number): Level<T> {
    let level = this.levels.get(priority);
    if (level === undefined) {
      level = new Level<T>();
      this.levels.set(priority, level);
      this.priorities.push(priority);
    }
    return level;
  }
}
