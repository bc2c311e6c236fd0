/**
 * The spans and intervals the Redis store passes to its scripts, all in ms,
 * derived once at init from the pool's window, its safety margin and the
 * lease: the scripts keep no settings of their own, so every pool sends the
 * values it decides with.
 */
import type { StoreContext } from '../store/limit-store.js';
import { WINDOWS_PER_DAY } from '../tiers.js';

/** How far back a start or a token counts: the window, and the day (for TPD), each plus a margin. ms. */
export interface Spans {
  readonly span: number;
  readonly daySpan: number;
}

/** The store's timing, ms. */
export interface StoreTiming extends Spans {
  readonly windowMs: number;
  /** Width of the buckets the token counts are kept in: a sixtieth of the window. */
  readonly granularity: number;
  /** A request that leaves within this of asking for its grant is not restamped: the margin covers it. */
  readonly restampAfterMs: number;
  /** Lifetime of idle account state in Redis. */
  readonly ttl: number;
}

/** The timing before init(): nothing is asked of Redis then. */
export const NO_TIMING: StoreTiming = { windowMs: 0, span: 0, daySpan: 0, granularity: 1, restampAfterMs: 10, ttl: 0 };

/** The window and the day of `windowMs`, each widened by `marginMs`. */
export function spans(windowMs: number, marginMs: number): Spans {
  return { span: windowMs + marginMs, daySpan: windowMs * WINDOWS_PER_DAY + marginMs };
}

/** The timing of a store whose leases last `leaseMs`, in the pool's `context`. */
export function storeTiming(context: Pick<StoreContext, 'windowMs' | 'safetyMarginMs'>, leaseMs: number): StoreTiming {
  const { span, daySpan } = spans(context.windowMs, context.safetyMarginMs);
  return {
    windowMs: context.windowMs,
    span,
    daySpan,
    granularity: context.windowMs / 60,
    restampAfterMs: Math.max(2, context.safetyMarginMs / 5),
    // Idle state lives one day window past its last use.
    ttl: Math.ceil(daySpan + span + leaseMs),
  };
}
