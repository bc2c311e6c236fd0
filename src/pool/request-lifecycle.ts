import { KimiPoolError, PoolClosedError, RequestAbortedError, RequestTimeoutError } from '../errors.js';
import { cachedTokensOf, type TokenUsage } from '../pricing.js';
import type { Awaitable } from '../store/limit-store.js';
import { after, quiet } from './awaitable.js';
import { Leave } from './departures.js';
import type { Engine } from './engine.js';
import { FaultReader } from './fault-reader.js';
import type { Job } from './job.js';
import { move, STEPS, type RequestState, type Step, type Transition } from './lifecycle.js';
import type { AccountMember, KeyMember } from './members.js';
import { Context, usedTokensOf, type SlotRelease } from './task-context.js';
import { modelOf, UNKNOWN_MODEL, usageOf } from './usage.js';

/** The state now: read again after a call that may have moved the request (TypeScript keeps the narrowing). */
const stateOf = (job: Job): RequestState => job.state;

/** The error of a request the pool was closed on before it could run (again, once it ran). */
export function closedError(job: Job): PoolClosedError {
  return new PoolClosedError(job.run === 0 ? 'The pool was closed before this request ran' : 'The pool was closed before this request could run again');
}

/**
 * The transitions of the table with their side effects, one method each (named
 * as in {@link TRANSITIONS}), and the pool's request counters. Every event a
 * transition emits comes after its move, so a listener that aborts or closes
 * meets the request in its new state. Events about a failed attempt are
 * emitted while it is still `running` (see FaultReader): the request may be
 * abandoned meanwhile, and is then ended instead of moved on.
 */
