import type { Clock } from '../clock.js';
import type { Limits } from '../tiers.js';

/** A value now, or later (the Redis store answers over the network). */
export type Awaitable<T> = T | Promise<T>;

/** What a store knows of one account. */
export interface StoreAccount {
  /** The account's id (never a key). */
  readonly id: string;
  readonly limits: Limits;
}

/** What the pool tells a store when it starts. */
export interface StoreContext {
  readonly accounts: readonly StoreAccount[];
  readonly windowMs: number;
  readonly safetyMarginMs: number;
  readonly clock: Clock;
}

/** A point-in-time view of one account's usage, for stats. */
export interface AccountUsage {
  readonly inFlight: number;
  readonly startsInWindow: number;
  readonly tokensInWindow: number;
  /** Paused until this clock time, or null. */
  readonly pausedUntil: number | null;
  /** Milliseconds until a small request could start: 0 = now, null = when a request ends. */
  readonly nextFreeInMs: number | null;
}

/**
 * Where the account limits live: in this process ({@link MemoryStore}) or
 * shared by several processes. Every decision is one call, atomic in the store.
 *
 * `acquire` answers a number: `0` = started (the store recorded the start, the
 * tokens and an in-flight lease), a positive number = ask again after that
 * many ms, `Infinity` = ask again when one of this pool's requests on the
 * account ends or leaves, `-1` ({@link NEVER}) = the request exceeds the account's TPM or TPD.
 *
 * For every granted lease the pool calls {@link LimitStore.sent} once, when
 * the request left the process (or, if it never did, when it ended), then
 * {@link LimitStore.release} once.
 */
export interface LimitStore {
  init(context: StoreContext): Awaitable<void>;
  acquire(account: string, tokens: number, lease: number): Awaitable<number>;
  /**
   * The request of a granted lease (reserving `tokens`, as acquired) left the
   * process now: its start (RPM) and reservation (TPM) count from now, never
   * from earlier. Called exactly once per grant, before its release. Optional:
   * a store without it counts them from the grant.
   */
  sent?(account: string, lease: number, tokens: number): Awaitable<void>;
  release(account: string, lease: number): Awaitable<void>;
  /**
   * Sets the account's safety margin (ms added to every window), learned from
   * rate-limit 429s the store's own ledger did not predict. Optional.
   */
  setMargin?(account: string, marginMs: number): Awaitable<void>;
  /** Pauses the account until `ms` from now (a 429 said so). */
  pause(account: string, ms: number): Awaitable<void>;
  /** Replaces the account's limits (learned from a 429 message). */
  setLimits(account: string, limits: Limits): Awaitable<void>;
  /**
   * The server counted `used` tokens in the account's TPM or TPD window (from
   * a 429's "current"): record at least that much. Optional.
   */
  observe?(account: string, dimension: 'tpm' | 'tpd', used: number): Awaitable<void>;
  usage(account: string): AccountUsage;
  close(): Awaitable<void>;
  /**
   * Optional (stores shared by several pools): records that a key or an
   * account was disabled, so that every pool on the store stops using it.
   * Must not reject: a store that cannot write now retries on its own.
   */
  disable?(info: DisabledInfo): Awaitable<void>;
  /**
   * Optional (stores shared by several pools): the pool listens to what other
   * pools changed. Called once, before {@link LimitStore.init}.
   */
  listen?(listener: (event: StoreEvent) => void): void;
  /**
   * Optional: an account the pool learned of at run time (discovery, addKeys
   * with a new account), with its limits as configured. Without it the pool
   * keeps the accounts it started with (discovery names no new account,
   * addKeys rejects a key of a new one).
   */
  addAccount?(account: StoreAccount): Awaitable<void>;
  /**
   * Optional: account `from` is account `into` (Kimi said so in `Msh-Org-Id`):
   * from now on calls for `from` count on `into`, and a shared store tells
   * every pool on it (event `merged`). Must not reject.
   */
  merge?(from: string, into: string): Awaitable<void>;
  /** Optional: a key or an account disabled earlier works again (recovery); a shared store tells the other pools. Must not reject. */
  enable?(info: { readonly scope: 'key' | 'account'; readonly account: string; readonly key: string | undefined }): Awaitable<void>;
}

/** A key or an account taken out of service, as shared through a store. */
export interface DisabledInfo {
  readonly scope: 'key' | 'account';
  /** The account, and for `scope: 'key'` the key's id (a fingerprint, never the key). */
  readonly account: string;
  readonly key: string | undefined;
  readonly status: number | undefined;
  readonly kimiType: string | undefined;
}

/** What a shared store tells the pool (see {@link LimitStore.listen}). */
export type StoreEvent =
  /** The account may have room now (a slot was freed elsewhere, the store came back): ask again. */
  | { readonly type: 'wake'; readonly account: string }
  /** Another pool disabled a key or an account. */
  | ({ readonly type: 'disabled' } & DisabledInfo)
  /** The account's limits in the store changed (another pool learned them from a 429). */
  | { readonly type: 'limits'; readonly account: string; readonly limits: Limits }
  /** Another pool found that account `account` is account `into` (see {@link LimitStore.merge}). */
  | { readonly type: 'merged'; readonly account: string; readonly into: string }
  /** Another pool re-enabled a key or an account (see {@link LimitStore.enable}). */
  | { readonly type: 'enabled'; readonly scope: 'key' | 'account'; readonly account: string; readonly key: string | undefined }
  /** Something the user should know about the store (e.g. its state was lost). */
  | { readonly type: 'warning'; readonly code: 'store_state_lost'; readonly message: string };

export { NEVER } from '../limits/account-limiter.js';
