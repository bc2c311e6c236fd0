/**
 * Per-account state and limit enforcement. Limits belong to the ACCOUNT: all
 * its keys share one in-flight count and one pair of sliding windows, as on
 * the real platform ("rate limits are enforced at the user level").
 */
import { createHash } from 'node:crypto';
import { TIERS, WINDOWS_PER_DAY, type Limits, type TierName } from '../../tiers.js';
import { akId, kimiErrors, type KimiError } from './errors.js';
import { PromptCache } from './prompt-cache.js';
import { SlidingWindow } from './sliding-window.js';
import type { AccountStats, SimulatorAccount, SimulatorAccountPatch } from './types.js';

/** Refusals decided by {@link AccountState.admit}. */
export type LimitKind = 'quota' | 'concurrency' | 'rpm' | 'tpm' | 'tpd';

/** Result of {@link AccountState.admit}: being limited is a result, not an exception. */
export type Admission = { readonly ok: true } | { readonly ok: false; readonly kind: LimitKind; readonly error: KimiError };

/** Seconds quoted in the concurrency message: Kimi always says 1. */
const CONCURRENCY_RETRY_SECONDS = 1;

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** Fresh counters for one account. */
export function emptyAccountStats(): AccountStats {
  return {
    served: 0,
    refused: { auth: 0, invalid: 0, quota: 0, concurrency: 0, rpm: 0, tpm: 0, tpd: 0 },
    faults: { overloaded: 0, server: 0, unavailable: 0, dropped: 0, malformed: 0, streamCut: 0 },
    maxInFlight: 0,
    inFlight: 0,
    reservedTokens: 0,
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
    firstArrivalMs: null,
    lastArrivalMs: null,
  };
}

/** One account at run time: its settings, windows, in-flight count and counters. */
export class AccountState {
  readonly id: string;
  readonly keys: readonly string[];
  /** Stable ids for the `Msh-Project-Id` / `Msh-Uid` headers. */
  readonly projectId: string;
  readonly uid: string;
  readonly stats: AccountStats = emptyAccountStats();
  /** Used only with the simulator's `promptCache` option. */
  readonly promptCache = new PromptCache();
  tier: TierName;
  overrides: Partial<Limits>;
  balance: number;
  suspended: boolean;
  readonly #minute: SlidingWindow;
  readonly #day: SlidingWindow;

  constructor(config: SimulatorAccount, windowMs: number) {
    this.id = config.id;
    this.keys = config.keys;
    this.tier = config.tier ?? 'tier0';
    this.overrides = { ...config.limits };
    this.balance = config.balance ?? 100;
    this.suspended = config.suspended ?? false;
    this.projectId = `proj-${shortHash(`project:${config.id}`)}`;
    this.uid = `u-${shortHash(`user:${config.id}`)}`;
    this.#minute = new SlidingWindow(windowMs);
    this.#day = new SlidingWindow(windowMs * WINDOWS_PER_DAY);
  }

  /** Effective limits: the tier preset with the overrides on top. */
  get limits(): Limits {
    return { ...TIERS[this.tier], ...this.overrides };
  }

  /** Value of `Msh-Gid`: `enterprise-<tier>`, or `enterprise-custom` once any limit is overridden. */
  get group(): string {
    return `enterprise-${Object.keys(this.overrides).length > 0 ? 'custom' : this.tier}`;
  }

  /** Applies a validated patch; limits merge into the current overrides. */
  apply(patch: SimulatorAccountPatch): void {
    if (patch.suspended !== undefined) this.suspended = patch.suspended;
    if (patch.balance !== undefined) this.balance = patch.balance;
    if (patch.tier !== undefined) this.tier = patch.tier;
    if (patch.limits !== undefined) this.overrides = { ...this.overrides, ...patch.limits };
  }

  /**
   * Checks quota, concurrency, RPM, TPM, TPD in that order (first failure wins).
   * On success the request is recorded in the windows and counted in flight;
   * the caller must call {@link AccountState.release} once its response is over.
   * Refused requests are not recorded, so they never use up the budget.
   *
   * @param now time on the window clock (ms); @param sinceStart the same, relative to start.
   */
  admit(key: string, tokens: number, now: number, sinceStart: number): Admission {
    const refusal = this.#check(key, tokens, now);
    if (refusal) {
      this.stats.refused[refusal.kind] += 1;
      return refusal;
    }
    this.#minute.add(now, tokens);
    this.#day.add(now, tokens);
    this.stats.inFlight += 1;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.stats.inFlight);
    this.stats.reservedTokens += tokens;
    this.stats.firstArrivalMs ??= sinceStart;
    this.stats.lastArrivalMs = sinceStart;
    return { ok: true };
  }

  /** Ends one admitted request (response written, stream ended or socket closed). */
  release(): void {
    this.stats.inFlight = Math.max(0, this.stats.inFlight - 1);
  }

  #check(key: string, tokens: number, now: number): Extract<Admission, { ok: false }> | undefined {
    const ak = akId(key);
    const limits = this.limits;
    const refuse = (kind: LimitKind, error: KimiError) => ({ ok: false as const, kind, error });
    if (this.suspended) return refuse('quota', kimiErrors.suspended(this.id, ak));
    if (this.balance <= 0) return refuse('quota', kimiErrors.insufficientBalance(this.id, ak));
    if (this.stats.inFlight >= limits.concurrency) {
      return refuse('concurrency', kimiErrors.concurrency(this.id, ak, limits.concurrency, CONCURRENCY_RETRY_SECONDS));
    }
    if (this.#minute.count(now) >= limits.rpm) {
      // Seconds until the oldest arrival leaves the window, rounded up, at least 1.
      const oldest = this.#minute.oldest(now) ?? now;
      const seconds = Math.max(1, Math.ceil((oldest + this.#windowMs() - now) / 1000));
      return refuse('rpm', kimiErrors.rpm(this.id, ak, limits.rpm, seconds));
    }
    const minuteTokens = this.#minute.total(now) + tokens;
    if (minuteTokens > limits.tpm) return refuse('tpm', kimiErrors.tpm(this.id, ak, minuteTokens, limits.tpm));
    const dayTokens = this.#day.total(now) + tokens;
    if (dayTokens > limits.tpd) return refuse('tpd', kimiErrors.tpd(this.id, ak, dayTokens, limits.tpd));
    return undefined;
  }

  #windowMs(): number {
    return this.#minute.lengthMs;
  }
}
