import type { EventEmitter } from 'eventemitter3';
import OpenAI from 'openai';
import pRetry, { type Options as PRetryOptions } from 'p-retry';
import { systemClock, type Clock } from '../clock.js';
import type { ResolvedConfig } from '../config.js';
import {
  InvalidRequestError,
  KimiPoolError,
  PoolClosedError,
  RateLimitError,
  RequestAbortedError,
  RequestTimeoutError,
  RequestTooLargeError,
  StoreError,
} from '../errors.js';
import type { KimiPoolEvents } from '../events.js';
import { classifyError, type Fault } from '../kimi-errors.js';
import type { KimiPoolOptions, RequestOptions } from '../options.js';
import { backoffDelay } from '../retry-timing.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Awaitable, LimitStore, StoreEvent } from '../store/limit-store.js';
import { Dispatcher, type DispatchHost } from './dispatcher.js';
import { Job } from './job.js';
import { AccountMember, KeyMember } from './members.js';
import { errorFor, reactionTo } from './reactions.js';
import { AccountControl } from './account-control.js';
import { after, quiet } from './awaitable.js';
import { Context, usedTokensOf, withoutKey, type SlotRelease, type TaskContext } from './task-context.js';
import { KeyDepartures, Leave } from './departures.js';
import { watchWire } from '../net/wire-watch.js';
import { MarginLearner } from './margins.js';
import { cachedTokensOf, KIMI_PRICES_USD, parsePriceTable, type TokenUsage } from '../pricing.js';
import { modelOf, UNKNOWN_MODEL, UsageBook, usageOf } from './usage.js';
import { KeyFetches } from './key-fetch.js';
import { boundedHints } from './reactions.js';

/** What a settled job holds instead of its task (and the params the task closed over). */
const settledTask = (): never => {
  throw new Error('kimi-pool: a settled request ran again');
};
import type { ResolvedKey } from '../config.js';
import type { Limits } from '../tiers.js';

/** What other modules (recovery) hear of from the engine. */
export interface EngineHooks {
  /** A 429 taught lower limits (they were `before`). */
  learned?(account: AccountMember, before: Limits): void;
  /** A request succeeded on an account that was on trial (see AccountMember.probing). */
  probed?(account: AccountMember): void;
  /** A quota error on an account on trial (see AccountMember.probing): it stays out. */
  trialFailed?(account: AccountMember, key: KeyMember, fault: Fault): void;
  /** An error response to `key` named its organisation (`Msh-Org-Id`). */
  orgSeen?(key: KeyMember, org: string): void;
  /** A disabled key (being removed) has no request in flight any more. */
  keyIdle?(key: KeyMember): void;
  /** A shared store told of a merge or a re-enabled key or account made by another pool. */
  storeEvent?(event: Extract<StoreEvent, { type: 'merged' | 'enabled' }>): void;
}

/** Errors a failed attempt is rejected with when p-retry should run another. */
const retrying = new WeakSet<object>();

/**
 * Runs jobs: starts them where the dispatcher says, reads each failure the
 * Kimi way (bounce, failover, retry or fail) and settles every job exactly once.
 */
export class Engine implements DispatchHost {
  readonly accounts: AccountMember[] = [];
  readonly keys: KeyMember[] = [];
  readonly dispatcher: Dispatcher;
  readonly store: LimitStore;
  readonly clock: Clock;
  private readonly random: () => number;
  private readonly retryOptions: PRetryOptions;
  private seq = 0;
  private active = 0;
  inFlight = 0;
  submitted = 0;
  succeeded = 0;
  failed = 0;
  retries = 0;
  bounces = 0;
  closed = false;
  readonly control: AccountControl;
  /** Set by the modules that recover accounts and limits. */
  hooks: EngineHooks = {};
  readonly margins: MarginLearner;
  /** Tokens and cost of successful responses, per account and model. */
  readonly usage: UsageBook;
  private idleWaiters: (() => void)[] = [];
  /** Stops watching Node's fetch for each key. */
  private readonly unwatch = new Map<KeyMember, () => void>();
  private toldRetryAfter = false;
  /** Each key's response deadlines and Msh-Org-Id watch. */
  private readonly fetches: KeyFetches;

