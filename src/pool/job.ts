import type { Queueable } from '../queue/job-queue.js';
import type { RequestState } from './lifecycle.js';
import type { AccountMember, KeyMember } from './members.js';
import type { TaskContext } from './task-context.js';

/**
 * What only some jobs need (a signal or a timeout, a held slot, a retry or a
 * bounce). Kept apart so that the common job, queued by the million, carries
 * none of it: about 90 bytes less per waiting request.
 */
class Rare {
  bounces = 0;
  held = false;
  timer: unknown;
  onAbort: (() => void) | undefined;
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
}

const noAnswer = (): void => undefined;

/**
 * One request: queued once, run one or more times (attempts, bounces), settled
 * exactly once. Its `state` moves only along the table of `lifecycle.ts`.
 * Mutable by design: it is the unit the hot path moves around.
 * The rare fields are accessors over {@link Rare}, allocated on the first
 * write of a non-default value.
 */
export class Job implements Queueable {
  queued = false;
  /** Born queued: see `lifecycle.ts`. */
  state: RequestState = 'queued';
  /** 1 for the first try, then 2, 3, ... after transient faults (bounces use none). */
  attempt = 1;
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
  /** Where the running attempt's request is ({@link Leave}): its start counts in the store once it left. */
  leave = 0;
  /** The caller's promise; called once, by the transition that answers (see `RequestLifecycle.go`). */
  resolve: (value: unknown) => void = noAnswer;
  reject: (error: unknown) => void = noAnswer;
  private rare: Rare | undefined;

  constructor(
    readonly seq: number,
    readonly priority: number,
    readonly tokens: number,
    /** The task; replaced once the job settles, so that its params can be collected. */
    public fn: (ctx: TaskContext) => unknown,
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

  /** True when the task asked to keep its slot after resolving (a stream being read). */
  get held(): boolean {
    return this.rare?.held ?? false;
  }
  set held(v: boolean) {
    if (v || this.rare !== undefined) this.more().held = v;
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
