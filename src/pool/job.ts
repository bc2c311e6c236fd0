import type { KimiPoolError } from '../errors.js';
import type { Queueable } from '../queue/job-queue.js';
import type { AccountMember, KeyMember } from './members.js';
import type { SlotRelease, TaskContext } from './task-context.js';

/** Where a job is in its life. */
export type JobState = 'queued' | 'delayed' | 'running' | 'between' | 'done';

/**
 * What only some jobs need (a signal or a timeout, a held slot, a retry or a
 * bounce). Kept apart so that the common job, queued by the million, carries
 * none of it: about 90 bytes less per waiting request.
 */
class Rare {
  bounces = 0;
  backoffMs = 0;
  failure: KimiPoolError | undefined;
  held = false;
  releaseHold: SlotRelease | undefined;
  timer: unknown;
  onAbort: (() => void) | undefined;
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
}

/**
 * One request: queued once, run one or more times (attempts, bounces), settled
 * exactly once. Mutable by design: it is the unit the hot path moves around.
 * The rare fields are accessors over {@link Rare}, allocated on the first
 * write of a non-default value.
 */
export class Job implements Queueable {
  queued = false;
  state: JobState = 'between';
  /** p-retry's attempt number (1 = first try). */
  attempt = 0;
  /** Runs started (attempts and bounces alike): tells a task's late calls from the current run's. */
  run = 0;
  /** Earliest start (clock time), after a backoff. */
  notBefore = 0;
  enqueuedAt = 0;
  startedAt = 0;
  account: AccountMember | undefined;
  key: KeyMember | undefined;
  /** Aborts the running attempt. */
  controller: AbortController | undefined;
  /** True while the job holds a slot (concurrency) on `account`. */
  slot = false;
  /** True once the request resolved with a value (as opposed to failing). */
  ok = false;
  /** Where the running attempt's request is ({@link Leave}): its start counts in the store once it left. */
  leave = 0;
  resolveAttempt: ((value: unknown) => void) | undefined;
  rejectAttempt: ((error: unknown) => void) | undefined;
  private rare: Rare | undefined;

  constructor(
    readonly seq: number,
    readonly priority: number,
    readonly tokens: number,
    readonly fn: (ctx: TaskContext) => unknown,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
  ) {
    if (signal !== undefined) this.more().signal = signal;
    if (timeoutMs !== undefined) this.more().timeoutMs = timeoutMs;
  }

  private more(): Rare {
    return (this.rare ??= new Rare());
  }

  get signal(): AbortSignal | undefined {
    return this.rare?.signal;
  }

  get timeoutMs(): number | undefined {
    return this.rare?.timeoutMs;
  }

  /** Times put back after a 429 rate_limit_reached_error or a failover. */
  get bounces(): number {
    return this.rare?.bounces ?? 0;
  }
  set bounces(v: number) {
    if (v !== 0 || this.rare !== undefined) this.more().bounces = v;
  }

  /** Backoff before the next attempt, decided when the last one failed. */
  get backoffMs(): number {
    return this.rare?.backoffMs ?? 0;
  }
  set backoffMs(v: number) {
    if (v !== 0 || this.rare !== undefined) this.more().backoffMs = v;
  }

  /** Set when the outcome was decided outside the attempt (abort, timeout, close). */
  get failure(): KimiPoolError | undefined {
    return this.rare?.failure;
  }
  set failure(v: KimiPoolError | undefined) {
    if (v !== undefined || this.rare !== undefined) this.more().failure = v;
  }

  /** True when the task asked to keep its slot after resolving (a stream being read). */
  get held(): boolean {
    return this.rare?.held ?? false;
  }
  set held(v: boolean) {
    if (v || this.rare !== undefined) this.more().held = v;
  }

  /** Frees a held slot; set by `holdSlot()`. */
  get releaseHold(): SlotRelease | undefined {
    return this.rare?.releaseHold;
  }
  set releaseHold(v: SlotRelease | undefined) {
    if (v !== undefined || this.rare !== undefined) this.more().releaseHold = v;
  }

  get timer(): unknown {
    return this.rare?.timer;
  }
  set timer(v: unknown) {
    if (v !== undefined || this.rare !== undefined) this.more().timer = v;
  }

  get onAbort(): (() => void) | undefined {
    return this.rare?.onAbort;
  }
  set onAbort(v: (() => void) | undefined) {
    if (v !== undefined || this.rare !== undefined) this.more().onAbort = v;
  }
}
