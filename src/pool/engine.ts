import type { EventEmitter } from 'eventemitter3';
import OpenAI from 'openai';
import { systemClock, type Clock } from '../clock.js';
import type { ResolvedConfig, ResolvedKey } from '../config.js';
import { InvalidRequestError, type KimiPoolError, PoolClosedError, RequestAbortedError, RequestTooLargeError, StoreError } from '../errors.js';
import type { KimiPoolEvents } from '../events.js';
import type { Fault } from '../kimi-errors.js';
import { watchWire } from '../net/wire-watch.js';
import type { KimiPoolOptions, RequestOptions } from '../options.js';
import { KIMI_PRICES_USD, parsePriceTable } from '../pricing.js';
import type { LimitStore, StoreEvent } from '../store/limit-store.js';
import { MemoryStore } from '../store/memory-store.js';
import type { Limits } from '../tiers.js';
import { AccountControl } from './account-control.js';
import { after } from './awaitable.js';
import { KeyDepartures } from './departures.js';
import { Dispatcher, type DispatchHost } from './dispatcher.js';
import { Job } from './job.js';
import { KeyFetches } from './key-fetch.js';
import { MarginLearner } from './margins.js';
import { AccountMember, KeyMember } from './members.js';
import { closedError, RequestLifecycle } from './request-lifecycle.js';
import type { TaskContext } from './task-context.js';
import { UsageBook } from './usage.js';

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

/**
 * The pool's parts, wired: accounts and their keys (one client each), the
 * limit store, the dispatcher that starts requests where the store allows,
 * and the lifecycle that carries each request from submit to its answer
 * (see `lifecycle.ts`).
 */
export class Engine implements DispatchHost {
  readonly accounts: AccountMember[] = [];
  readonly keys: KeyMember[] = [];
  readonly dispatcher: Dispatcher;
  readonly store: LimitStore;
  readonly clock: Clock;
  readonly random: () => number;
  /** Every request's way from submit to its answer, and the request counters. */
  readonly lifecycle: RequestLifecycle;
  private seq = 0;
  closed = false;
  readonly control: AccountControl;
  /** Set by the modules that recover accounts and limits. */
  hooks: EngineHooks = {};
  readonly margins: MarginLearner;
  /** Tokens and cost of successful responses, per account and model. */
  readonly usage: UsageBook;
  /** Stops watching Node's fetch for each key. */
  private readonly unwatch = new Map<KeyMember, () => void>();
  /** Each key's response deadlines and Msh-Org-Id watch. */
  private readonly fetches: KeyFetches;

  constructor(
    readonly config: ResolvedConfig,
    private readonly options: KimiPoolOptions,
    readonly events: EventEmitter<KimiPoolEvents>,
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
    this.lifecycle = new RequestLifecycle(this);
    this.dispatcher = new Dispatcher(this.accounts, this.store, this.clock, this);
    this.control = new AccountControl(this.accounts, this.dispatcher, this.store, this.clock, events, () => {
      this.lifecycle.dropAll(this.dispatcher.drainAll(), () => this.control.dead as KimiPoolError);
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

  /** The attempt's request left the process: its start counts from now. */
  private readonly leftFor = (job: Job): void => {
    const account = job.account as AccountMember;
    const sent = this.store.sent?.(account.id, job.seq, job.tokens);
    // An account full of starts that had not left yet may have room now.
    if (account.place !== 'blocked') return;
    if (sent instanceof Promise) after(sent, () => this.dispatcher.wake(account));
    else this.dispatcher.wake(account);
  };

  /**
   * Queues `fn` to run on a key with `tokens` reserved.
   * @returns what `fn` resolves to, once; rejects with the request's error (see errors.ts).
   */
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
    const answer = new Promise<T>((resolve, reject) => {
      job.resolve = resolve as (value: unknown) => void;
      job.reject = reject;
    });
    this.lifecycle.submit(job, signal, timeout);
    return answer;
  }

  /** DispatchHost: the store granted `account` for `job`. */
  start(job: Job, account: AccountMember, now: number): void {
    this.lifecycle.start(job, account, now);
  }

  /** DispatchHost: `job` reserves more tokens than any usable account allows. */
  unrunnable(job: Job): void {
    this.lifecycle.drop(job, this.control.tooLarge(job.tokens) ?? new RequestTooLargeError(`The request reserves ${job.tokens} tokens, more than any usable account allows`, job.tokens));
  }

  /** DispatchHost: `job`'s backoff is over. */
  due(job: Job): void {
    this.lifecycle.due(job);
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

  /** Requests holding a slot. */
  get inFlight(): number {
    return this.lifecycle.inFlight;
  }

  get isIdle(): boolean {
    return this.lifecycle.isIdle;
  }

  /** Resolves when nothing is queued or in flight. */
  onIdle(): Promise<void> {
    return this.lifecycle.onIdle();
  }

  /** Rejects every request still waiting with `error` (pool.clear()); what runs goes on. */
  clearQueue(error: KimiPoolError): number {
    return this.lifecycle.dropAll(this.dispatcher.drainAll(), () => error);
  }

  /** Rejects what waits, lets what runs finish, then closes the store. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.lifecycle.dropAll(this.dispatcher.close(), closedError);
      this.control.close();
      this.margins.close();
      for (const stop of this.unwatch.values()) stop();
      this.unwatch.clear();
    }
    await this.lifecycle.onIdle();
    // A decision of the store still on the wire gives its grant back first.
    await this.dispatcher.settled();
    await this.store.close();
  }
}
