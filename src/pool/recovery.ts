/**
 * What comes back after a while:
 *
 * - An account disabled for a quota error (suspended, out of balance) is
 *   checked again on a backoff schedule: its balance first, and when that is
 *   above 0 (or the endpoint does not answer) the account takes one request
 *   on trial. A success restores it; another quota error disables it again,
 *   and the next check comes later.
 * - A limit learned from a 429 eases back toward the configured one after
 *   {@link EASE_AFTER_WINDOWS} quiet windows, halfway each time, so one bad
 *   minute does not last for days. A new 429 learns it again.
 *
 * A key disabled by a 401 stays out: its key is revoked, only a new key helps
 * (pool.removeKey, pool.addKeys).
 */
import type { EventEmitter } from 'eventemitter3';
import type { Clock } from '../clock.js';
import type { KimiPoolEvents } from '../events.js';
import { WINDOWS_PER_DAY, type Limits } from '../tiers.js';
import { quiet } from './awaitable.js';
import type { Engine } from './engine.js';
import { askBalance } from './kimi-account-api.js';
import type { Fault } from '../kimi-errors.js';
import type { AccountMember, KeyMember } from './members.js';
import { sameLimits, type Roster } from './roster.js';

/** Checks of a quota-disabled account, in windows after it was disabled (then every 60 windows). */
export const CHECK_AFTER_WINDOWS: readonly number[] = [1, 2, 5, 10, 30, 60];
/** Quiet windows before a learned limit eases back a step. */
export const EASE_AFTER_WINDOWS = 10;

interface Trial {
  step: number;
  timer: unknown;
  since: number;
  nextAt: number | undefined;
}

/** Beyond this a doubled limit is taken for the unlimited one it eases back to. */
const UNLIMITED_ABOVE = 1e9;

/**
 * A limit halfway back from `learned` toward `configured` (doubled when the
 * configured one is unlimited), or the configured one when close. TPD moves
 * only when `day` is true: a day's limit is learned for a day.
 */
export function easeToward(learned: Limits, configured: Limits, day: boolean): Limits {
  const step = (l: number, c: number): number => {
    if (l >= c) return c;
    if (c === Infinity) return l * 2 > UNLIMITED_ABOVE ? c : Math.max(1, l * 2);
    const next = Math.ceil(l + (c - l) / 2);
    return c - next <= 1 ? c : next;
  };
  return {
    concurrency: step(learned.concurrency, configured.concurrency),
    rpm: step(learned.rpm, configured.rpm),
    tpm: step(learned.tpm, configured.tpm),
    tpd: day ? step(learned.tpd, configured.tpd) : learned.tpd,
  };
}

export class Recovery {
  private readonly trials = new Map<AccountMember, Trial>();
  private readonly easing = new Map<AccountMember, unknown>();
  /** When each account last learned a limit from a 429 (clock time). */
  private readonly learnedAt = new Map<AccountMember, number>();
  private closed = false;

  constructor(
    private readonly engine: Engine,
    private readonly roster: Roster,
    private readonly clock: Clock,
    private readonly events: EventEmitter<KimiPoolEvents>,
    private readonly fetch: typeof globalThis.fetch,
  ) {}

  /** When the account is checked next (clock time), for stats. */
  nextCheckAt(account: AccountMember): number | undefined {
    return this.trials.get(account)?.nextAt;
  }

  /** The account was disabled for a quota error: check it later. */
  disabled(account: AccountMember): void {
    if (this.closed) return;
    const t = this.nextStep(account);
    account.probing = false;
    this.schedule(account, t);
  }

  /**
   * A quota error on trial: the account is out again (in the store too), the
   * next check comes later. Not a new `account-disabled`: it never came back;
   * the `account-check` event says the trial failed.
   */
  trialFailed(account: AccountMember, key: KeyMember, fault: Fault): void {
    account.probing = false;
    account.disabled = true;
    account.disabledReason = `${fault.status ?? ''} ${fault.kimiType ?? fault.kind}`.trim();
    this.engine.dispatcher.kill(account);
    quiet(this.engine.store.disable?.({ scope: 'account', account: account.id, key: key.id, status: fault.status, kimiType: fault.kimiType }));
    const t = this.nextStep(account);
    if (this.closed) return;
    this.schedule(account, t);
    this.events.emit('account-check', { account: account.id, balance: undefined, ok: false, nextCheckInMs: (t.nextAt as number) - this.clock.now(), message: `the trial request failed (${fault.message}): checked again later` });
  }

