import { EventEmitter } from 'eventemitter3';
import { chatCompletions, type ChatCompletions } from './chat.js';
import { checkNumber, resolveConfig } from './config.js';
import type { KimiPoolEvents } from './events.js';
import type { KimiPoolOptions, ScheduleOptions } from './options.js';
import { Engine } from './pool/engine.js';
import type { TaskContext } from './pool/task-context.js';
import { copyCounters, jsonLimits, type PoolStats } from './stats.js';
import { InvalidRequestError, QueueClearedError } from './errors.js';
import { Unheard } from './unheard.js';
import { SCHEDULE_OPTIONS, unknownRequestOption } from './option-names.js';
import { estimatePromptTokens } from './tokens.js';
import { RuntimeEdits } from './pool/runtime-edits.js';
import type { LimitOverrides } from './options.js';
import type { TierName } from './tiers.js';

/**
 * One request queue over many Kimi API keys.
 *
 * Requests wait in one priority queue and start on whichever account can take
 * them now within its limits (RPM, TPM, TPD, concurrency; per account, shared
 * by its keys). 429s pause the account and put the request back; transient
 * faults are retried with backoff; revoked keys and suspended accounts are
 * dropped and their work rerouted. Every request settles exactly once.
 *
 * @example
 * const pool = new KimiPool({ keys: process.env.KIMI_API_KEYS, tier: 'tier1' });
 * const r = await pool.chat.completions.create({ model: 'kimi-k2.5', messages, max_tokens: 512 });
 */
export class KimiPool extends EventEmitter<KimiPoolEvents> {
  /** The OpenAI-compatible front: `pool.chat.completions.create(params, { priority, signal, timeout })`. */
  readonly chat: { readonly completions: ChatCompletions };
  private readonly engine: Engine;
  private readonly edits: RuntimeEdits;
  private warnedNoMaxTokens = false;
  private readonly unheard = new Unheard();

  /** @throws {ConfigError} when an option is invalid; the message names it. */
  constructor(options: KimiPoolOptions) {
    super();
    const config = resolveConfig(options);
    this.engine = new Engine(config, options, this);
    this.edits = new RuntimeEdits(this.engine, options, this);
    const estimate = options.estimatePromptTokens ?? estimatePromptTokens;
    this.chat = {
      completions: chatCompletions(this.engine, estimate, () => {
        if (this.warnedNoMaxTokens) return;
        this.warnedNoMaxTokens = true;
        this.emit('warning', {
          code: 'no_max_tokens',
          message: `A request set no max_tokens: ${config.defaultMaxTokens} tokens (option defaultMaxTokens) are reserved for its completion, as Kimi reserves its model default. Set max_tokens to fit more requests in each account's TPM.`,
        });
      }),
    };
  }

  /**
   * Emits to the listeners; one that throws cannot break the pool (it emits in
   * the middle of its own bookkeeping): the error is caught and reported as a
   * `warning` event with code `listener_error`. A warning, or a disabled key or
   * account, that nobody listens to is written once per kind through
   * `process.emitWarning`.
   */
  override emit<E extends EventEmitter.EventNames<KimiPoolEvents>>(event: E, ...args: EventEmitter.EventArgs<KimiPoolEvents, E>): boolean {
    if (this.listenerCount(event) === 0 && (event === 'warning' || this.listenerCount('warning') === 0)) {
      return this.unheard.tell(event, args[0] as never);
    }
    try {
      return super.emit(event, ...args);
    } catch (error) {
      const message = `A listener of '${String(event)}' threw: ${error instanceof Error ? error.message : String(error)}`;
      // A throwing warning listener cannot be told through itself.
      if (event === 'warning') this.unheard.tell('warning', { code: 'listener_error', message, error });
      else this.emit('warning', { code: 'listener_error', message, error });
      return true;
    }
  }

