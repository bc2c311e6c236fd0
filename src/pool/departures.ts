/**
 * When each request of one key leaves the process. Kimi counts a request when
 * it arrives, not when the pool decided to start it: between the two lie the
 * SDK building the request, a connection being opened (TCP, TLS) and whatever
 * else the event loop is busy with. So a start is recorded in the limit store
 * only when its request leaves: when Node's fetch wrote it to a socket (seen
 * through {@link watchWire}), else when the key's client called `fetch`
 * (a `clientOptions.fetch` of the user's, which may do anything first), else
 * when the attempt ended (a task that made no request: the engine records it). Only ever later than
 * the decision, never earlier.
 *
 * Requests of one key are matched to the pool's attempts in order. A task
 * that makes several requests, or a request made with the same key outside
 * the pool, can shift which attempt a departure is credited to, never the
 * count or the times of the departures.
 */
import { Deque } from '../queue/deque.js';
import type { Job } from './job.js';
import type { WireListener } from '../net/wire-watch.js';

/** Where a started attempt's request is. */
export const Leave = {
  /** Not started, or nothing pending. */
  none: 0,
  /** Granted; the key's client has not called fetch for it yet. */
  unsent: 1,
  /** Handed to Node's fetch; not written to a socket yet. */
  writing: 2,
  /** Recorded in the store as started. */
  left: 3,
} as const;

type Fetch = typeof globalThis.fetch;

/** The departures of one key's requests. */
export class KeyDepartures implements WireListener {
  private readonly unsent = new Deque<Job>(4);
  private readonly writing = new Deque<Job>(4);

  /** @param onLeave records the attempt's start in the store, now. */
  constructor(private readonly onLeave: (job: Job) => void) {}

  /** An attempt of `job` started on this key. */
  started(job: Job): void {
    job.leave = Leave.unsent;
    // Attempts that ended without a request leave entries behind: drop them from the front.
    this.trim(this.unsent, Leave.unsent);
    this.unsent.push(job);
  }

  /**
   * The `fetch` for this key's client: `inner` (the user's `clientOptions.fetch`),
   * else Node's own, whose socket writes `watched` tells of.
   */
  wrap(inner: Fetch | undefined, watched: boolean): Fetch {
    return (input, init) => {
      const fetch = inner ?? globalThis.fetch;
      const job = this.next(this.unsent, Leave.unsent);
      if (job === undefined) return fetch(input, init);
      if (inner !== undefined || !watched) {
        this.left(job);
        return fetch(input, init);
      }
      job.leave = Leave.writing;
      this.writing.push(job);
      const run = job.run;
      const response = fetch(input, init);
      // No write seen by the time fetch settled (a connection that failed, a fetch
      // that is not undici's): it left by then at the latest.
      const settled = (): void => {
        if (job.leave === Leave.writing && job.run === run) this.left(job);
        // A fetch that never reports writes (a stand-in for Node's) leaves only stale entries behind.
        this.trim(this.writing, Leave.writing);
      };
      response.then(settled, settled);
      return response;
    };
  }

  /** WireListener: Node's fetch wrote a request with this key. */
  written(): boolean {
    const job = this.next(this.writing, Leave.writing);
    if (job === undefined) return false;
    this.left(job);
    return true;
  }

  private left(job: Job): void {
    job.leave = Leave.left;
    this.onLeave(job);
  }

  /** The first entry still in `state`, taken out; stale ones before it are dropped. */
  private next(queue: Deque<Job>, state: number): Job | undefined {
    this.trim(queue, state);
    return queue.shift();
  }

  private trim(queue: Deque<Job>, state: number): void {
    for (let j = queue.peek(); j !== undefined && (j.leave !== state || j.key?.departures !== this); j = queue.peek()) queue.shift();
  }
}
