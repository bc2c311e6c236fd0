/**
 * Each account's safety margin: the time added to every window to cover what
 * lies between a request leaving this process and Kimi counting it (network
 * delay, server queueing). It starts at `safetyMarginMs`. A rate-limit 429
 * that the ledger did not predict (the limits in its message are the ones we
 * enforce) shows that a request reached Kimi later than the margin allowed
 * for: the account's margin widens at once, to twice itself and by at least
 * {@link WIDEN_MIN_STEP_MS}, up to {@link maxMarginMs}, so the same conditions
 * do not give a second one. After {@link EASE_AFTER_WINDOWS} quiet windows the
 * widening is halved, and so on back to the base.
 */
import type { EventEmitter } from 'eventemitter3';
import type { Clock } from '../clock.js';
import type { ResolvedConfig } from '../config.js';
import type { KimiPoolEvents } from '../events.js';
import type { LimitStore } from '../store/limit-store.js';
import { quiet } from './awaitable.js';
import type { AccountMember } from './members.js';

/** A widening adds at least this much (ms): a lag worth a 429 is rarely smaller. */
export const WIDEN_MIN_STEP_MS = 200;
/** Windows without a surprise before a widening is halved. */
export const EASE_AFTER_WINDOWS = 10;
/** How long a margin that proved too narrow stays a floor for easing, in windows. */
export const REMEMBER_WINDOWS = 60;

/**
 * The widest margin a 429 can teach: a quarter window, at most 5 s, but
 * always room for two widenings from the base (4 x base), however short the window.
 */
export function maxMarginMs(baseMs: number, windowMs: number): number {
  return Math.max(4 * baseMs, WIDEN_MIN_STEP_MS, Math.min(windowMs / 4, 5_000));
}

export class MarginLearner {
  private readonly base: number;
  private readonly max: number;
  private readonly windowMs: number;
  private readonly timers = new Map<AccountMember, unknown>();
  private closed = false;

  constructor(
    config: ResolvedConfig,
    private readonly store: LimitStore,
    private readonly clock: Clock,
    private readonly events: EventEmitter<KimiPoolEvents>,
  ) {
    this.base = config.safetyMarginMs;
    this.windowMs = config.windowMs;
    this.max = maxMarginMs(this.base, this.windowMs);
  }

  /** A rate-limit 429 on `account` that its ledger did not predict. */
  surprise(account: AccountMember, dimension: 'rpm' | 'tpm'): void {
    account.surprises++;
    const now = this.clock.now();
    // Requests already in flight when the first one came back were sent under the same
    // conditions: their 429s are the same surprise, not a new one.
    if (now - account.marginWidenedAt < this.windowMs) return this.schedule(account);
    const from = account.marginMs;
    // This margin was not enough: easing stays above it for a while.
    account.marginFloor = { ms: from, until: now + REMEMBER_WINDOWS * this.windowMs };
    const to = Math.min(this.max, Math.max(2 * from, from + WIDEN_MIN_STEP_MS));
    if (to > from) this.set(account, to, from, 'widened', dimension);
    this.schedule(account);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  /** (Re)arms the account's easing: EASE_AFTER_WINDOWS quiet windows from now. */
  private schedule(account: AccountMember): void {
    if (this.closed || account.marginMs <= this.base) return;
    const old = this.timers.get(account);
    if (old !== undefined) this.clock.clearTimeout(old);
    this.timers.set(
      account,
      this.clock.setTimeout(() => {
        this.timers.delete(account);
        const from = account.marginMs;
        const excess = (from - this.base) / 2;
        const to = excess < 1 ? this.base : this.base + excess;
        const floor = account.marginFloor;
        // Not back to a margin that proved too narrow lately: hold until that is forgotten.
        const held = floor !== undefined && floor.until > this.clock.now() && to <= floor.ms;
        if (!held) this.set(account, to, from, 'eased', undefined);
        this.schedule(account);
      }, EASE_AFTER_WINDOWS * this.windowMs),
    );
  }

  private set(account: AccountMember, to: number, from: number, reason: 'widened' | 'eased', dimension: 'rpm' | 'tpm' | undefined): void {
    account.marginMs = to;
    if (reason === 'widened') account.marginWidenedAt = this.clock.now();
    quiet(this.store.setMargin?.(account.id, to));
    if (this.events.listenerCount('margin') > 0) {
      this.events.emit('margin', { account: account.id, marginMs: to, previousMs: from, reason, dimension });
    }
  }
}
