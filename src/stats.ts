import type { Counters } from './pool/members.js';
import type { Limits, TierName } from './tiers.js';

/** One key in {@link PoolStats}. */
export interface KeyStats extends Counters {
  readonly id: string;
  readonly account: string;
  readonly inFlight: number;
  readonly disabled: boolean;
  readonly disabledReason: string | null;
}

/** One account in {@link PoolStats}. */
export interface AccountStats extends Counters {
  readonly id: string;
  readonly tier: TierName;
  /** Limits in force (`null` = unlimited), after anything learned from 429s. */
  readonly limits: { readonly [K in keyof Limits]: number | null };
  readonly keys: readonly string[];
  readonly inFlight: number;
  readonly startsInWindow: number;
  readonly tokensInWindow: number;
  readonly disabled: boolean;
  readonly disabledReason: string | null;
  /** Paused after a 429 until this many ms from now, or null. */
  readonly pausedForMs: number | null;
  /** Ms until a small request could start here: 0 = now, null = when a request ends (or never, if disabled). */
  readonly nextFreeInMs: number | null;
  /** Safety margin in force, ms added to every window (widened by unpredicted 429s, see the `margin` event). */
  readonly safetyMarginMs: number;
  /** Rate-limit 429s (RPM, TPM) that came although the limits were known and kept: each means a request reached Kimi late. */
  readonly unpredicted429s: number;
  /** Limits as configured, discovered or set (setLimits): what a limit learned from a 429 eases back to. */
  readonly configuredLimits: { readonly [K in keyof Limits]: number | null };
  /** The Kimi organisation id, once discovery or a response told it. */
  readonly org: string | null;
  /** Re-enabled after a quota error: one request at a time until one succeeds. */
  readonly onTrial: boolean;
  /** Quota-disabled: ms until its balance is checked again, else null. */
  readonly nextCheckInMs: number | null;
}

/** A plain, JSON-serialisable snapshot of the pool. */
export interface PoolStats {
  /** Requests waiting to start (queued or backing off). */
  readonly queued: number;
  readonly inFlight: number;
  /** Between pool.pause() and pool.resume(). */
  readonly paused: boolean;
  readonly submitted: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly retries: number;
  readonly bounces: number;
  readonly keys: readonly KeyStats[];
  readonly accounts: readonly AccountStats[];
  /** Tokens and cost of successful responses, per model (per key and account: the token counters above). */
  readonly usage: UsageStats;
}

/** One model in {@link UsageStats}. */
export interface ModelUsageStats {
  readonly model: string;
  /** Successful requests whose response carried a `usage`. */
  readonly requests: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Prompt tokens served from the context cache (part of `promptTokens`). */
  readonly cachedTokens: number;
  /** In `currency`; `null` when the price table has no price for the model (unknown, not free). */
  readonly cost: number | null;
}

/** One account and model in {@link UsageStats}. */
export interface AccountModelUsageStats extends ModelUsageStats {
  readonly account: string;
}

/** Usage and cost in {@link PoolStats}. */
export interface UsageStats {
  /** ISO 4217 code of every cost here, from the pool's price table. */
  readonly currency: string;
  /** The price table's `source`, if it names one. */
  readonly priceSource: string | null;
  readonly models: readonly ModelUsageStats[];
  /** The same per account and model (one row per pair seen). */
  readonly byAccount: readonly AccountModelUsageStats[];
  /** The sum over models; `null` when some model used has no price. */
  readonly cost: number | null;
  /** Models used that the price table does not name. */
  readonly unpricedModels: readonly string[];
}

/** A deep copy of counters (stats must not alias live objects). */
export function copyCounters(c: Counters): Counters {
  return { ...c, tooManyRequests: { ...c.tooManyRequests } };
}

/** Infinity is not JSON: unlimited becomes null. */
export function jsonLimits(l: Limits): AccountStats['limits'] {
  const f = (n: number): number | null => (Number.isFinite(n) ? n : null);
  return { concurrency: f(l.concurrency), rpm: f(l.rpm), tpm: f(l.tpm), tpd: f(l.tpd) };
}
