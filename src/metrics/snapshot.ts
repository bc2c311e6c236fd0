import type { KimiPool } from '../kimi-pool.js';
import type { AccountStats, PoolStats } from '../stats.js';

/** The limits `kimi_pool_limit_remaining` reports, as label values. */
export const REMAINING_LIMITS = ['concurrency', 'rpm', 'tpm'] as const;

/** 429 kinds, as label values: the rate-limit dimensions, then overload and quota. */
export const RATE_LIMIT_KINDS = ['rpm', 'tpm', 'tpd', 'concurrency', 'unknown', 'overloaded', 'quota'] as const;

/** Token types, as label values. */
export const TOKEN_TYPES = ['prompt', 'completion', 'cached'] as const;

/** Failure counters of an account, as label values of `kind`. */
export const FAULT_KINDS = { server: 'serverErrors', connection: 'connectionErrors', auth: 'authErrors', quota: 'quotaErrors' } as const;

/** Label value of a request that failed before it reached any key (queued, then aborted, timed out or closed). */
export const NO_KEY = 'none';

/** Model label of a response that names no model. */
export { UNKNOWN_MODEL } from '../pool/usage.js';

/**
 * What the account could still start in its current window, per limit:
 * `Infinity` for an unlimited one, 0 while the account is paused or disabled.
 */
export function remaining(a: AccountStats): Record<(typeof REMAINING_LIMITS)[number], number> {
  const open = !a.disabled && (a.pausedForMs ?? 0) === 0;
  const left = (limit: number | null, used: number): number => (!open ? 0 : limit === null ? Infinity : Math.max(0, limit - used));
  return {
    concurrency: left(a.limits.concurrency, a.inFlight),
    rpm: left(a.limits.rpm, a.startsInWindow),
    tpm: left(a.limits.tpm, a.tokensInWindow),
  };
}

/**
 * `pool.stats()` once per scrape: every collector of one scrape runs in the
 * same synchronous pass, so the snapshot is dropped at the next microtask.
 */
export function scrapeSnapshot(pool: KimiPool): () => PoolStats {
  let cached: PoolStats | undefined;
  return () => {
    if (cached === undefined) {
      cached = pool.stats();
      queueMicrotask(() => {
        cached = undefined;
      });
    }
    return cached;
  };
}
