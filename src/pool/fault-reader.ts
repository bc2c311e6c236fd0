/**
 * Reads a failed attempt the Kimi way: what its error says of the key and the
 * account (pause, learned limits, a revoked key, a disabled account) and what
 * the request does next (bounce, retry after a backoff, or fail). The account's
 * side is done here; the request's move is the lifecycle's.
 */
import { KimiPoolError, RateLimitError, RequestAbortedError } from '../errors.js';
import { classifyError, type Fault } from '../kimi-errors.js';
import { backoffDelay } from '../retry-timing.js';
import type { Awaitable } from '../store/limit-store.js';
import { quiet } from './awaitable.js';
import type { Engine } from './engine.js';
import type { Job } from './job.js';
import type { AccountMember, KeyMember } from './members.js';
import { boundedHints, errorFor, reactionTo } from './reactions.js';
import { withoutKey } from './task-context.js';

/** What a failed attempt's request does next. */
export type Verdict =
  /** Back at its place in the queue, no retry used; the account's slot is freed once `pause` landed. */
  | { readonly next: 'bounce'; readonly pause?: Awaitable<void> }
  /** Runs again after `backoffMs`, as attempt + 1. */
  | { readonly next: 'retry'; readonly backoffMs: number; readonly pause?: undefined }
  /** Fails with `error`. */
  | { readonly next: 'fail'; readonly error: Error; readonly pause?: Awaitable<void> };

const BOUNCE: Verdict = { next: 'bounce' };

/** Where a request ran, for its errors. */
export function whereOf(job: Job): { key?: string; account?: string; attempts: number; host?: string } {
  return { key: job.key?.id, account: job.account?.id, attempts: job.attempt, host: job.key?.host };
}

/** Reads failed attempts for one engine. */
export class FaultReader {
  private toldRetryAfter = false;

  constructor(private readonly engine: Engine) {}

  /**
   * What `error`, the failure of `job`'s running attempt, means. Counts it,
   * acts on the account and emits `ratelimited` or `retry`. It emits while the
   * job is running: a listener may abort the job meanwhile (the caller checks;
   * once aborted, nothing more is counted or told of the request here).
   */
  read(job: Job, error: unknown): Verdict {
    const { engine } = this;
    const account = job.account as AccountMember;
    const key = job.key as KeyMember;
    const fault = this.bounded(withoutKey(classifyError(error), key));
    if (fault === undefined || fault.kind === 'aborted') {
      // The task's own error (schedule), passed through as it is.
      key.count('failed');
      if (fault?.kind === 'aborted') return { next: 'fail', error: new RequestAbortedError(error, whereOf(job)) };
      return { next: 'fail', error: error instanceof Error ? error : new KimiPoolError('ERR_API', `The task threw a non-Error value: ${String(error)}`) };
    }
    // Errors name the account too (Msh-Org-Id on 429s): two accounts that are one merge.
    if (fault.orgId !== undefined) engine.hooks.orgSeen?.(key, fault.orgId);
    const reaction = reactionTo(fault, engine.config.windowMs, account.rateLimitStreak, account.limits);
    switch (reaction.type) {
      case 'bounce':
        return this.rateLimited(job, fault, reaction.pauseMs, reaction.learned);
      case 'disable-key':
        key.count('authErrors');
        engine.control.disableKey(key, fault);
        return BOUNCE;
      case 'disable-account':
        if (fault.status === 429) key.count429('quota');
        key.count('quotaErrors');
        if (account.probing && !account.disabled && engine.hooks.trialFailed !== undefined) engine.hooks.trialFailed(account, key, fault);
        else engine.control.disableAccount(account, key, fault);
        return BOUNCE;
      case 'retry':
        return this.transient(job, fault);
      case 'fail':
        key.count('failed');
        return { next: 'fail', error: errorFor(fault, whereOf(job)) };
    }
  }

