/**
 * Public types of the local Kimi (Moonshot) API simulator.
 *
 * Everything here is plain data so that a JSON config file maps onto
 * {@link KimiSimulatorOptions} one to one (the CLI reads `null` as `Infinity`
 * in limits, since JSON has no Infinity).
 */
import type { Limits, TierName } from '../../tiers.js';

/** One simulated Kimi account (organisation). Its keys share one budget. */
export interface SimulatorAccount {
  /** Organisation id, sent back in `Msh-Org-Id` and quoted in error messages. */
  readonly id: string;
  /** API keys of the account; a key may belong to one account only. */
  readonly keys: readonly string[];
  /**
   * Tier preset the limits start from.
   * @default 'tier0'
   */
  readonly tier?: TierName;
  /** Overrides of single limits on top of the tier preset. `Infinity` means unlimited. */
  readonly limits?: Partial<Limits>;
  /**
   * Available balance; `<= 0` refuses inference with a quota 429.
   * @default 100
   */
  readonly balance?: number;
  /**
   * A suspended account refuses inference with a quota 429.
   * @default false
   */
  readonly suspended?: boolean;
}

/**
 * Injected failures. Every rate is a probability in [0, 1], drawn from the
 * seeded PRNG once per accepted chat request.
 */
export interface SimulatorFaults {
  /** 429 `engine_overloaded_error`. */
  readonly overloadRate?: number;
  /** 500 `server_error`. */
  readonly serverErrorRate?: number;
  /** 503 `server_error` (service unavailable). */
  readonly unavailableRate?: number;
  /** Destroy the socket before any response byte. */
  readonly dropRate?: number;
  /** 200 with a truncated JSON body (or a broken SSE line for streams). */
  readonly malformedRate?: number;
  /** Streams only: destroy the socket right after the first content chunk. */
  readonly streamCutRate?: number;
  /** Add {@link SimulatorFaults.slowMs} to the latency of the request. */
  readonly slowRate?: number;
  /**
   * Extra latency of a slow request, in ms.
   * @default 1000
   */
  readonly slowMs?: number;
  /**
   * When set, overload 429s carry `retry-after: <this many seconds>`.
   * Real Kimi sends no Retry-After, so it is off by default.
   */
  readonly retryAfterHeader?: number;
}

/** Fixed latency in ms, or a uniform random `[min, max]` range. */
export type LatencyOption = number | readonly [min: number, max: number];

/** Options of {@link startKimiSimulator}. */
export interface KimiSimulatorOptions {
  /** At least one account. */
  readonly accounts: readonly SimulatorAccount[];
  /**
   * Length of the sliding "minute" for RPM and TPM; TPD uses 1,440 of them.
   * @default 60000
   */
  readonly windowMs?: number;
  /**
   * Time until the full response (streams spread their chunks over it).
   * @default 0
   */
  readonly latencyMs?: LatencyOption;
  /**
   * Time between the server reading a request and counting it against the
   * limits (the network and gateway between a client and Kimi's limiter):
   * fixed, or uniform in `[min, max]` per request, drawn from its own seeded
   * PRNG (the fault draws stay as they were). @default 0
   */
  readonly arrivalDelayMs?: LatencyOption;
  /**
   * Extra delay before counting the first request of each new connection (a
   * TCP and TLS handshake to a far server). @default 0
   */
  readonly newConnectionDelayMs?: number;
  /** Fault rates; all 0 by default. */
  readonly faults?: SimulatorFaults;
  /**
   * TCP port on 127.0.0.1; 0 picks a free one.
   * @default 0
   */
  readonly port?: number;
  /**
   * Seed of the PRNG that draws faults and latency.
   * @default 1
   */
  readonly seed?: number;
  /**
   * Model ids served by `GET /v1/models` and accepted by chat requests.
   * @default the 2026 Kimi model list (kimi-k2.5, kimi-k2.6, ...)
   */
  readonly models?: readonly string[];
  /**
   * Tokens reserved for the completion when a request sets neither
   * `max_completion_tokens` nor `max_tokens`.
   * @default 32768
   */
  readonly defaultMaxTokens?: number;
  /**
   * Keep a log of every chat request in `stats().log`.
   * @default false
   */
  readonly recordArrivals?: boolean;
  /**
   * Simulate Kimi's context cache: a request whose leading messages (all but
   * the last at most) were an earlier request's leading messages on the same
   * account reports their prompt tokens as `usage.cached_tokens`.
   * @default false (`cached_tokens` is always 0)
   */
  readonly promptCache?: boolean;
  /**
   * Monotonic clock in ms used for the limit windows and the log.
   * @default performance.now
   */
  readonly now?: () => number;
}

