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
 * engine moves a request only through {@link move}, and takes a slot, frees
 * one or answers the caller only where a transition crosses those lines
 * ({@link STEPS}, read off the table; applied in `RequestLifecycle.go`, the
 * transitions' other effects in its method of the same name). So:
 * - a slot is taken by `start` only, and freed once by whichever transition
 *   leaves the slot states (`succeed`, `fail`, `bounce`, `retry`, `finish`, `end`);
 * - the caller is answered once: no transition leads from an answered state
 *   back to an unanswered one.
 *
 * One lease is never a slot: with an async store (Redis) a `queued` request
 * waits for the store's answer outside the queue, and when the answer is a
 * grant it can no longer take (aborted, closed, paused meanwhile) the
 * dispatcher gives that grant back itself; `close()` waits for it.
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
 * What a transition does when taken, read off the table once: the hot path
 * reads these flags instead of comparing the traits of two states.
 */
export interface Step {
  readonly transition: Transition;
  /** The states it leaves from: one, or two (`drop`); `fromOther` repeats `from` when one. */
  readonly from: RequestState;
  readonly fromOther: RequestState;
  readonly to: RequestState;
  /** Enters the slot states: takes a slot. */
  readonly takesSlot: boolean;
  /** Leaves the slot states: frees the slot. */
  readonly freesSlot: boolean;
  /** Leaves the watched states: stops listening to the signal and the timeout. */
  readonly unwatches: boolean;
  /** Answers the caller (`value` or `error`), or not. */
  readonly answers: 'value' | 'error' | undefined;
}

function stepOf(transition: Transition): Step {
  const rule = TRANSITIONS[transition];
  if (rule.from.length > 2) throw new Error(`kimi-pool: ${transition} leaves from more than two states; Step holds two`);
  const to = STATES[rule.to];
  // The states a transition leaves from share their traits, so what it does is one thing (tested).
  const from = STATES[rule.from[0] as RequestState];
  return {
    transition,
    from: rule.from[0] as RequestState,
    fromOther: (rule.from[1] ?? rule.from[0]) as RequestState,
    to: rule.to,
    takesSlot: !from.slot && to.slot,
    freesSlot: from.slot && !to.slot,
    unwatches: from.watched && !to.watched,
    answers: rule.answers,
  };
}

/** Each transition's {@link Step}. */
export const STEPS: { readonly [T in Transition]: Step } = {
  start: stepOf('start'),
  succeed: stepOf('succeed'),
  stream: stepOf('stream'),
  finish: stepOf('finish'),
  bounce: stepOf('bounce'),
  retry: stepOf('retry'),
  due: stepOf('due'),
  fail: stepOf('fail'),
  abandon: stepOf('abandon'),
  end: stepOf('end'),
  drop: stepOf('drop'),
};

/**
 * Moves `request` along `step` (one of {@link STEPS}) and returns its new state.
 * @throws {LifecycleError} when its state has no such transition (the state is left as it was).
 */
export function move(request: Moving, step: Step): RequestState {
  const state = request.state;
  if (state !== step.from && state !== step.fromOther) throw new LifecycleError(request.seq, state, step.transition);
  return (request.state = step.to);
}
