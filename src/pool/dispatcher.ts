import type { Clock } from '../clock.js';
import { Deque } from '../queue/deque.js';
import { JobQueue } from '../queue/job-queue.js';
import { MinHeap } from '../queue/min-heap.js';
import { NEVER, type LimitStore } from '../store/limit-store.js';
import type { Job } from './job.js';
import type { AccountMember } from './members.js';
import { WakeTimer } from './wake-timer.js';

/** What the dispatcher asks of the pool. */
export interface DispatchHost {
  /** The store recorded the start: run the job on this account now (`now` read by the dispatcher). */
  start(job: Job, account: AccountMember, now: number): void;
  /** The job can start on no usable account, ever (it reserves too many tokens). */
  unrunnable(job: Job): void;
  /** A job's backoff is over (delayed → queued); the dispatcher queues it again at its place. */
  due(job: Job): void;
  /** A store call failed (e.g. Redis down); the dispatcher retries after `retryInMs`. */
  storeError(error: unknown, retryInMs: number): void;
}

interface WaitEntry {
  readonly account: AccountMember;
  readonly at: number;
}

const STORE_RETRY_MS = [50, 100, 200, 500, 1000, 2000, 5000];
const noop = (): void => undefined;

/**
 * The pool's one queue and its accounts. A job is bound to an account only
 * when the store says that account can start it now (late binding); when no
 * account can, one timer is set for the earliest moment one can. No polling.
 *
 * Accounts are `ready` (round-robin deque), `waiting` (heap by wake time),
 * `blocked` (at concurrency: back on a release) or `dead` (dropped lazily).
 */
export class Dispatcher {
  readonly queue = new JobQueue<Job>();
  private readonly delayed = new MinHeap<Job>((a, b) => a.notBefore < b.notBefore || (a.notBefore === b.notBefore && a.seq < b.seq));
  /** The jobs backing off (the heap drops the others lazily). */
  private readonly backingOff = new Set<Job>();
  private readonly ready = new Deque<AccountMember>();
  /**
   * Accounts waiting for a time. Entries carry their own time: an account can
   * be woken early (a shared store's release) and parked again, so an entry
   * whose time is no longer the account's is stale and skipped, and the heap
   * never orders on a field that changes under it.
   */
  private readonly waiting = new MinHeap<WaitEntry>((a, b) => a.at < b.at);
  private readonly timer: WakeTimer;
  private pumping = false;
  private again = false;
  private acquiring = false;
  /** The job an async store is deciding on (out of the queue meanwhile). */
  private deciding: Job | undefined;
  /** That decision, and the give-back of its grant if the job cannot take it any more. */
  private decided: Promise<void | undefined> | undefined;
  private storeFailures = 0;
  private closed = false;
  /** Gates that must open before anything starts (discovery); see {@link Dispatcher.gate}. */
  private gates = 0;
  /** pool.pause(): nothing new starts until resume(). */
  paused = false;

  constructor(
    private readonly accounts: readonly AccountMember[],
    private readonly store: LimitStore,
    private readonly clock: Clock,
    private readonly host: DispatchHost,
  ) {
    for (const a of accounts) this.ready.push(a);
    this.timer = new WakeTimer(clock, () => this.pump());
  }

  /** Jobs waiting to start: queued plus backing off. */
  get waitingJobs(): number {
    return this.queue.size + this.backingOff.size;
  }

  /** A new job (queued) joins the queue. */
  enqueue(job: Job): void {
    job.enqueuedAt = this.clock.now();
    this.queue.push(job);
    this.pump();
  }

  /** Puts a job (queued again) back at its place. */
  requeue(job: Job): void {
    job.enqueuedAt = this.clock.now();
    this.queue.pushBack(job);
    this.pump();
  }

  /** Holds a job (delayed) until `notBefore`, then queues it again at its place. */
  delay(job: Job): void {
    job.enqueuedAt = this.clock.now();
    this.delayed.push(job);
    this.backingOff.add(job);
    this.pump();
  }

  /** Takes a job out, wherever it waits (abort, timeout); nothing if it is not here. */
  remove(job: Job): void {
    if (job.queued) this.queue.forget(job);
    else this.backingOff.delete(job);
    if (this.waitingJobs === 0) this.timer.clear();
  }