/** Changes applied by {@link KimiSimulator.setAccount}. */
export interface SimulatorAccountPatch {
  readonly suspended?: boolean;
  readonly balance?: number;
  /** Merged into the account's current overrides (fields not given stay). */
  readonly limits?: Partial<Limits>;
  /** New preset; the account's overrides still apply on top of it. */
  readonly tier?: TierName;
}

/** Failure kinds injected by {@link SimulatorFaults}. */
export type FaultKind = 'overloaded' | 'server' | 'unavailable' | 'dropped' | 'malformed' | 'streamCut';

/** Refusal kinds, in the order they are checked. */
export type RefusalKind = 'auth' | 'invalid' | 'quota' | 'concurrency' | 'rpm' | 'tpm' | 'tpd';

/** What happened to one chat request. */
export type ArrivalKind = 'served' | RefusalKind | FaultKind;

/** One entry of `stats().log` (only with `recordArrivals: true`). */
export interface ArrivalRecord {
  /** Arrival time in ms since the simulator started (on the `now` clock). */
  readonly t: number;
  /** Account id, or `null` for an unknown key. */
  readonly account: string | null;
  /** Fingerprint of the key (never the key itself). */
  readonly key: string;
  /** HTTP status sent; 0 when the socket was dropped. */
  readonly status: number;
  readonly kind: ArrivalKind;
  /** Reserved tokens (prompt + max tokens); 0 when the body was not valid. */
  readonly tokens: number;
  /** Whether the request counts toward the account's RPM/TPM/TPD windows. */
  readonly counted: boolean;
}

/** Per-account counters of {@link SimulatorStats}. */
export interface AccountStats {
  /** Chat requests answered normally (200, complete body or stream). */
  served: number;
  refused: Record<RefusalKind, number>;
  faults: Record<FaultKind, number>;
  /** Highest number of requests of the account in flight at once. */
  maxInFlight: number;
  inFlight: number;
  /** Sum of reserved tokens of all counted requests since the start. */
  reservedTokens: number;
  /** `usage.prompt_tokens` of the requests served (answered in full). */
  promptTokens: number;
  /** `usage.completion_tokens` of the requests served. */
  completionTokens: number;
  /** `usage.cached_tokens` of the requests served (part of `promptTokens`). */
  cachedTokens: number;
  /** Arrival (ms since start) of the first counted request, or `null`. */
  firstArrivalMs: number | null;
  /** Arrival (ms since start) of the latest counted request, or `null`. */
  lastArrivalMs: number | null;
}

/** JSON-serialisable snapshot returned by {@link KimiSimulator.stats}. */
export interface SimulatorStats {
  windowMs: number;
  /** Wall-clock start time (epoch ms). */
  startedAt: number;
  accounts: Record<string, AccountStats>;
  totals: {
    served: number;
    /** Refusals for concurrency + RPM + TPM + TPD. */
    rateLimited: number;
    quota: number;
    /** 401s, including keys that belong to no account. */
    auth: number;
    /** 400/404 answers to chat requests. */
    invalid: number;
    /** All injected faults. */
    faults: number;
  };
  /** Present only with `recordArrivals: true`. */
  log?: ArrivalRecord[];
}

/** A running simulator. */
export interface KimiSimulator {
  /** Base URL including `/v1`, ready for `new OpenAI({ baseURL })`. */
  readonly url: string;
  readonly port: number;
  stats(): SimulatorStats;
  /** Change an account at run time; throws a TypeError for an unknown id or bad values. */
  setAccount(id: string, patch: SimulatorAccountPatch): void;
  /** Later requests with this key get 401; throws a TypeError for an unknown key. */
  revokeKey(key: string): void;
  /** Replace all fault settings (fields not given become 0 / default). */
  setFaults(faults: SimulatorFaults): void;
  /** Stop listening, destroy open sockets, cancel pending replies. */
  close(): Promise<void>;
}
