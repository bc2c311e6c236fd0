/**
 * Per-account limits and the published tier presets.
 *
 * Limits are per ACCOUNT on Kimi: several keys of one account share one budget.
 * The table is the early-2026 one; Moonshot revises it often, so every field is
 * overridable per key or per account.
 */

/** The four limits Kimi enforces per account. `Infinity` means unlimited. */
export interface Limits {
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Request starts in any sliding window of `windowMs`. */
  readonly rpm: number;
  /** Reserved tokens (prompt + max_tokens) in any sliding window of `windowMs`. */
  readonly tpm: number;
  /** Reserved tokens in any sliding window of 1,440 `windowMs` (a day). */
  readonly tpd: number;
}

/** Names of the presets in {@link TIERS}. */
export type TierName = 'tier0' | 'tier1' | 'tier2' | 'tier3' | 'tier4' | 'tier5';

/** Published limits per recharge tier (early 2026). tier0 is the free tier: 3 RPM, 1 in flight. */
export const TIERS: Readonly<Record<TierName, Limits>> = Object.freeze({
  tier0: Object.freeze({ concurrency: 1, rpm: 3, tpm: 500_000, tpd: 1_500_000 }),
  tier1: Object.freeze({ concurrency: 50, rpm: 200, tpm: 2_000_000, tpd: Infinity }),
  tier2: Object.freeze({ concurrency: 100, rpm: 500, tpm: 3_000_000, tpd: Infinity }),
  tier3: Object.freeze({ concurrency: 200, rpm: 5_000, tpm: 3_000_000, tpd: Infinity }),
  tier4: Object.freeze({ concurrency: 400, rpm: 5_000, tpm: 4_000_000, tpd: Infinity }),
  tier5: Object.freeze({ concurrency: 1_000, rpm: 10_000, tpm: 5_000_000, tpd: Infinity }),
});

/** A day, in windows: Kimi's TPD is a day while the "minute" is `windowMs`. */
export const WINDOWS_PER_DAY = 1_440;

export function isTierName(value: unknown): value is TierName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(TIERS, value);
}