  constructor(
    readonly config: ResolvedConfig,
    private readonly options: KimiPoolOptions,
    private readonly events: EventEmitter<KimiPoolEvents>,
  ) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.usage = new UsageBook(options.prices === undefined ? KIMI_PRICES_USD : parsePriceTable(options.prices, 'Option `prices`'));
    this.store = options.store ?? new MemoryStore();
    this.fetches = new KeyFetches(this.clock, config);
    for (const a of config.accounts) {
      const account = new AccountMember(a.id, a.limits, a.tier, config.safetyMarginMs);
      for (const k of a.keys) this.addKey(k, account);
      this.accounts.push(account);
    }
    this.dispatcher = new Dispatcher(this.accounts, this.store, this.clock, this);
    this.control = new AccountControl(this.accounts, this.dispatcher, this.store, this.clock, events, () => {
      for (const job of this.dispatcher.drainAll()) {
        job.state = 'between';
        this.fail(job, this.control.dead as KimiPoolError);
      }
    });
    this.margins = new MarginLearner(config, this.store, this.clock, events);
    this.store.listen?.((event) => {
      if (event.type === 'merged' || event.type === 'enabled') this.hooks.storeEvent?.(event);
      else this.control.storeEvent(event);
    });
    const init = this.store.init({
      accounts: this.accounts.map((a) => ({ id: a.id, limits: a.limits })),
      windowMs: config.windowMs,
      safetyMarginMs: config.safetyMarginMs,
      clock: this.clock,
    });
    if (init instanceof Promise) this.dispatcher.holdUntil(init);
    this.retryOptions = {
      retries: config.retries,
      // p-retry runs the loop and counts; the backoff wait is ours, on the injected
      // clock, spent in the queue rather than holding a slot.
      minTimeout: 0,
      maxTimeout: 0,
      factor: 1,
      randomize: false,
      shouldRetry: ({ error }) => retrying.has(error),
    };
  }

  /** Builds a key's client (at construction or at run time) and adds the key to `account`. */
  addKey(k: ResolvedKey, account: AccountMember): KeyMember {
    const userFetch = this.options.clientOptions?.fetch;
    // Node's own fetch tells when it wrote a request (see watchWire); a user's fetch, only when it is called.
    const departures = new KeyDepartures(this.leftFor);
    // Response deadlines and Msh-Org-Id outermost: they see the response whoever sent the request.
    let key: KeyMember | undefined;
    // Every response names its account (Msh-Org-Id): two configured accounts that are one merge.
    const onOrg = (org: string): void => {
      if (key !== undefined) this.hooks.orgSeen?.(key, org);
    };
    const fetch = this.fetches.guard(departures.wrap(userFetch, userFetch === undefined), onOrg);
    const client = new OpenAI({ ...this.options.clientOptions, apiKey: k.apiKey, baseURL: k.baseURL, maxRetries: 0, fetch });
    key = new KeyMember(k.id, account, client, departures);
    if (userFetch === undefined) this.unwatch.set(key, watchWire(k.apiKey, departures));
    account.keys.push(key);
    this.keys.push(key);
    return key;
  }

  /** Takes a key out of the pool for good (its requests in flight end on their own) and stops its wire watch. */
  dropKey(key: KeyMember): void {
    this.unwatch.get(key)?.();
    this.unwatch.delete(key);
    const i = this.keys.indexOf(key);
    if (i >= 0) this.keys.splice(i, 1);
    const list = key.account.keys;
    const j = list.indexOf(key);
    if (j >= 0) list.splice(j, 1);
  }

  /** Queues `fn` to run on a key with `tokens` reserved; settles once. */
  submit<T>(fn: (ctx: TaskContext) => T | PromiseLike<T>, tokens: number, options: RequestOptions = {}): Promise<T> {
    if (this.closed) return Promise.reject(new PoolClosedError());
    if (this.control.dead !== undefined) return Promise.reject(this.control.dead);
    const { priority = 0, signal, timeout } = options;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) {
      return Promise.reject(new InvalidRequestError(`Expected \`priority\` to be a finite number, got \`${String(priority)}\``));
    }
    if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0)) {
      return Promise.reject(new InvalidRequestError(`Expected \`timeout\` to be a number of ms > 0, got \`${String(timeout)}\``));
    }
    if (signal?.aborted === true) return Promise.reject(new RequestAbortedError(signal.reason));
    const tooLarge = this.control.tooLarge(tokens);
    if (tooLarge !== undefined) return Promise.reject(tooLarge);

    const job = new Job(++this.seq, priority, tokens, fn, signal, timeout);
    this.active++;
    this.submitted++;
    if (signal !== undefined) {
      job.onAbort = () => this.abort(job, new RequestAbortedError(signal.reason));
      signal.addEventListener('abort', job.onAbort, { once: true });
    }
    if (timeout !== undefined) job.timer = this.clock.setTimeout(() => this.abort(job, new RequestTimeoutError(timeout)), timeout);
    if (this.events.listenerCount('queued') > 0) {
      this.events.emit('queued', { requestId: job.seq, priority, tokens, queued: this.dispatcher.waitingJobs + 1 });
    }
    // Most requests need one attempt, so the first runs without p-retry (an options
    // copy, checks and an async frame per call: most of the pool's CPU and memory per
    // request). A retryable failure of it hands the job to p-retry for attempts 2, 3, ...
    return this.attempt<T>(job, 1);
  }

  private attempt<T>(job: Job, n: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      job.resolveAttempt = resolve as (value: unknown) => void;
      job.rejectAttempt = reject;
      job.attempt = n;
      if (job.failure !== undefined) return this.fail(job, job.failure);
      if (this.closed) return this.fail(job, new PoolClosedError('The pool was closed before this request could run again'));
      // A retry whose fault came after the last key died: nothing could ever run it.
      if (this.control.dead !== undefined) return this.fail(job, this.control.dead);
      if (n === 1) this.dispatcher.enqueue(job);
      else {
        job.notBefore = this.clock.now() + job.backoffMs;
        this.dispatcher.requeue(job);
      }
    });
  }

  /** DispatchHost: the store granted `account` for `job`. */
  start(job: Job, account: AccountMember, now: number): void {
    const key = account.nextKey() as KeyMember;
    job.account = account;
    job.key = key;
    job.state = 'running';
    job.startedAt = now;
    job.held = false;
    job.releaseHold = undefined;
    job.slot = true;
    job.run++;
    key.departures.started(job);
    account.inFlight++;
    key.inFlight++;
    this.inFlight++;
    // Hot path: plain increments (count() by name is a megamorphic keyed access).
    account.counters.started++;
    key.counters.started++;
    account.counters.reservedTokens += job.tokens;
    key.counters.reservedTokens += job.tokens;
    // One controller per attempt: the openai SDK never removes the listener it
    // adds to the signal it is given, so a shared signal would leak.
    job.controller = new AbortController();
    if (this.events.listenerCount('start') > 0) {
      this.events.emit('start', { requestId: job.seq, key: key.id, account: account.id, attempt: job.attempt, tokens: job.tokens, waitedMs: now - job.enqueuedAt });
    }
    const ctx = new Context(job, key.client, key.id, account.id, job.controller, this.holdFor);
    let result: unknown;
    try {
      result = job.fn(ctx);
    } catch (error) {
      result = Promise.reject(error);
    }
    Promise.resolve(result).then(
      (value) => this.fulfilled(job, value),
      (error: unknown) => this.rejected(job, error),
    );
  }

  /** DispatchHost: `job` reserves more tokens than any usable account allows. */
  unrunnable(job: Job): void {
    job.state = 'between';
    this.fail(job, this.control.tooLarge(job.tokens) ?? new RequestTooLargeError(`The request reserves ${job.tokens} tokens, more than any usable account allows`, job.tokens));
  }

  /** DispatchHost: the store failed; the dispatcher tries again later. */
  storeError(error: unknown, retryInMs: number): void {
    const message = error instanceof Error ? error.message : String(error);
    if ((error as { permanent?: unknown } | null)?.permanent === true) {
      // Retrying cannot help: fail what waits, and what comes, with one clear error.
      this.control.fatal(new StoreError(`The limit store cannot work: ${message}`, error));
      return;
    }
    // Emitted even with no listener: the pool then writes it once through process.emitWarning.
    this.events.emit('warning', { code: 'store_unavailable', message: `Limit store failed (${message}); trying again in ${retryInMs} ms`, error });
  }

  private readonly holdFor = (job: Job, run: number): SlotRelease => this.hold(job, run);

  /** Keeps the slot of a running job after it resolves (streams); returns its release. */
  private hold(job: Job, run: number): SlotRelease {
    // A task of an earlier run (bounced, failed over, retried) holds nothing now.
    if (run !== job.run) return () => undefined;
    job.held = true;
    // A stream holds its slot once its first chunk arrived: that is its time to first chunk.
    const firstChunkMs = this.clock.now() - job.startedAt;
    let released = false;
    return (job.releaseHold = (result) => {
      // A release from an earlier run's task is stale.
      if (released || job.run !== run) return;
      released = true;
      if (job.state === 'running') {
        // Released before the task settled: its settlement frees the slot as usual.
        job.held = false;
        return;
      }
      // A success only if the request itself succeeded (not aborted or timed out).
      const ok = job.ok && result?.error === undefined;
      this.releaseSlot(job);
      this.cleanup(job);
      if (ok) this.succeededOn(job, result?.usedTokens, result?.usage, result?.model, firstChunkMs);
      else job.key?.count('failed');
      this.checkIdle();
    });
  }

  private fulfilled(job: Job, value: unknown): void {
    if (job.held) {
      // A stream: the slot stays taken until it is read to the end.
      if (job.state !== 'done') return this.resolve(job, value);
      // Aborted or timed out while the task was finishing: nobody will read it.
      (value as { abort?: () => void } | null)?.abort?.();
      // Its request already failed (abort, timeout): no success, whatever the task returned.
      job.releaseHold?.({ error: job.failure ?? 'settled before the task finished' });
      return;
    }
    this.releaseSlot(job);
    if (job.state === 'done') return this.checkIdle();
    this.succeededOn(job, usedTokensOf(value), usageOf(value), modelOf(value), undefined);
    this.resolve(job, value);
  }

  private succeededOn(job: Job, usedTokens: number | undefined, usage: TokenUsage | undefined, model: string | undefined, firstChunkMs: number | undefined): void {
    const account = job.account as AccountMember;
    const key = job.key as KeyMember;
    account.rateLimitStreak = 0;
    if (account.probing) this.hooks.probed?.(account);
    account.counters.succeeded++;
    key.counters.succeeded++;
    if (usedTokens !== undefined) {
      key.count('usedTokens', usedTokens);
    }
    const cost = usage === undefined ? undefined : this.countUsage(key, model, usage);
    if (this.events.listenerCount('success') > 0) {
      this.events.emit('success', { requestId: job.seq, key: key.id, account: account.id, attempt: job.attempt, durationMs: this.clock.now() - job.startedAt, usedTokens, model, usage, cost, firstChunkMs });
    }
  }

  /** Adds a response's usage to its key, its account and the usage book; returns its cost. */
  private countUsage(key: KeyMember, model: string | undefined, usage: TokenUsage): number | undefined {
    const cost = this.usage.record(key.account.id, model ?? UNKNOWN_MODEL, usage);
    key.count('promptTokens', usage.prompt_tokens ?? 0);
    key.count('completionTokens', usage.completion_tokens ?? 0);
    key.count('cachedTokens', cachedTokensOf(usage));
    return cost;
  }

  private rejected(job: Job, error: unknown): void {
    const account = job.account as AccountMember;
    const key = job.key as KeyMember;
    if (job.state === 'done') {
      this.releaseSlot(job);
      return this.checkIdle();
    }
    const fault = this.bounded(withoutKey(classifyError(error), key));
    if (fault === undefined || fault.kind === 'aborted') {
      // The task's own error (schedule), passed through as it is.
      this.releaseSlot(job);
      key.count('failed');
      const err = error instanceof Error ? error : new KimiPoolError('ERR_API', `The task threw a non-Error value: ${String(error)}`);
      return this.fail(job, fault?.kind === 'aborted' ? new RequestAbortedError(error, this.where(job)) : err);
    }
    // Errors name the account too (Msh-Org-Id on 429s): two accounts that are one merge.
    if (fault.orgId !== undefined) this.hooks.orgSeen?.(key, fault.orgId);
    const reaction = reactionTo(fault, this.config.windowMs, account.rateLimitStreak, account.limits);
    switch (reaction.type) {
      case 'bounce': {
        const dim = fault.rateLimit?.dimension ?? 'unknown';
        key.count429(dim);
        account.rateLimitStreak++;
        if (reaction.learned !== undefined) {
          const before = account.limits;
          account.limits = reaction.learned;
          quiet(this.store.setLimits(account.id, reaction.learned));
          this.hooks.learned?.(account, before);
        }
        // Limits as we know them, and still a 429: the request reached Kimi later than the ledger allowed for.
        if (reaction.learned === undefined && (dim === 'rpm' || dim === 'tpm')) this.margins.surprise(account, dim);
        const current = fault.rateLimit?.current;
        if ((dim === 'tpm' || dim === 'tpd') && current !== undefined) {
          // "current" counts this request too: the rest is what the window already holds.
          quiet(this.store.observe?.(account.id, dim, Math.max(0, current - job.tokens)));
        }
        // Pause first: the release wakes the dispatcher, which must see the pause.
        this.releaseSlot(job, this.control.pause(account, reaction.pauseMs));
        job.bounces++;
        this.bounces++;
        if (this.events.listenerCount('ratelimited') > 0) {
          this.events.emit('ratelimited', { requestId: job.seq, key: key.id, account: account.id, dimension: dim, pausedMs: reaction.pauseMs, learned: reaction.learned, message: fault.message, bounces: job.bounces });
        }
        if (job.bounces > this.config.maxRateLimitBounces) {
          // A final failure on this account, counted like an exhausted retry.
          key.count('failed');
          const err = errorFor(fault, this.where(job));
          return this.fail(job, new RateLimitError(`Gave up after ${job.bounces} rate-limit 429s (maxRateLimitBounces: ${this.config.maxRateLimitBounces}); last: ${err.message}`, { ...this.where(job), status: fault.status, kimiType: fault.kimiType }));
        }
        return this.requeue(job);
      }
      case 'disable-key':
        key.count('authErrors');
        this.control.disableKey(key, fault);
        this.releaseSlot(job);
        return this.requeue(job);
      case 'disable-account':
        if (fault.status === 429) key.count429('quota');
        key.count('quotaErrors');
        if (account.probing && !account.disabled && this.hooks.trialFailed !== undefined) this.hooks.trialFailed(account, key, fault);
        else this.control.disableAccount(account, key, fault);
        this.releaseSlot(job);
        return this.requeue(job);
      case 'retry':
        return this.retry(job, fault);
      case 'fail':
        this.releaseSlot(job);
        key.count('failed');
        return this.fail(job, errorFor(fault, this.where(job)));
    }
  }

  /** The fault without a server-asked wait above `maxRetryAfterMs`, which is ignored and reported once. */
  private bounded(fault: Fault | undefined): Fault | undefined {
    if (fault === undefined) return undefined;
    const { fault: kept, ignoredMs } = boundedHints(fault, this.config.maxRetryAfterMs);
    if (ignoredMs !== undefined && !this.toldRetryAfter) {
      this.toldRetryAfter = true;
      this.events.emit('warning', {
        code: 'retry_after_ignored',
        message: `The server asked to wait ${ignoredMs} ms before retrying (${fault.status ?? ''} ${fault.kimiType ?? fault.kind}); waits above maxRetryAfterMs (${this.config.maxRetryAfterMs} ms) are ignored: the pool's own backoff applies and the request may run on another account meanwhile`,
      });
    }
    return kept;
  }

  private retry(job: Job, fault: Fault): void {
    const account = job.account as AccountMember;
    const key = job.key as KeyMember;
    if (fault.kind === 'overloaded') {
      key.count429('overloaded');
    } else if (fault.kind === 'connection') {
      key.count('connectionErrors');
    } else {
      key.count('serverErrors');
    }
    this.releaseSlot(job);
    const err = errorFor(fault, this.where(job));
    if (job.attempt > this.config.retries || this.closed) {
      key.count('failed');
      return this.fail(job, err);
    }
    const backoff = backoffDelay(job.attempt, { baseMs: this.config.retryBaseMs, maxMs: this.config.retryMaxMs, factor: 2 }, this.random());
    job.backoffMs = Math.max(backoff, fault.retryAfterMs ?? 0);
    job.state = 'between';
    key.count('retries');
    this.retries++;
    if (this.events.listenerCount('retry') > 0) {
      this.events.emit('retry', { requestId: job.seq, key: key.id, account: account.id, attempt: job.attempt + 1, delayMs: job.backoffMs, error: err });
    }
    retrying.add(err);
    if (job.attempt === 1) {
      // The first attempt ran without p-retry (see submit): hand the job to it, a tick
      // later as p-retry would; abort() in between finds the job 'between'.
      const resolve = job.resolveAttempt as (value: unknown) => void;
      queueMicrotask(() => resolve(pRetry((m) => this.attempt(job, m + 1), this.retryOptions)));
    } else (job.rejectAttempt as (e: unknown) => void)(err);
  }

  /** Back to the queue at the job's place; no retry used. */
  private requeue(job: Job): void {
    if (this.control.dead !== undefined) return this.fail(job, this.control.dead);
    if (this.closed) return this.fail(job, new PoolClosedError('The pool was closed before this request could run again'));
    job.notBefore = 0;
    this.dispatcher.requeue(job);
  }

  /**
   * Takes the slot off the job now (the job may start elsewhere at once); the
   * store hears of the release after `first` settles (a pause must land first).
   */
  private releaseSlot(job: Job, first?: Awaitable<void>): void {
    if (!job.slot) return;
    job.slot = false;
    const account = job.account as AccountMember;
    const key = job.key as KeyMember;
    // A request never seen leaving counts from now, before its slot is given back
    // (no wake: the release below wakes the dispatcher).
    if (job.leave === Leave.unsent || job.leave === Leave.writing) {
      job.leave = Leave.left;
      quiet(this.store.sent?.(account.id, job.seq, job.tokens));
    }
    account.inFlight--;
    key.inFlight--;
    this.inFlight--;
    if (key.disabled && key.inFlight === 0) this.hooks.keyIdle?.(key);
    if (first instanceof Promise) after(first, () => this.giveBack(account, job.seq));
    else this.giveBack(account, job.seq);
  }

  /** The attempt's request left the process: its start counts from now. */
  private readonly leftFor = (job: Job): void => {
    const account = job.account as AccountMember;
    const sent = this.store.sent?.(account.id, job.seq, job.tokens);
    // An account full of starts that had not left yet may have room now.
    if (account.place !== 'blocked') return;
    if (sent instanceof Promise) after(sent, () => this.dispatcher.wake(account));
    else this.dispatcher.wake(account);
  };

  private giveBack(account: AccountMember, lease: number): void {
    const released = this.store.release(account.id, lease);
    // No closure on the common synchronous path.
    if (released instanceof Promise) after(released, () => this.dispatcher.released(account));
    else this.dispatcher.released(account);
  }

  private resolve(job: Job, value: unknown): void {
    job.state = 'done';
    job.ok = true;
    if (!job.held) this.cleanup(job);
    this.active--;
    this.succeeded++;
    (job.resolveAttempt as (v: unknown) => void)(value);
    this.checkIdle();
  }

  /** Settles `job` with `error` for good. */
  private fail(job: Job, error: Error): void {
    if (job.state === 'done') return;
    if (job.state === 'queued' || job.state === 'delayed') this.dispatcher.remove(job);
    job.state = 'done';
    this.cleanup(job);
    this.active--;
    this.failed++;
    if (error instanceof KimiPoolError && error.attempts === undefined) error.attempts = job.attempt;
    if (this.events.listenerCount('failed') > 0) {
      this.events.emit('failed', { requestId: job.seq, key: job.key?.id, account: job.account?.id, attempt: job.attempt, error });
    }
    // The attempt promise exists once p-retry has called attempt(); before that, attempt() fails it.
    if (job.rejectAttempt !== undefined) job.rejectAttempt(error);
    else job.failure ??= error instanceof KimiPoolError ? error : new KimiPoolError('ERR_API', error.message, { cause: error });
    this.checkIdle();
  }

  /** Abort or timeout: settles now, wherever the job is; a running call is aborted too. */
  private abort(job: Job, error: KimiPoolError): void {
    if (job.state === 'done') {
      // A stream still being read: stop it, and free its slot now (it may never be read again).
      if (job.held) {
        job.controller?.abort(error);
        job.releaseHold?.({ error });
      }
      return;
    }
    if (job.state === 'between' && job.rejectAttempt === undefined) {
      job.failure = error;
      return;
    }
    if (job.state === 'running') job.controller?.abort(error);
    if (job.state === 'between') {
      // p-retry is between attempts: the next attempt() settles it.
      job.failure = error;
      return;
    }
    this.fail(job, error);
  }

  private cleanup(job: Job): void {
    // A settled job may wait in the queue until its entry is reached: keep no params alive.
    job.fn = settledTask;
    if (job.timer !== undefined) {
      this.clock.clearTimeout(job.timer);
      job.timer = undefined;
    }
    if (job.onAbort !== undefined && job.signal !== undefined) {
      job.signal.removeEventListener('abort', job.onAbort);
      job.onAbort = undefined;
    }
  }

  private where(job: Job): { key?: string; account?: string; attempts: number; host?: string } {
    return { key: job.key?.id, account: job.account?.id, attempts: job.attempt, host: job.key?.host };
  }

  private checkIdle(): void {
    if (this.active !== 0 || this.inFlight !== 0) return;
    const waiters = this.idleWaiters;
    if (waiters.length === 0 && this.events.listenerCount('idle') === 0) return;
    this.idleWaiters = [];
    this.events.emit('idle', { succeeded: this.succeeded, failed: this.failed });
    for (const w of waiters) w();
  }

  get isIdle(): boolean {
    return this.active === 0 && this.inFlight === 0;
  }

  /** Resolves when nothing is queued or in flight. */
  onIdle(): Promise<void> {
    if (this.isIdle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Rejects every request still waiting with `error` (pool.clear()); what runs goes on. */
  clearQueue(error: KimiPoolError): number {
    const jobs = this.dispatcher.drainAll();
    for (const job of jobs) {
      job.state = 'between';
      this.fail(job, error);
    }
    return jobs.length;
  }

  /** Rejects what waits, lets what runs finish, then closes the store. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const job of this.dispatcher.close()) {
        job.state = 'between';
        this.fail(job, new PoolClosedError('The pool was closed before this request ran'));
      }
      this.control.close();
      this.margins.close();
      for (const stop of this.unwatch.values()) stop();
      this.unwatch.clear();
    }
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.store.close();
  }
}
