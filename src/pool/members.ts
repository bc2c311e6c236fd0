import type OpenAI from 'openai';
import type { KeyDepartures } from './departures.js';
import type { Limits, TierName } from '../tiers.js';

/** 429s by what they were about. */
export interface TooManyRequests {
  rpm: number;
  tpm: number;
  tpd: number;
  concurrency: number;
  unknown: number;
  overloaded: number;
  quota: number;
}

/** Counters shared by keys and accounts. */
export interface Counters {
  /** Attempts started. */
  started: number;
  succeeded: number;
  failed: number;
  retries: number;
  tooManyRequests: TooManyRequests;
  serverErrors: number;
  connectionErrors: number;
  /** 401s: the key was disabled. */
  authErrors: number;
  /** `exceeded_current_quota_error` (403 or 429): the account was disabled. */
  quotaErrors: number;
  reservedTokens: number;
  usedTokens: number;
  /** `usage.prompt_tokens` of successful responses. */
  promptTokens: number;
  /** `usage.completion_tokens` of successful responses. */
  completionTokens: number;
  /** Prompt tokens served from Kimi's context cache (part of `promptTokens`). */
  cachedTokens: number;
}

export function newCounters(): Counters {
  return {
    started: 0,
    succeeded: 0,
    failed: 0,
    retries: 0,
    tooManyRequests: { rpm: 0, tpm: 0, tpd: 0, concurrency: 0, unknown: 0, overloaded: 0, quota: 0 },
    serverErrors: 0,
    connectionErrors: 0,
    authErrors: 0,
    quotaErrors: 0,
    reservedTokens: 0,
    usedTokens: 0,
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
  };
}

/** The plain number counters. */
export type CounterName = Exclude<keyof Counters, 'tooManyRequests'>;

/** One API key in the pool. */
export class KeyMember {
  disabled = false;
  disabledReason: string | undefined;
  /** Kimi's own words when it disabled the key (the 401's message). */
  disabledMessage: string | undefined;
  inFlight = 0;
  readonly counters = newCounters();

  constructor(
    readonly id: string,
    /** Changes when the key turns out to share another account (discovery, Msh-Org-Id). */
    public account: AccountMember,
    readonly client: OpenAI,
    /** When this key's requests leave the process. */
    readonly departures: KeyDepartures,
  ) {}

  /** The host of the key's base URL, named in its errors. */
  get host(): string {
    try {
      return new URL(this.client.baseURL).host;
    } catch {
      return this.client.baseURL;
    }
  }

  /** Adds to a counter of this key and of its account. */
  count(name: CounterName, by = 1): void {
    this.counters[name] += by;
    this.account.counters[name] += by;
  }

  /** Counts a 429 of this kind on this key and its account. */
  count429(kind: keyof TooManyRequests): void {
    this.counters.tooManyRequests[kind]++;
    this.account.counters.tooManyRequests[kind]++;
  }
}

/** Where the dispatcher keeps an account. */
export type AccountPlace = 'ready' | 'waiting' | 'blocked' | 'dead';

/** One account: its keys share its limits. */
export class AccountMember {
  readonly keys: KeyMember[] = [];
  disabled = false;
  disabledReason: string | undefined;
  /** Kimi's own words when it disabled the account (the quota error's message). */
  disabledMessage: string | undefined;
  inFlight = 0;
  place: AccountPlace = 'ready';
  wakeAt = 0;
  pausedUntil = -Infinity;
  pauseTimer: unknown;
  /** The last job the store said can never run here (it reserves more than TPM or TPD). */
  neverFor: object | undefined;
  /** Consecutive rate-limit 429s; reset by a success. Lengthens pauses with no "after N seconds". */
  rateLimitStreak = 0;
  /** Safety margin in force (ms), learned from surprises (see MarginLearner). */
  marginMs: number;
  /** When the margin last widened (clock time). */
  marginWidenedAt = -Infinity;
  /** A margin that proved too narrow, and until when easing stays above it (clock time). */
  marginFloor: { readonly ms: number; readonly until: number } | undefined;
  /** Rate-limit 429s the ledger did not predict. */
  surprises = 0;
  /** Limits as configured, discovered or set (setLimits): what a limit learned from a 429 eases back to. */
  configured: Limits;
  /** Re-enabled after a quota error, on trial: one request at a time until one succeeds. */
  probing = false;
  readonly counters = newCounters();
  private rr = 0;

  constructor(
    readonly id: string,
    public limits: Limits,
    readonly tier: TierName,
    marginMs: number,
  ) {
    this.marginMs = marginMs;
    this.configured = limits;
  }

  /** True while some key of the account can take requests. */
  get usable(): boolean {
    if (this.disabled) return false;
    for (const k of this.keys) if (!k.disabled) return true;
    return false;
  }

  /** The next usable key, round-robin, so one account's keys share its work evenly. */
  nextKey(): KeyMember | undefined {
    const n = this.keys.length;
    for (let i = 0; i < n; i++) {
      const k = this.keys[(this.rr + i) % n] as KeyMember;
      if (!k.disabled) {
        this.rr = (this.rr + i + 1) % n;
        return k;
      }
    }
    return undefined;
  }
}
