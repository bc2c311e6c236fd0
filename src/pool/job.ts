import type { KimiPoolError } from '../errors.js';
import type { Queueable } from '../queue/job-queue.js';
import type { AccountMember, KeyMember } from './members.js';
import type { TaskContext } from './task-context.js';

/** Where a job is in its life. */
export type JobState = 'queued' | 'delayed' | 'running' | 'between' | 'done';

/**
 * One request: queued once, run one or more times (attempts, bounces), settled
 * exactly once. Mutable by design: it is the unit the hot path moves around.
 */
export class Job implements Queueable {
  queued = false;
  state: JobState = 'between';
  /** p-retry's attempt number (1 = first try). */
  attempt = 0;
  /** Runs started (attempts and bounces alike): tells a task's late calls from the current run's. */
  run = 0;
  /** Times put back after a 429 rate_limit_reached_error or a failover. */
  bounces = 0;
  /** Earliest start (clock time), after a backoff. */
  notBefore = 0;
  /** Backoff before the next attempt, decided when the last one failed. */
  backoffMs = 0;
  enqueuedAt = 0;
  startedAt = 0;
  account: AccountMember | undefined;
  key: KeyMember | undefined;
  /** Aborts the running attempt. */
  controller: AbortController | undefined;
  /** Set when the outcome was decided outside the attempt (abort, timeout, close). */
  failure: KimiPoolError | undefined;
  /** True while the job holds a slot (concurrency) on `account`. */
  slot = false;
  /** True once the request resolved with a value (as opposed to failing). */
  ok = false;
  /** True when the task asked to keep its slot after resolving (a stream being read). */
  held = false;
  /** Frees a held slot; set by `holdSlot()`. */
  releaseHold: ((result?: { usedTokens?: number | undefined; error?: unknown }) => void) | undefined;
  timer: unknown;
  onAbort: (() => void) | undefined;
  resolveAttempt: ((value: unknown) => void) | undefined;
  rejectAttempt: ((error: unknown) => void) | undefined;

  constructor(
    readonly seq: number,
    readonly priority: number,
    readonly tokens: number,
    readonly fn: (ctx: TaskContext) => unknown,
    readonly signal: AbortSignal | undefined,
    readonly timeoutMs: number | undefined,
  ) {}
}