export class RequestLifecycle {
  /** Requests not answered yet. */
  active = 0;
  /** Requests holding a slot. */
  inFlight = 0;
  submitted = 0;
  succeeded = 0;
  failed = 0;
  retries = 0;
  bounces = 0;
  /** Told of every move (tests and tracing read the lifecycle here). */
  trace: ((job: Job, transition: Transition, from: RequestState) => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly faults: FaultReader;

  constructor(private readonly engine: Engine) {
    this.faults = new FaultReader(engine);
  }

  /** A new request (born queued): it listens to `signal` and `timeoutMs` (its own), then joins the queue. */
  submit(job: Job, signal: AbortSignal | undefined, timeoutMs: number | undefined): void {
    const { engine } = this;
    this.active++;
    this.submitted++;
    if (signal !== undefined) {
      job.onAbort = () => this.abort(job, new RequestAbortedError(signal.reason));
      signal.addEventListener('abort', job.onAbort, { once: true });
    }
    if (timeoutMs !== undefined) job.timer = engine.clock.setTimeout(() => this.abort(job, new RequestTimeoutError(timeoutMs)), timeoutMs);
    if (engine.events.listenerCount('queued') > 0) {
      engine.events.emit('queued', { requestId: job.seq, priority: job.priority, tokens: job.tokens, queued: engine.dispatcher.waitingJobs + 1 });
      if (!this.dropUnlessRunnable(job)) return;
    }
    engine.dispatcher.enqueue(job);
  }

  /** queued → running: the store granted a start on `account`; the task runs on the account's next key. */
  start(job: Job, account: AccountMember, now: number): void {
    const { engine } = this;
    const key = account.nextKey() as KeyMember;
    job.account = account;
    job.key = key;
    job.startedAt = now;
    job.held = false;
    job.run++;
    // One controller per attempt: the openai SDK never removes the listener it
    // adds to the signal it is given, so a shared signal would leak.
    job.controller = new AbortController();
    this.go(job, STEPS.start);
    if (engine.events.listenerCount('start') > 0) {
      engine.events.emit('start', { requestId: job.seq, key: key.id, account: account.id, attempt: job.attempt, tokens: job.tokens, waitedMs: now - job.enqueuedAt });
      // Aborted by a listener: nothing to run.
      if (job.state === 'abandoned') return this.end(job);
    }
    const ctx = new Context(job, key.client, key.id, account.id, job.controller, this.holdFor);
    let result: unknown;
    try {
      result = job.fn(ctx);
    } catch (error) {
      result = Promise.reject(error);
    }
    Promise.resolve(result).then(
      (value) => this.taskResolved(job, value),
      (error: unknown) => this.taskFailed(job, error),
    );
  }

  private taskResolved(job: Job, value: unknown): void {
    if (job.state === 'abandoned') {
      // Its request failed already (abort, timeout): nobody will read the stream it returned.
      if (job.held) {
        (value as { abort?: () => void } | null | undefined)?.abort?.();
        job.key?.count('failed');
      }
      return this.end(job);
    }
    if (job.held) this.go(job, STEPS.stream, value);
    else this.succeed(job, value);
  }

  /** running → done: frees the slot, counts the success, answers the caller. */
  private succeed(job: Job, value: unknown): void {
    this.go(job, STEPS.succeed, value);
    this.counted(job, usedTokensOf(value), usageOf(value), modelOf(value), undefined);
    this.checkIdle();
  }

  /** streaming → done: the stream was read to its end (`result` without `error`) or not. */
  private finish(job: Job, result: Parameters<SlotRelease>[0], firstChunkMs: number | undefined): void {
    this.go(job, STEPS.finish);
    if (result?.error === undefined) this.counted(job, result?.usedTokens, result?.usage, result?.model, firstChunkMs);
    else job.key?.count('failed');
    this.checkIdle();
  }

  private taskFailed(job: Job, error: unknown): void {
    if (job.state === 'abandoned') return this.end(job);
    const verdict = this.faults.read(job, error);
    // A listener of what the reading emitted aborted the request.
    if (stateOf(job) === 'abandoned') return this.end(job, verdict.pause);
    switch (verdict.next) {
      case 'bounce':
        return this.bounce(job, verdict.pause);
      case 'retry':
        return this.retry(job, verdict.backoffMs);
      case 'fail':
        return this.fail(job, verdict.error, verdict.pause);
    }
  }

  /** running → queued: frees the slot (once `pause` landed) and puts the request back at its place. */
  private bounce(job: Job, pause: Awaitable<void> | undefined): void {
    job.notBefore = 0;
    this.go(job, STEPS.bounce, undefined, pause);
    if (this.dropUnlessRunnable(job)) this.engine.dispatcher.requeue(job);
  }

  /** running → delayed: frees the slot; attempt + 1 may start `backoffMs` from now, at its place. */
  private retry(job: Job, backoffMs: number): void {
    job.attempt++;
    job.notBefore = this.engine.clock.now() + backoffMs;
    this.go(job, STEPS.retry);
    if (this.dropUnlessRunnable(job)) this.engine.dispatcher.delay(job);
  }

  /** delayed → queued: its backoff is over (the dispatcher queues it again at its place). */
  due(job: Job): void {
    this.go(job, STEPS.due);
  }

  /**
   * Before a request joins the dispatcher: drops it when nothing can run it
   * (the last key died, the pool closed). Returns whether it still waits:
   * false too when it was answered meanwhile (a listener, or another task
   * started by its freed slot, aborted it).
   */
  private dropUnlessRunnable(job: Job): boolean {
    if (job.state === 'done') return false;
    const dead = this.engine.control.dead;
    if (dead !== undefined) this.drop(job, dead);
    else if (this.engine.closed) this.drop(job, closedError(job));
    return stateOf(job) !== 'done';
  }

  /**
   * Drops the requests taken out of the dispatcher at once (close, clear, the
   * last key dead), each with `errorFor(job)`; returns how many it dropped.
   * One answered meanwhile (a `failed` listener of an earlier one aborted it)
   * is skipped, and not counted.
   */
  dropAll(jobs: readonly Job[], errorFor: (job: Job) => Error): number {
    let dropped = 0;
    for (const job of jobs) {
      if (job.state !== 'queued' && job.state !== 'delayed') continue;
      this.drop(job, errorFor(job));
      dropped++;
    }
    return dropped;
  }

  /** running → done: frees the slot (once `pause` landed) and rejects the caller. */
  private fail(job: Job, error: Error, pause?: Awaitable<void>): void {
    this.go(job, STEPS.fail, error, pause);
    this.emitFailed(job, error);
    this.checkIdle();
  }

  /** running → abandoned: rejects the caller now and aborts the task's signal; its slot is freed when it ends. */
  private abandon(job: Job, error: KimiPoolError): void {
    this.go(job, STEPS.abandon, error);
    job.controller?.abort(error);
    this.emitFailed(job, error);
  }

  /** abandoned → done: the task ended; frees its slot (once `pause` landed). */
  private end(job: Job, pause?: Awaitable<void>): void {
    this.go(job, STEPS.end, undefined, pause);
    this.checkIdle();
  }

  /** queued | delayed → done: takes the request out of the queue and rejects the caller. */
  drop(job: Job, error: Error): void {
    this.engine.dispatcher.remove(job);
    this.go(job, STEPS.drop, error);
    this.emitFailed(job, error);
    this.checkIdle();
  }

  /** Abort or timeout, wherever the request is. */
  abort(job: Job, error: KimiPoolError): void {
    switch (job.state) {
      case 'queued':
      case 'delayed':
        return this.drop(job, error);
      case 'running':
        return this.abandon(job, error);
      case 'streaming':
        // A stream still being read: stop it, and free its slot now (it may never be read again).
        job.controller?.abort(error);
        // Unless the abort made its reader release it already.
        if (stateOf(job) === 'streaming') this.finish(job, { error }, undefined);
        return;
      default:
      // Answered already.
    }
  }

  private readonly holdFor = (job: Job, run: number): SlotRelease => this.hold(job, run);

  /** TaskContext.holdSlot: the slot stays taken after the task resolves (a stream); returns its release. */
  private hold(job: Job, run: number): SlotRelease {
    // A task of an earlier run (bounced, failed over, retried) holds nothing, nor one that ended.
    // Several calls in one run are one hold: the first release called frees it.
    if (run !== job.run || (job.state !== 'running' && job.state !== 'abandoned')) return releaseNothing;
    job.held = true;
    // A stream holds its slot once its first chunk arrived: that is its time to first chunk.
    const firstChunkMs = this.engine.clock.now() - job.startedAt;
    let released = false;
    return (result) => {
      // A release of an earlier run (bounced, failed over, retried) frees nothing of this one;
      // called twice, it acts once (a later holdSlot() of the same task stays held).
      if (released || job.run !== run) return;
      released = true;
      if (job.state === 'streaming') this.finish(job, result, firstChunkMs);
      // Released before its task resolved: the task's end frees the slot as usual.
      else if (job.state === 'running' || job.state === 'abandoned') job.held = false;
    };
  }

  /**
   * Moves `job` along `step` (one of STEPS), and does what crossing the table's lines
   * means: takes or frees the slot (freed once `pause` landed), stops listening
   * to its signal and timeout, answers the caller with `answer`.
   */
  private go(job: Job, step: Step, answer?: unknown, pause?: Awaitable<void>): void {
    const was = job.state;
    move(job, step);
    if (this.trace !== undefined) this.trace(job, step.transition, was);
    if (step.takesSlot) this.takeSlot(job);
    else if (step.freesSlot) this.freeSlot(job, pause);
    if (step.unwatches) this.unwatch(job);
    if (step.answers === undefined) return;
    this.active--;
    if (step.answers === 'value') {
      this.succeeded++;
      job.resolve(answer);
    } else {
      this.failed++;
      if (answer instanceof KimiPoolError && answer.attempts === undefined) answer.attempts = job.attempt;
      job.reject(answer);
    }
  }

  private takeSlot(job: Job): void {
    const account = job.account as AccountMember;
    const key = job.key as KeyMember;
    key.departures.started(job);
    account.inFlight++;
    key.inFlight++;
    this.inFlight++;
    // Hot path: plain increments (count() by name is a megamorphic keyed access).
    account.counters.started++;
    key.counters.started++;
    account.counters.reservedTokens += job.tokens;
    key.counters.reservedTokens += job.tokens;
  }

  /** Frees the slot now (the request may start elsewhere at once); the store hears of it once `pause` landed. */
  private freeSlot(job: Job, pause: Awaitable<void> | undefined): void {
    const { engine } = this;
    const account = job.account as AccountMember;
    const key = job.key as KeyMember;
    // A request never seen leaving counts from now, before its slot is given back
    // (no wake: the release below wakes the dispatcher).
    if (job.leave === Leave.unsent || job.leave === Leave.writing) {
      job.leave = Leave.left;
      quiet(engine.store.sent?.(account.id, job.seq, job.tokens));
    }
    account.inFlight--;
    key.inFlight--;
    this.inFlight--;
    if (key.disabled && key.inFlight === 0) engine.hooks.keyIdle?.(key);
    if (pause instanceof Promise) after(pause, () => this.giveBack(account, job.seq));
    else this.giveBack(account, job.seq);
  }

  private giveBack(account: AccountMember, lease: number): void {
    const { dispatcher } = this.engine;
    const released = this.engine.store.release(account.id, lease);
    // No closure on the common synchronous path.
    if (released instanceof Promise) after(released, () => dispatcher.released(account));
    else dispatcher.released(account);
  }

  /** Stops listening to the request's signal and timeout, and lets its task and params be collected. */
  private unwatch(job: Job): void {
    // A request answered may wait in the queue until its entry is reached: keep no params alive.
    job.fn = settledTask;
    if (job.timer !== undefined) {
      this.engine.clock.clearTimeout(job.timer);
      job.timer = undefined;
    }
    if (job.onAbort !== undefined && job.signal !== undefined) {
      job.signal.removeEventListener('abort', job.onAbort);
      job.onAbort = undefined;
    }
  }

  /** Counts a success on its key and account (tokens, usage, cost) and emits `success`. */
  private counted(job: Job, usedTokens: number | undefined, usage: TokenUsage | undefined, model: string | undefined, firstChunkMs: number | undefined): void {
    const { engine } = this;
    const account = job.account as AccountMember;
    const key = job.key as KeyMember;
    account.rateLimitStreak = 0;
    if (account.probing) engine.hooks.probed?.(account);
    account.counters.succeeded++;
    key.counters.succeeded++;
    if (usedTokens !== undefined) key.count('usedTokens', usedTokens);
    let cost: number | undefined;
    if (usage !== undefined) {
      cost = engine.usage.record(account.id, model ?? UNKNOWN_MODEL, usage);
      key.count('promptTokens', usage.prompt_tokens ?? 0);
      key.count('completionTokens', usage.completion_tokens ?? 0);
      key.count('cachedTokens', cachedTokensOf(usage));
    }
    if (engine.events.listenerCount('success') > 0) {
      engine.events.emit('success', { requestId: job.seq, key: key.id, account: account.id, attempt: job.attempt, durationMs: engine.clock.now() - job.startedAt, usedTokens, model, usage, cost, firstChunkMs });
    }
  }

  private emitFailed(job: Job, error: Error): void {
    const { events } = this.engine;
    if (events.listenerCount('failed') > 0) events.emit('failed', { requestId: job.seq, key: job.key?.id, account: job.account?.id, attempt: job.attempt, error });
  }

  get isIdle(): boolean {
    return this.active === 0 && this.inFlight === 0;
  }

  /** Resolves when nothing is queued or in flight. */
  onIdle(): Promise<void> {
    if (this.isIdle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private checkIdle(): void {
    if (!this.isIdle) return;
    const waiters = this.idleWaiters;
    const { events } = this.engine;
    if (waiters.length === 0 && events.listenerCount('idle') === 0) return;
    this.idleWaiters = [];
    events.emit('idle', { succeeded: this.succeeded, failed: this.failed });
    for (const w of waiters) w();
  }
}

/** What a request answered holds instead of its task (and the params the task closed over). */
const settledTask = (): never => {
  throw new Error('kimi-pool: a settled request ran again');
};

const releaseNothing: SlotRelease = () => undefined;