  /** A 429 rate_limit_reached_error: pause the account, learn what it says, bounce (or give up). */
  private rateLimited(job: Job, fault: Fault, pauseMs: number, learned: AccountMember['limits'] | undefined): Verdict {
    const { engine } = this;
    const account = job.account as AccountMember;
    const key = job.key as KeyMember;
    const dim = fault.rateLimit?.dimension ?? 'unknown';
    key.count429(dim);
    account.rateLimitStreak++;
    if (learned !== undefined) {
      const before = account.limits;
      account.limits = learned;
      quiet(engine.store.setLimits(account.id, learned));
      engine.hooks.learned?.(account, before);
    }
    // Limits as we know them, and still a 429: the request reached Kimi later than the ledger allowed for.
    if (learned === undefined && (dim === 'rpm' || dim === 'tpm')) engine.margins.surprise(account, dim);
    const current = fault.rateLimit?.current;
    if ((dim === 'tpm' || dim === 'tpd') && current !== undefined) {
      // "current" counts this request too: the rest is what the window already holds.
      quiet(engine.store.observe?.(account.id, dim, Math.max(0, current - job.tokens)));
    }
    // The pause lands before the slot is freed: the release wakes the dispatcher, which must see it.
    const pause = engine.control.pause(account, pauseMs);
    // Aborted by a listener of what came before (warning, hooks): no bounce to count or tell of.
    if (job.state !== 'running') return { next: 'bounce', pause };
    job.bounces++;
    engine.lifecycle.bounces++;
    if (engine.events.listenerCount('ratelimited') > 0) {
      engine.events.emit('ratelimited', { requestId: job.seq, key: key.id, account: account.id, dimension: dim, pausedMs: pauseMs, learned, message: fault.message, bounces: job.bounces });
    }
    if (job.bounces <= engine.config.maxRateLimitBounces) return { next: 'bounce', pause };
    // A final failure on this account, counted like an exhausted retry.
    key.count('failed');
    const last = errorFor(fault, whereOf(job));
    const max = engine.config.maxRateLimitBounces;
    const error = new RateLimitError(`Gave up after ${job.bounces} rate-limit 429s (maxRateLimitBounces: ${max}); last: ${last.message}`, { ...whereOf(job), status: fault.status, kimiType: fault.kimiType });
    return { next: 'fail', error, pause };
  }

  /** A transient fault: retry after a backoff, or fail once the retries ran out. */
  private transient(job: Job, fault: Fault): Verdict {
    const { engine } = this;
    const key = job.key as KeyMember;
    if (fault.kind === 'overloaded') key.count429('overloaded');
    else if (fault.kind === 'connection') key.count('connectionErrors');
    else key.count('serverErrors');
    const error = errorFor(fault, whereOf(job));
    const { config } = engine;
    // Aborted by a listener of what came before (warning, hooks): no retry to count or tell of.
    if (job.state !== 'running') return { next: 'fail', error };
    if (job.attempt > config.retries || engine.closed) {
      key.count('failed');
      return { next: 'fail', error };
    }
    const backoff = backoffDelay(job.attempt, { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs, factor: 2 }, engine.random());
    const backoffMs = Math.max(backoff, fault.retryAfterMs ?? 0);
    key.count('retries');
    engine.lifecycle.retries++;
    if (engine.events.listenerCount('retry') > 0) {
      engine.events.emit('retry', { requestId: job.seq, key: key.id, account: key.account.id, attempt: job.attempt + 1, delayMs: backoffMs, error });
    }
    return { next: 'retry', backoffMs };
  }

  /** The fault without a server-asked wait above `maxRetryAfterMs`, which is ignored and reported once. */
  private bounded(fault: Fault | undefined): Fault | undefined {
    if (fault === undefined) return undefined;
    const max = this.engine.config.maxRetryAfterMs;
    const { fault: kept, ignoredMs } = boundedHints(fault, max);
    if (ignoredMs !== undefined && !this.toldRetryAfter) {
      this.toldRetryAfter = true;
      this.engine.events.emit('warning', {
        code: 'retry_after_ignored',
        message: `The server asked to wait ${ignoredMs} ms before retrying (${fault.status ?? ''} ${fault.kimiType ?? fault.kind}); waits above maxRetryAfterMs (${max} ms) are ignored: the pool's own backoff applies and the request may run on another account meanwhile`,
      });
    }
    return kept;
  }
}
