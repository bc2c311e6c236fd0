import type { KimiPoolError } from './errors.js';
import type { LimitDimension } from './kimi-errors.js';
import type { TokenUsage } from './pricing.js';
import type { Limits } from './tiers.js';

/** A request entered the queue. */
export interface QueuedEvent {
  readonly requestId: number;
  readonly priority: number;
  readonly tokens: number;
  /** Requests waiting, this one included. */
  readonly queued: number;
}

/** An attempt started on a key. */
export interface StartEvent {
  readonly requestId: number;
  readonly key: string;
  readonly account: string;
  readonly attempt: number;
  readonly tokens: number;
  /** Time since the request (re)entered the queue. */
  readonly waitedMs: number;
}

/** A request succeeded. For streams, when the stream ended. */
export interface SuccessEvent {
  readonly requestId: number;
  readonly key: string;
  readonly account: string;
  readonly attempt: number;
  readonly durationMs: number;
  /** `usage.total_tokens` of the response, when it had one. */
  readonly usedTokens: number | undefined;
  /** The model the response names (`model`), when it names one. */
  readonly model: string | undefined;
  /** The response's `usage` (prompt, completion, cached tokens), when it had one. */
  readonly usage: TokenUsage | undefined;
  /** Its cost in the pool's price table currency; `undefined` when it had no usage or its model has no price. */
  readonly cost: number | undefined;
  /** Streams (tasks that held their slot): ms from the attempt's start to the first chunk. */
  readonly firstChunkMs: number | undefined;
}

/** A transient fault: the request will run again after `delayMs`. */
export interface RetryEvent {
  readonly requestId: number;
  readonly key: string;
  readonly account: string;
  /** The attempt that comes next (2 = first retry). */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: KimiPoolError;
}

/** A 429 rate_limit_reached_error paused an account; the request went back to the queue. */
export interface RateLimitedEvent {
  readonly requestId: number;
  readonly key: string;
  readonly account: string;
  readonly dimension: LimitDimension;
  readonly pausedMs: number;
  /** The limits now in force, when the message showed they are lower than configured. */
  readonly learned: Limits | undefined;
  readonly message: string;
  /** Times this request has been put back. */
  readonly bounces: number;
}

/** An account's pause ended. */
export interface CooldownEndEvent {
  readonly account: string;
  readonly pausedMs: number;
}

/** A key was disabled (401): it takes no more requests. */
export interface KeyDisabledEvent {
  readonly key: string;
  readonly account: string;
  readonly status: number | undefined;
  readonly kimiType: string | undefined;
  readonly message: string;
}

/** An account was disabled (suspended, out of quota or balance): none of its keys takes more requests. */
export interface AccountDisabledEvent {
  readonly account: string;
  readonly key: string;
  readonly status: number | undefined;
  readonly kimiType: string | undefined;
  readonly message: string;
}

/** A request failed for good. */
export interface FailedEvent {
  readonly requestId: number;
  readonly key: string | undefined;
  readonly account: string | undefined;
  readonly attempt: number;
  readonly error: Error;
}

/** Nothing queued and nothing in flight. */
export interface IdleEvent {
  readonly succeeded: number;
  readonly failed: number;
}

/**
 * Something the user should fix, said once. With no `warning` listener the pool
 * writes each code once through `process.emitWarning` (so `--no-warnings`
 * silences it), and does the same for a `key-disabled` or `account-disabled`
 * event nobody listens to.
 */
export interface WarningEvent {
  readonly code: 'no_max_tokens' | 'store_unavailable' | 'store_state_lost' | 'listener_error' | 'retry_after_ignored';
  readonly message: string;
  /** The error behind it, for `store_unavailable` and `listener_error`. */
  readonly error?: unknown;
}

/**
 * An account's safety margin changed: `widened` after a rate-limit 429 that
 * the ledger did not predict (a request reached Kimi later than the margin
 * allowed for), `eased` back after quiet windows.
 */