  /** A slot of the account was released. */
  released(account: AccountMember): void {
    if (account.place === 'blocked') {
      account.place = 'ready';
      this.ready.push(account);
    }
    this.pump();
  }

  /** A shared store says the account may have room now (e.g. another process freed a slot). */
  wake(account: AccountMember): void {
    if (account.place === 'waiting' || account.place === 'blocked') {
      account.place = 'ready';
      this.ready.push(account);
    }
    this.pump();
  }

  /** The account can no longer run anything. */
  kill(account: AccountMember): void {
    account.place = 'dead';
  }

  /** Starts nothing until `until` settles, however it settles; several gates may be shut at once. */
  gate(until: Promise<void>): void {
    this.gates++;
    const open = (): void => {
      this.gates--;
      this.pump();
    };
    until.then(open, open);
  }

  /** A new account (added at run time) takes requests from now on. */
  add(account: AccountMember): void {
    account.place = 'ready';
    this.ready.push(account);
    this.pump();
  }

  /** An account that was dead (disabled, no key) can take requests again. */
  revive(account: AccountMember): void {
    if (account.place === 'dead') {
      account.place = 'ready';
      this.ready.push(account);
    }
    this.pump();
  }

  /** Removes and returns every job still waiting. */
  close(): Job[] {
    this.closed = true;
    this.timer.clear();
    return this.drainAll();
  }

  /** Removes and returns every job still waiting, leaving the pool open (no key left). */
  drainAll(): Job[] {
    const jobs = this.queue.drain();
    // Its answer, when it comes, finds the job settled and gives back any grant.
    if (this.deciding?.state === 'queued') jobs.push(this.deciding);
    for (const j of this.backingOff) jobs.push(j);
    this.backingOff.clear();
    this.delayed.drain();
    return jobs;
  }

  /** Starts nothing until `ready` settles (a store that connects first). */
  holdUntil(ready: Promise<unknown>): void {
    this.acquiring = true;
    ready.then(
      () => {
        this.acquiring = false;
        this.pump();
      },
      (error: unknown) => {
        this.acquiring = false;
        this.host.storeError(error, 0);
        this.pump();
      },
    );
  }

