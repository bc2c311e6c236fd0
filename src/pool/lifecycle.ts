/**
 * A request's life, in one table. A request is born `queued` (submit) and
 * ends `done`; on the way it may run several times (bounces, retries):
 *
 * ```text
 *  submit
 *    │
 *    ▼        start                 succeed, fail
 *  queued ───────────▶ running ──────────────────────────────▶ done
 *   ▲ ▲ │              │ │ │ │   stream              finish     ▲
 *   │ │ │              │ │ │ └───────▶ streaming ──────────────┤
 *   │ │ │              │ │ │   abandon             end          │
 *   │ │ │              │ │ └─────────▶ abandoned ──────────────┤
 *   │ │ │    bounce    │ │                                      │
 *   │ └─┼──────────────┘ │ retry                                │
 *   │   │                ▼                                      │
 *   └───┼───── due ──── delayed ───────── drop ────────────────┤
 *       └───────────────────── drop ────────────────────────────┘
 * ```
 *
 * Each state says whether the request holds a slot (one of its account's
 * concurrent requests, and a lease in the limit store), whether its caller has
 * its answer, and whether it still listens to its signal and timeout. The
 * engine moves a request only through {@link move}, and frees a slot, takes
 * one or answers the caller only where a transition crosses those lines (see
 * `RequestLifecycle.go`). So, read off the table:
 * - a slot is taken by `start` only, and freed once by whichever transition
 *   leaves the slot states (`succeed`, `fail`, `bounce`, `retry`, `finish`, `end`);
 * - the caller is answered once: no transition leads from an answered state
 *   back to an unanswered one.
 */

/** Where a request is. */
export type RequestState = 'queued' | 'delayed' | 'running' | 'streaming' | 'abandoned' | 'done';

/** What each state means for the pool. */
export interface StateTraits {
  /** Holds a slot: counted in flight on its account and key, with a lease in the store. */
  readonly slot: boolean;
  /** The caller's promise has settled. */
  readonly answered: boolean;
  /** Its signal and timeout can still end it. */
  readonly watched: boolean;
}

export const STATES: { readonly [S in RequestState]: StateTraits } = {
  /** In the queue, waiting for an account that can start it. */
  queued: { slot: false, answered: false, watched: true },
  /** Backing off after a transient fault; queued again when its time comes. */
  delayed: { slot: false, answered: false, watched: true },
  /** Its task runs on a key. */
  running: { slot: true, answered: false, watched: true },
  /** Its task resolved and kept the slot (`holdSlot()`): a stream being read. */
  streaming: { slot: true, answered: true, watched: true },
  /** Aborted or timed out while its task ran: answered, the slot freed when the task ends. */
  abandoned: { slot: true, answered: true, watched: false },
  /** Answered, no slot. */
  done: { slot: false, answered: true, watched: false },
};

/** One step of a request's life. */
export interface TransitionRule {
  readonly from: readonly RequestState[];
  readonly to: RequestState;
  /** How the caller is answered, on the transitions that answer it. */
  readonly answers?: 'value' | 'error';
}

export type Transition = 'start' | 'succeed' | 'stream' | 'finish' | 'bounce' | 'retry' | 'due' | 'fail' | 'abandon' | 'end' | 'drop';

export const TRANSITIONS: { readonly [T in Transition]: TransitionRule } = {
  /** The store granted a start: the task runs. */
  start: { from: ['queued'], to: 'running' },
  /** The task resolved. */
  succeed: { from: ['running'], to: 'done', answers: 'value' },
  /** The task resolved holding its slot (a stream). */
  stream: { from: ['running'], to: 'streaming', answers: 'value' },
  /** The stream was read to its end, failed, or was aborted. */
  finish: { from: ['streaming'], to: 'done' },
  /** A 429 rate_limit_reached_error, a revoked key or a disabled account: back at its place, no retry used. */
  bounce: { from: ['running'], to: 'queued' },
  /** A transient fault (5xx, overloaded, connection): back off, then queued again. */
  retry: { from: ['running'], to: 'delayed' },
  /** The backoff is over. */
  due: { from: ['delayed'], to: 'queued' },
  /** The task failed for good (or its retries and bounces ran out). */
  fail: { from: ['running'], to: 'done', answers: 'error' },
  /** Aborted or timed out while its task ran: the task is told through its signal. */
  abandon: { from: ['running'], to: 'abandoned', answers: 'error' },
  /** The abandoned task ended. */
  end: { from: ['abandoned'], to: 'done' },
  /** Aborted, timed out, closed, cleared or unrunnable before it could start. */
  drop: { from: ['queued', 'delayed'], to: 'done', answers: 'error' },
};

/** A request moved along a transition its state does not have: a bug of the pool's, never the user's. */
export class LifecycleError extends Error {
  constructor(requestId: number, state: RequestState, transition: Transition) {
    super(`kimi-pool: request ${requestId} cannot ${transition} from ${state} (a bug: please report it)`);
    this.name = 'LifecycleError';
  }
}

/** What moves along the table. */
export interface Moving {
  readonly seq: number;
  state: RequestState;
}

/**
 * Moves `request` along `transition` and returns its new state.
 * @throws {LifecycleError} when its state has no such transition.
 */
export function move(request: Moving, transition: Transition): RequestState {
  const rule = TRANSITIONS[transition];
  if (!rule.from.includes(request.state)) throw new LifecycleError(request.seq, request.state, transition);
  return (request.state = rule.to);
}