  /** The account's trial record, a step further along the schedule (a new one at the first step). */
  private nextStep(account: AccountMember): Trial {
    const t = this.trials.get(account);
    if (t !== undefined) {
      t.step++;
      return t;
    }
    const fresh: Trial = { step: 0, timer: undefined, since: this.clock.now(), nextAt: undefined };
    this.trials.set(account, fresh);
    return fresh;
  }

  /** A request succeeded on an account on trial: it is back. */
  probed(account: AccountMember): void {
    account.probing = false;
    const t = this.trials.get(account);
    this.trials.delete(account);
    this.events.emit('account-restored', { account: account.id, disabledMs: t === undefined ? 0 : this.clock.now() - t.since });
    // It ran one at a time while on trial: let the rest start.
    this.engine.dispatcher.revive(account);
  }

  /** Another pool on the shared store put the account on trial: so does this one (one request at a time here too). */
  enabledElsewhere(account: AccountMember): void {
    const t = this.trials.get(account);
    if (t?.timer !== undefined) this.clock.clearTimeout(t.timer);
    this.trials.delete(account);
    this.enable(account, true, false);
  }

  /** A 429 taught lower limits than the configured ones: ease them back after a quiet period (a new 429 starts it again). */
  learned(account: AccountMember): void {
    if (this.closed) return;
    this.learnedAt.set(account, this.clock.now());
    this.easeLater(account);
  }

  private easeLater(account: AccountMember): void {
    const old = this.easing.get(account);
    if (old !== undefined) this.clock.clearTimeout(old);
    this.easing.set(
      account,
      this.clock.setTimeout(() => {
        this.easing.delete(account);
        if (!this.engine.accounts.includes(account)) return;
        const windowMs = this.engine.config.windowMs;
        const day = this.clock.now() - (this.learnedAt.get(account) ?? -Infinity) >= WINDOWS_PER_DAY * windowMs;
        const next = easeToward(account.limits, account.configured, day);
        this.roster.applyLimits(account, next, 'eased', false);
        if (!sameLimits(next, account.configured)) this.easeLater(account);
        else this.learnedAt.delete(account);
      }, EASE_AFTER_WINDOWS * this.engine.config.windowMs),
    );
  }

  close(): void {
    this.closed = true;
    for (const t of this.trials.values()) if (t.timer !== undefined) this.clock.clearTimeout(t.timer);
    for (const timer of this.easing.values()) this.clock.clearTimeout(timer);
    this.easing.clear();
  }

  private schedule(account: AccountMember, t: Trial): void {
    if (t.timer !== undefined) this.clock.clearTimeout(t.timer);
    const windows = CHECK_AFTER_WINDOWS[Math.min(t.step, CHECK_AFTER_WINDOWS.length - 1)] as number;
    const ms = windows * this.engine.config.windowMs;
    t.nextAt = this.clock.now() + ms;
    t.timer = this.clock.setTimeout(() => {
      t.timer = undefined;
      t.nextAt = undefined;
      void this.check(account, t);
    }, ms);
  }

  private async check(account: AccountMember, t: Trial): Promise<void> {
    const key = account.keys.find((k) => !k.disabled);
    if (this.closed || key === undefined || !this.engine.accounts.includes(account)) {
      this.trials.delete(account);
      return;
    }
    const answer = await askBalance(this.fetch, key.client.baseURL, key.client.apiKey ?? '');
    if (this.closed || this.trials.get(account) !== t || !account.disabled) return;
    if (answer.ok && answer.value <= 0) {
      t.step++;
      this.schedule(account, t);
      this.events.emit('account-check', { account: account.id, balance: answer.value, ok: false, nextCheckInMs: (t.nextAt as number) - this.clock.now(), message: `available_balance is ${answer.value}: checked again later` });
      return;
    }
    this.events.emit('account-check', {
      account: account.id,
      balance: answer.ok ? answer.value : undefined,
      ok: true,
      nextCheckInMs: undefined,
      message: answer.ok ? `available_balance is ${answer.value}: one request on trial` : `${answer.reason}: one request on trial`,
    });
    this.enable(account, true);
  }


  /**
   * Back in service; `trial`: one request at a time until one succeeds (then
   * {@link Recovery.probed}). A shared store is told (`share`), or the trial
   * could not start: the store refuses a disabled account. Each pool on it
   * then runs its own trial, one request at a time.
   */
  private enable(account: AccountMember, trial: boolean, share = true): void {
    if (!account.disabled) return;
    account.disabled = false;
    account.disabledReason = undefined;
    account.probing = trial;
    if (share) quiet(this.engine.store.enable?.({ scope: 'account', account: account.id, key: undefined }));
    this.engine.dispatcher.revive(account);
  }
}