  /** Runs whatever can start now, then sleeps until the earliest moment more can. */
  pump(): void {
    if (this.pumping || this.acquiring || this.closed || this.gates > 0 || this.paused) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        this.dispatch();
      } while (this.again && !this.acquiring && !this.closed);
    } finally {
      this.pumping = false;
    }
    if (!this.acquiring && !this.closed) this.arm();
  }

  private dispatch(): void {
    const now = this.clock.now();
    this.wakeDue(now);
    let skipped: AccountMember[] | undefined;
    while (this.queue.size > 0) {
      const account = this.ready.shift();
      if (account === undefined) break;
      if (account.place !== 'ready') continue;
      if (!account.usable) {
        account.place = 'dead';
        continue;
      }
      // On trial after a quota error: one request at a time until one succeeds.
      if (account.probing && account.inFlight > 0) {
        account.place = 'blocked';
        continue;
      }
      const job = this.queue.peek() as Job;
      // An account that already said NEVER to this job is not asked again (with
      // an async store that would be a round trip per pump until the job starts).
      const answer = account.neverFor === job ? NEVER : this.store.acquire(account.id, job.tokens, job.seq);
      if (typeof answer !== 'number') {
        this.awaitAcquire(answer, job, account);
        break;
      }
      if (answer === NEVER) {
        account.neverFor = job;
        (skipped ??= []).push(account);
        if (this.ready.size === 0) {
          if (!this.fitsAnywhere(job)) {
            this.queue.pop();
            this.host.unrunnable(job);
            for (const a of skipped) this.ready.push(a);
            skipped = undefined;
          }
        }
        continue;
      }
      if (skipped !== undefined) {
        // The head moves on only when it starts; accounts it could not use stay first in line.
        for (const a of skipped) this.ready.unshift(a);
        skipped = undefined;
      }
      this.place(account, answer, now, job);
    }
    if (skipped !== undefined) for (const a of skipped) this.ready.push(a);
  }

  /** Acts on the store's answer for `job` on `account`. */
  private place(account: AccountMember, answer: number, now: number, job: Job): void {
    if (answer === 0) {
      this.queue.pop();
      this.ready.push(account);
      this.host.start(job, account, now);
    } else if (answer === Infinity) {
      account.place = 'blocked';
    } else {
      account.place = 'waiting';
      account.wakeAt = now + answer;
      this.waiting.push({ account, at: account.wakeAt });
    }
  }

  private awaitAcquire(answer: Promise<number>, job: Job, account: AccountMember): void {
    this.acquiring = true;
    this.deciding = job;
    this.queue.pop();
    const decided = answer.then(
      (wait): Promise<void> | undefined => {
        this.acquiring = false;
        this.deciding = undefined;
        this.storeFailures = 0;
        if (job.state !== 'queued' || this.closed || this.paused || !account.usable) {
          // Aborted, closed, paused or the account disabled while the store decided: give back what it
          // granted (a lease no transition holds, so the dispatcher frees it). close() waits for it.
          const givenBack = wait === 0 ? this.store.release(account.id, job.seq) : undefined;
          if (job.state === 'queued') this.queue.pushBack(job);
          this.ready.push(account);
          this.pump();
          return givenBack instanceof Promise ? givenBack.catch(noop) : undefined;
        } else if (wait === NEVER) {
          account.neverFor = job;
          this.queue.pushBack(job);
          if (!this.fitsAnywhere(job)) {
            this.queue.forget(job);
            this.host.unrunnable(job);
          }
          this.ready.push(account);
        } else if (wait === 0) {
          // Started even if another job came back to the head meanwhile (place() would pop that one).
          this.ready.push(account);
          this.host.start(job, account, this.clock.now());
        } else {
          this.queue.pushBack(job);
          this.place(account, wait, this.clock.now(), job);
        }
        this.pump();
        return undefined;
      },
      (error: unknown) => {
        this.acquiring = false;
        this.deciding = undefined;
        if (job.state === 'queued') this.queue.pushBack(job);
        this.ready.unshift(account);
        const retryIn = STORE_RETRY_MS[Math.min(this.storeFailures++, STORE_RETRY_MS.length - 1)] as number;
        this.host.storeError(error, retryIn);
        this.timer.set(this.clock.now() + retryIn);
      },
    );
    this.decided = decided;
    decided.then(() => this.forget(decided), () => this.forget(decided));
  }

  private forget(decided: Promise<unknown>): void {
    if (this.decided === decided) this.decided = undefined;
  }

  /** Resolves once no store decision is on the wire, nor a grant it made being given back (close() waits for it). */
  async settled(): Promise<void> {
    while (this.decided !== undefined) await this.decided.then(noop, noop);
  }

  private fitsAnywhere(job: Job): boolean {
    for (const a of this.accounts) {
      if (a.usable && job.tokens <= a.limits.tpm && job.tokens <= a.limits.tpd) return true;
    }
    return false;
  }

  private wakeDue(now: number): void {
    for (let e = this.waiting.peek(); e !== undefined && e.at <= now; e = this.waiting.peek()) {
      this.waiting.pop();
      const a = e.account;
      if (a.place === 'waiting' && a.wakeAt === e.at) {
        a.place = 'ready';
        this.ready.push(a);
      }
    }
    for (let j = this.delayed.peek(); j !== undefined && j.notBefore <= now; j = this.delayed.peek()) {
      this.delayed.pop();
      if (this.backingOff.delete(j)) {
        this.host.due(j);
        this.queue.pushBack(j);
      }
    }
  }

  /** Sets the one timer for the earliest moment anything can change. */
  private arm(): void {
    // Nothing waits: drop the timer, which would hold an idle process open (keepAlive).
    if (this.waitingJobs === 0) return this.timer.clear();
    let at = Infinity;
    if (this.queue.size > 0) {
      let e = this.waiting.peek();
      // Drop stale entries so a superseded time does not set the timer.
      while (e !== undefined && (e.account.place !== 'waiting' || e.account.wakeAt !== e.at)) {
        this.waiting.pop();
        e = this.waiting.peek();
      }
      if (e !== undefined) at = e.at;
    }
    const j = this.delayed.peek();
    if (j !== undefined && j.notBefore < at) at = j.notBefore;
    if (at < Infinity) this.timer.set(at);
  }
}
