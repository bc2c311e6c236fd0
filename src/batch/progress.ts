/**
 * Progress of a batch run, and its ETA from the accounts' limits: the work
 * left over the sum of what each usable account can do per ms within its
 * RPM, TPM, TPD and concurrency. A running average would only say how fast
 * the run went so far, which a 429 pause or a slow start skews for minutes.
 */
import type { TooManyRequests } from '../pool/members.js';
import type { AccountStats, PoolStats } from '../stats.js';
import { WINDOWS_PER_DAY } from '../tiers.js';

/** One account in {@link BatchProgress}. */
export interface AccountProgress {
  readonly id: string;
  readonly inFlight: number;
  /** Paused by a 429 for this many more ms, or null. */
  readonly pausedForMs: number | null;
  readonly disabled: boolean;
  /** Ms until its limits let it start another request: 0 = now, null = when one in flight ends. */
  readonly nextFreeInMs: number | null;
  readonly succeeded: number;
}

/** A snapshot of a run, emitted as the `progress` event. Times in ms. */
export interface BatchProgress {
  /** Requests this run sends (the file's, less those an earlier run settled). */
  readonly total: number;
  /** Requests an earlier run settled, skipped. */
  readonly skipped: number;
  readonly succeeded: number;
  /** Failed for good in this run. */
  readonly failed: number;
  /** Started on a key and not settled. */
  readonly inFlight: number;
  /** Handed to the pool and not started yet. */
  readonly queued: number;
  /** Not settled yet, unread lines included. */
  readonly remaining: number;
  readonly elapsedMs: number;
  /** Requests settled per second over the last 10 s. */
  readonly ratePerSec: number;
  /** Time left at the accounts' limits; null when the limits do not bound it (unlimited accounts, no latency known yet). */
  readonly etaMs: number | null;
  /** Retries of transient faults in this run. */
  readonly retries: number;
  /** 429s in this run by kind. */
  readonly tooManyRequests: TooManyRequests;
  readonly accounts: readonly AccountProgress[];
  /** Stopping after a stop() (SIGINT): reading ended, in-flight requests finish. */
  readonly stopping: boolean;
}

/** What bounds one account's throughput. */
export interface RateInputs {
  readonly windowMs: number;
  /** Mean reserved tokens per request (prompt estimate + max_tokens). */
  readonly meanTokens: number;
  /** Mean time a request takes, once known. */
  readonly meanLatencyMs: number | undefined;
}

/** Requests per ms one account can run at its limits (Infinity when nothing bounds it). */
export function accountRate(limits: AccountStats['limits'], r: RateInputs): number {
  const per = (limit: number | null, cost: number, ms: number): number => (limit === null || cost <= 0 ? Infinity : limit / cost / ms);
  return Math.min(
    per(limits.rpm, 1, r.windowMs),
    per(limits.tpm, r.meanTokens, r.windowMs),
    per(limits.tpd, r.meanTokens, r.windowMs * WINDOWS_PER_DAY),
    r.meanLatencyMs === undefined || r.meanLatencyMs <= 0 ? Infinity : per(limits.concurrency, 1, r.meanLatencyMs),
  );
}

/** Ms to run `remaining` requests at the usable accounts' limits, or null when they do not bound it. */
export function etaFromLimits(stats: PoolStats, remaining: number, r: RateInputs): number | null {
  if (remaining <= 0) return 0;
  let rate = 0;
  for (const a of stats.accounts) if (!a.disabled) rate += accountRate(a.limits, r);
  if (rate === 0) return null;
  return Number.isFinite(rate) ? remaining / rate : null;
}

/** No 429s. */
export function zero429(): TooManyRequests {
  return { rpm: 0, tpm: 0, tpd: 0, concurrency: 0, unknown: 0, overloaded: 0, quota: 0 };
}

/** Sums 429 counters; `minus` subtracts a baseline taken at the start. */
export function total429(stats: PoolStats, minus?: TooManyRequests): TooManyRequests {
  const t = zero429();
  for (const a of stats.accounts) for (const k of Object.keys(t) as (keyof TooManyRequests)[]) t[k] += a.tooManyRequests[k];
  if (minus !== undefined) for (const k of Object.keys(t) as (keyof TooManyRequests)[]) t[k] -= minus[k];
  return t;
}

/** Settles per second over a sliding span, from settle timestamps kept per second. */
export class RecentRate {
  private readonly buckets: number[] = [];
  private readonly times: number[] = [];

  constructor(private readonly spanMs = 10_000) {}

  tick(now: number): void {
    const second = Math.floor(now / 1000);
    if (this.times.at(-1) === second) this.buckets[this.buckets.length - 1]! += 1;
    else {
      this.times.push(second);
      this.buckets.push(1);
    }
  }

  perSecond(now: number, elapsedMs: number): number {
    const from = Math.floor((now - this.spanMs) / 1000);
    while (this.times.length > 0 && this.times[0]! <= from) {
      this.times.shift();
      this.buckets.shift();
    }
    const n = this.buckets.reduce((a, b) => a + b, 0);
    const span = Math.min(this.spanMs, elapsedMs);
    return span > 0 ? (n * 1000) / span : 0;
  }
}
