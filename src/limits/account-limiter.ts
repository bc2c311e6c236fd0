import type { Limits } from '../tiers.js';
import { WINDOWS_PER_DAY } from '../tiers.js';
import { StartLog } from './start-log.js';
import { TokenWindow } from './token-window.js';

/** What {@link AccountLimiter.check} answers when a request can never start here. */
export const NEVER = -1;

/**
 * The four limits of one account, enforced over sliding windows in local time.
 *
 * A start is granted ({@link commit}) before its request leaves the process
 * (the SDK builds it, a connection is opened, the event loop may be busy): it
 * is pending until {@link leave} records it at the moment it left, which is
 * when Kimi can first count it. A pending start counts as later than every
 * recorded one, so no decision taken meanwhile can be too early.
 *
 * Every window is widened by the safety margin: the server sees a start up to
 * `marginMs` later than we record it (network delay, server queueing), so two
 * starts we space `windowMs + marginMs` apart are never closer than `windowMs`
 * over there.
 */
export class AccountLimiter {
  private limitsNow: Limits;
  private readonly starts: StartLog;
  // Reservations less than 1/6000 window apart share an entry (stamped with the later time: conservative, at most 10 ms at a 60 s window), so a burst does not allocate one entry per request.
  private readonly minute: TokenWindow;
  private readonly day: TokenWindow;
  private span = 0;
  private daySpan = 0;
  /** Starts granted whose request has not left yet, and their tokens. */
  private pendingStarts = 0;
  private pendingTokens = 0;
  inFlight = 0;
  pausedUntil = -Infinity;

  constructor(
    limits: Limits,
    private readonly windowMs: number,
    marginMs: number,
  ) {
    this.limitsNow = limits;
    this.starts = new StartLog(limits.rpm);
    this.minute = new TokenWindow(windowMs / 6000);
    this.setMargin(marginMs);
    // A day holds many starts; merging reservations 1/60 window apart bounds memory.
    this.day = new TokenWindow(windowMs / 60);
  }

  get limits(): Limits {
    return this.limitsNow;
  }

  /**
   * How long until a request reserving `tokens` may start: 0 = now,
   * `Infinity` = when an in-flight request ends, {@link NEVER} = it exceeds TPM or TPD.
   */
  check(now: number, tokens: number): number {
    const l = this.limitsNow;
    if (tokens > l.tpm || tokens > l.tpd) return NEVER;
    if (this.inFlight >= l.concurrency) return Infinity;
    let at = this.pausedUntil;
    const rpmAt = this.starts.freeAt(this.span, this.pendingStarts);
    if (rpmAt > at) at = rpmAt;
    if (l.tpm !== Infinity) {
      const tpmAt = this.minute.freeAt(now, this.span, tokens + this.pendingTokens, l.tpm);
      if (tpmAt > at) at = tpmAt;
    }
    if (l.tpd !== Infinity) {
      const tpdAt = this.day.freeAt(now, this.daySpan, tokens, l.tpd);
      if (tpdAt > at) at = tpdAt;
    }
    return at > now ? at - now : 0;
  }

  /**
   * Takes a start that {@link check} allowed: a slot, and a pending start and
   * reservation that {@link leave} records. (TPD is recorded now: a day is
   * long enough for the margin to cover the time to leave.)
   */
  commit(now: number, tokens: number): void {
    this.inFlight++;
    this.pendingStarts++;
    this.pendingTokens += tokens;
    if (this.limitsNow.tpd !== Infinity) this.day.record(now, tokens);
  }

  /** The request of a pending start left the process at `now`: its start and tokens count from then. */
  leave(now: number, tokens: number): void {
    if (this.pendingStarts === 0) return;
    this.pendingStarts--;
    this.pendingTokens -= tokens;
    this.starts.record(now);
    if (this.limitsNow.tpm !== Infinity) this.minute.record(now, tokens);
  }

  /** Widens (or narrows) every window by `marginMs` from now on. */
  setMargin(marginMs: number): void {
    this.span = this.windowMs + marginMs;
    this.daySpan = this.windowMs * WINDOWS_PER_DAY + marginMs;
  }

  release(): void {
    if (this.inFlight > 0) this.inFlight--;
  }

  pause(until: number): void {
    if (until > this.pausedUntil) this.pausedUntil = until;
  }

  /** Lowers (or raises) limits, e.g. after a 429 told the real ones. */
  setLimits(limits: Limits): void {
    if (limits.rpm !== this.limitsNow.rpm) this.starts.resize(limits.rpm);
    this.limitsNow = limits;
  }

  /**
   * Brings the recorded usage up to what the server says it counted (a TPM or
   * TPD 429's "current"), so that a limit learned from the message, or usage
   * by others on the account, holds from now on.
   */
  observe(now: number, dimension: 'tpm' | 'tpd', used: number): void {
    const window = dimension === 'tpm' ? this.minute : this.day;
    const have = window.sum(now, dimension === 'tpm' ? this.span : this.daySpan);
    if (used > have) window.record(now, used - have);
  }

  /**
   * Takes over what `other` recorded (the two turned out to be one account):
   * its starts, its reservations (counted from `now`: later, so never too
   * early), its pending starts and its requests in flight.
   */
  absorb(other: AccountLimiter, now: number): void {
    const times = [...this.starts.times(), ...other.starts.times()].sort((a, b) => a - b);
    this.starts.resize(Math.max(this.limitsNow.rpm, other.limitsNow.rpm));
    this.starts.resize(this.limitsNow.rpm);
    this.starts.replace(times);
    const minute = other.minute.sum(now, other.span);
    if (minute > 0 && this.limitsNow.tpm !== Infinity) this.minute.record(now, minute);
    const day = other.day.sum(now, other.daySpan);
    if (day > 0 && this.limitsNow.tpd !== Infinity) this.day.record(now, day);
    this.pendingStarts += other.pendingStarts;
    this.pendingTokens += other.pendingTokens;
    this.inFlight += other.inFlight;
    if (other.pausedUntil > this.pausedUntil) this.pausedUntil = other.pausedUntil;
  }

  /** Starts within the window ending at `now`, pending ones included (for stats). */
  startsInWindow(now: number): number {
    return this.starts.countSince(now - this.span) + this.pendingStarts;
  }

  /** Tokens reserved within the window ending at `now`, pending ones included (for stats). */
  tokensInWindow(now: number): number {
    return this.minute.sum(now, this.span) + this.pendingTokens;
  }
}