  /**
   * Runs any call on a pooled key: `fn` gets the key's `openai` client when the
   * key's account can start it. Rejections from the API are handled as for
   * chat (bounce, failover, retry); other errors of `fn` reject as they are.
   * @example await pool.schedule(({ client, signal }) => client.embeddings.create(body, { signal }), { tokens: 800 })
   */
  schedule<T>(fn: (ctx: TaskContext) => T | PromiseLike<T>, options: ScheduleOptions = {}): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(new InvalidRequestError(`Expected schedule() to get a function, got ${typeof fn}`));
    const unknown = unknownRequestOption(options ?? {}, SCHEDULE_OPTIONS);
    if (unknown !== undefined) return Promise.reject(new InvalidRequestError(unknown));
    let tokens: number;
    try {
      tokens = checkNumber('tokens', options.tokens ?? 0, { min: 0, integer: true });
    } catch (error) {
      return Promise.reject(new InvalidRequestError((error as Error).message));
    }
    return this.engine.submit(fn, tokens, options);
  }

  /**
   * Adds keys to the running pool, in any form `keys` takes. A key of an
   * account already in the pool shares its limits; another makes a new
   * account (limits from `tier`/`accounts` as at construction). Keys to
   * discover (option `discover`) are asked about first: it resolves once the
   * keys take requests, with their ids.
   * @throws {ConfigError} (rejects) when a key is malformed or already in the pool; {PoolClosedError} after close().
   */
  addKeys(keys: KimiPoolOptions['keys']): Promise<string[]> {
    return this.edits.addKeys(keys);
  }

  /**
   * Takes a key out of the pool: no new request starts on it (here, and in
   * every pool sharing the Redis store). Its requests in flight end on it.
   * With `{ drain: true }` (default) it resolves once they have; with
   * `drain: false` at once. Removing every key of every account leaves new
   * requests waiting until {@link KimiPool.addKeys}.
   * @throws {ConfigError} (rejects) when no key has this id.
   */
  removeKey(id: string, options: { readonly drain?: boolean } = {}): Promise<void> {
    return this.edits.removeKey(id, options.drain !== false);
  }

  /**
   * Replaces an account's limits (a tier upgrade): a tier name or any of
   * `{ concurrency, rpm, tpm, tpd }` (the others stay). They become the
   * configured limits (what a limit learned from a 429 eases back to) and win
   * over discovery. Shared through the Redis store.
   * @throws {ConfigError} when the account is unknown or a value invalid.
   * @example pool.setLimits('org-1', 'tier2'); pool.setLimits('org-1', { rpm: 500 })
   */
  setLimits(account: string, limits: LimitOverrides | TierName): void {
    this.edits.setLimits(account, limits);
  }

  /** Starts nothing new until {@link KimiPool.resume}; what runs goes on. */
  pause(): void {
    this.engine.dispatcher.paused = true;
  }

  /** Starts requests again after {@link KimiPool.pause}. */
  resume(): void {
    this.engine.dispatcher.paused = false;
    this.engine.dispatcher.pump();
  }

  /** True between pause() and resume(). */
  get isPaused(): boolean {
    return this.engine.dispatcher.paused;
  }

  /** Rejects every request still waiting with `QueueClearedError` (what runs goes on); returns how many it rejected. */
  clear(): number {
    return this.engine.clearQueue(new QueueClearedError());
  }

  /** Requests waiting to start (queued or backing off), as p-queue's `size`. */
  get size(): number {
    return this.engine.dispatcher.waitingJobs;
  }

  /** Requests running, as p-queue's `pending`. */
  get pending(): number {
    return this.engine.inFlight;
  }

  /** Resolves when nothing is queued or in flight (streams being read count as in flight). */
  onIdle(): Promise<void> {
    return this.engine.onIdle();
  }

  /**
   * Closes the pool. By default queued requests reject with `PoolClosedError`
   * and the call resolves once in-flight ones finish; with `{ drain: true }`
   * it first waits for everything queued to finish.
   */
  async close(options: { readonly drain?: boolean } = {}): Promise<void> {
    if (options.drain === true) await this.engine.onIdle();
    this.edits.close();
    await this.engine.close();
  }

  /** A JSON-serialisable snapshot: per key and per account counters, usage and pauses. */
  stats(): PoolStats {
    const e = this.engine;
    const now = e.clock.now();
    return {
      queued: e.dispatcher.waitingJobs,
      inFlight: e.inFlight,
      paused: e.dispatcher.paused,
      submitted: e.lifecycle.submitted,
      succeeded: e.lifecycle.succeeded,
      failed: e.lifecycle.failed,
      retries: e.lifecycle.retries,
      bounces: e.lifecycle.bounces,
      keys: e.keys.map((k) => ({
        id: k.id,
        account: k.account.id,
        ...copyCounters(k.counters),
        inFlight: k.inFlight,
        disabled: k.disabled,
        disabledReason: k.disabledReason ?? null,
      })),
      accounts: e.accounts.map((a) => {
        const u = e.store.usage(a.id);
        const usable = a.usable;
        return {
          id: a.id,
          tier: a.tier,
          limits: jsonLimits(a.limits),
          keys: a.keys.map((k) => k.id),
          ...copyCounters(a.counters),
          inFlight: a.inFlight,
          startsInWindow: u.startsInWindow,
          tokensInWindow: u.tokensInWindow,
          disabled: !usable,
          disabledReason: a.disabledReason ?? (usable ? null : 'every key disabled'),
          pausedForMs: u.pausedUntil === null ? null : Math.max(0, u.pausedUntil - now),
          nextFreeInMs: usable ? u.nextFreeInMs : null,
          safetyMarginMs: a.marginMs,
          unpredicted429s: a.surprises,
          configuredLimits: jsonLimits(a.configured),
          org: this.edits.roster.orgOf.get(a) ?? null,
          onTrial: a.probing,
          nextCheckInMs: nextCheck(this.edits.recovery.nextCheckAt(a), now),
        };
      }),
      usage: e.usage.stats(),
    };
  }
}

function nextCheck(at: number | undefined, now: number): number | null {
  return at === undefined ? null : Math.max(0, at - now);
}
