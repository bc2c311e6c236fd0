import type { ClientOptions } from 'openai';
import type { Clock } from './clock.js';
import type { PriceTable } from './pricing.js';
import type { LimitStore } from './store/limit-store.js';
import type { Limits, TierName } from './tiers.js';

/** Limit overrides: any subset of {@link Limits}. `Infinity` = unlimited. */
export type LimitOverrides = { readonly [K in keyof Limits]?: number };

/** One API key and what is known of it. */
export interface KeyConfig extends LimitOverrides {
  /** The API key (`sk-...`). Never printed: see `id`. */
  readonly key: string;
  /** A name for the key in events, stats and errors. @default its fingerprint, e.g. `sk-…3fa9c1d2` */
  readonly id?: string;
  /**
   * The account (organisation) the key belongs to. Keys of one account share
   * its limits. @default the key's own id: each key is its own account
   */
  readonly account?: string;
  /** The account's tier preset. @default the pool's `tier` */
  readonly tier?: TierName;
  /** A base URL for this key only (keys of .cn and .ai do not mix). @default the pool's `baseURL` */
  readonly baseURL?: string;
  /** Ask Kimi about this key before its first request (see {@link KimiPoolOptions.discover}). @default the pool's `discover` */
  readonly discover?: boolean;
}

/** Limits for a whole account, set once instead of on each of its keys. */
export interface AccountConfig extends LimitOverrides {
  readonly tier?: TierName;
}

/** Options of {@link KimiPool}. */
export interface KimiPoolOptions {
  /**
   * The keys: a list in one string (separated by commas, newlines or spaces; quotes around the list
   * or a key are stripped, empty entries ignored), an array of keys, or an array of {@link KeyConfig}.
   * @default the KIMI_API_KEYS environment variable, read the same way
   * @example keys: [{ key: 'sk-a', account: 'org-1', tier: 'tier1' }, { key: 'sk-b', account: 'org-1' }]
   */
  readonly keys?: string | readonly (string | KeyConfig)[] | undefined;
  /**
   * Before a key's first request, ask Kimi which account (organisation) it
   * belongs to and that account's limits (`GET /v1/users/me`) and balance
   * (`GET /v1/users/me/balance`): keys of one organisation are grouped, and
   * its limits replace the tier preset. Limit numbers you give (`accounts`,
   * KeyConfig) win. Keys of no configured account join an account named
   * after the organisation id. When an endpoint fails, the configuration
   * stays in force and the `discovered` event says why. @default false
   */
  readonly discover?: boolean;
  /** Tier preset for accounts that name none. @default 'tier0' */
  readonly tier?: TierName;
  /** Limits per account id, overriding the tier preset. */
  readonly accounts?: Readonly<Record<string, AccountConfig>>;
  /**
   * The API's base URL: 'https://api.moonshot.ai/v1' for global keys.
   * @default the KIMI_BASE_URL environment variable, else 'https://api.moonshot.cn/v1'
   */
  readonly baseURL?: string;
  /** Length of the rate-limit "minute" in ms; a day is 1,440 of them. Tests shorten it. @default 60000 */
  readonly windowMs?: number;
  /**
   * Ms added to every window, covering what lies between a request being
   * written to its socket (when its start is recorded) and Kimi counting it:
   * network delay jitter, a TCP retransmission, server queueing. Each account
   * widens its own when a rate-limit 429 shows it was not enough (event
   * `margin`, `stats().accounts[].safetyMarginMs`), and eases back after ten
   * quiet windows. @default 250
   */
  readonly safetyMarginMs?: number;
  /** Retries after transient faults (overload 429, 5xx, connection errors, malformed bodies). @default 5 */
  readonly retries?: number;
  /** First backoff delay; doubles each retry, with jitter. @default 500 */
  readonly retryBaseMs?: number;
  /** Largest backoff delay. @default 30000 */
  readonly retryMaxMs?: number;
  /**
   * How often one request may go back to the queue after 429 `rate_limit_reached_error`
   * (those do not use a retry) before it fails with `RateLimitError`. @default 10
   */
  readonly maxRateLimitBounces?: number;
  /**
   * Longest wait for data, in ms, while a response body or a stream is read (SSE
   * keep-alive comments are not data). Passing it fails the attempt: retried
   * before any data reached the caller, a `StreamError` after. `clientOptions.timeout`
   * still bounds the wait for headers. @default 120000
   */
  readonly idleTimeoutMs?: number;
  /**
   * Longest attempt, in ms, from the request to the end of its body (streams
   * included); passing it fails the attempt as {@link KimiPoolOptions.idleTimeoutMs} does.
   * @default 7200000 (Kimi's gateway cuts requests at two hours)
   */
  readonly attemptTimeoutMs?: number;
  /**
   * Largest wait a server may ask for (`retry-after-ms`, `retry-after`, or a 429's
   * "try again after N seconds"), in ms. A longer one is ignored (the pool's own
   * backoff or pause applies, the request may run on another account meanwhile)
   * and a `retry_after_ignored` warning says so once. @default 60000 (as openai-node)
   */
  readonly maxRetryAfterMs?: number;
  /** Tokens reserved for the completion of a request that sets no `max_tokens`. @default 32768 */
  readonly defaultMaxTokens?: number;
  /** Your own prompt-token estimate for chat requests; must not undercount. */
  readonly estimatePromptTokens?: (params: { readonly messages?: readonly unknown[] }) => number;
  /** Passed to every `openai` client (timeout, fetch, defaultHeaders, ...). `maxRetries` is forced to 0. */
  readonly clientOptions?: Omit<ClientOptions, 'apiKey' | 'baseURL' | 'maxRetries'>;
  /** Where limits are kept. @default in memory; see `kimi-pool/redis` for several processes */
  readonly store?: LimitStore;
  /** Time source. @default the system clock */
  readonly clock?: Clock;
  /** Random source in [0, 1) for backoff jitter. @default Math.random */
  readonly random?: () => number;
  /**
   * Prices per model that `stats().usage`, the `success` event and the metrics
   * exporters use for cost (see `loadPriceTable`). A model the table does not
   * name has an unknown cost, never 0.
   * @default KIMI_PRICES_USD (list prices of the global platform, USD)
   */
  readonly prices?: PriceTable;
}

/** Per-request options. */
export interface RequestOptions {
  /** Higher runs first; FIFO within a priority. @default 0 */
  readonly priority?: number;
  /** Aborts the request, queued or in flight. */
  readonly signal?: AbortSignal;
  /** Total time allowed, queued and in flight, in ms. */
  readonly timeout?: number;
}

/** Options of {@link KimiPool.schedule}. */
export interface ScheduleOptions extends RequestOptions {
  /** Tokens the call reserves against TPM/TPD (prompt + completion budget). @default 0 */
  readonly tokens?: number;
}