export interface MarginEvent {
  readonly account: string;
  /** The margin now in force, ms added to every window. */
  readonly marginMs: number;
  readonly previousMs: number;
  readonly reason: 'widened' | 'eased';
  /** The limit of the 429 that widened it. */
  readonly dimension: 'rpm' | 'tpm' | undefined;
}

/**
 * What the pool learned of a key from Kimi before its first request (option
 * `discover`): its account and that account's limits.
 */
export interface DiscoveredEvent {
  readonly key: string;
  /** The account the key runs under from now on. */
  readonly account: string;
  /** The Kimi organisation id (`/v1/users/me`), when it answered. */
  readonly org: string | undefined;
  /** The account's limits now in force. */
  readonly limits: Limits;
  /** Limits taken from Kimi's answer (the others are configured: a configured value wins). */
  readonly fromKimi: readonly (keyof Limits)[];
  /** `available_balance` (`/v1/users/me/balance`), when it answered. */
  readonly balance: number | undefined;
  /** Why configuration was used instead (an endpoint failed or is missing); undefined when Kimi answered both. */
  readonly fallback: string | undefined;
}

/** Two accounts turned out to be one Kimi account (discovery or `Msh-Org-Id`): `account`'s keys now run under `into`. */
export interface AccountMergedEvent {
  readonly account: string;
  readonly into: string;
  /** The Kimi organisation id, when this pool saw it (undefined when another pool on the store merged them). */
  readonly org: string | undefined;
  /** Keys of `into` after the merge. */
  readonly keys: readonly string[];
  readonly limits: Limits;
}

/** An account's limits in force changed. */
export interface LimitsChangedEvent {
  readonly account: string;
  readonly limits: Limits;
  readonly previous: Limits;
  /** `set`: pool.setLimits(); `eased`: a limit learned from a 429 moved back toward the configured one after a quiet period; `discovered`: Kimi's answer; `merged`: two accounts became one. */
  readonly reason: 'set' | 'eased' | 'discovered' | 'merged';
}

/** A disabled account was checked (balance) on its backoff schedule. */
export interface AccountCheckEvent {
  readonly account: string;
  /** `available_balance`, when the endpoint answered. */
  readonly balance: number | undefined;
  /** True: the account takes one request on trial; false: checked again in `nextCheckInMs`. */
  readonly ok: boolean;
  readonly nextCheckInMs: number | undefined;
  readonly message: string;
}

/** A quota-disabled account works again: a request succeeded on it. */
export interface AccountRestoredEvent {
  readonly account: string;
  /** Time since it was disabled, ms. */
  readonly disabledMs: number;
}

/** A key joined the pool at run time (pool.addKeys). */
export interface KeyAddedEvent {
  readonly key: string;
  readonly account: string;
}

/** A key left the pool (pool.removeKey, here or in another pool on the shared store). */
export interface KeyRemovedEvent {
  readonly key: string;
  readonly account: string;
}

/** The pool's events, each with one payload object. Events observe; options decide. */
export interface KimiPoolEvents {
  queued: (event: QueuedEvent) => void;
  start: (event: StartEvent) => void;
  success: (event: SuccessEvent) => void;
  retry: (event: RetryEvent) => void;
  ratelimited: (event: RateLimitedEvent) => void;
  'cooldown-end': (event: CooldownEndEvent) => void;
  'key-disabled': (event: KeyDisabledEvent) => void;
  'account-disabled': (event: AccountDisabledEvent) => void;
  failed: (event: FailedEvent) => void;
  idle: (event: IdleEvent) => void;
  warning: (event: WarningEvent) => void;
  margin: (event: MarginEvent) => void;
  discovered: (event: DiscoveredEvent) => void;
  'account-merged': (event: AccountMergedEvent) => void;
  'limits-changed': (event: LimitsChangedEvent) => void;
  'account-check': (event: AccountCheckEvent) => void;
  'account-restored': (event: AccountRestoredEvent) => void;
  'key-added': (event: KeyAddedEvent) => void;
  'key-removed': (event: KeyRemovedEvent) => void;
}
