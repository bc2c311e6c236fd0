/** Options of the Redis store, validated p-queue style: every message names the field. */
import { checkNumber } from '../config.js';
import { ConfigError } from '../errors.js';
import type { RedisClientLike } from './redis-client.js';

/** Options of {@link redisStore}. Give `url` or `client`. */
export interface RedisStoreOptions {
  /**
   * A Redis URL; the store makes its own ioredis connections (one for
   * decisions, one for pub/sub) and closes them with the pool.
   * @example 'redis://127.0.0.1:6379/0'
   */
  readonly url?: string;
  /**
   * Your own client, e.g. an ioredis `Redis`. The store never closes it. Make it
   * fail fast while Redis is down (`enableOfflineQueue: false`), else requests
   * wait in its queue instead of the pool's backoff.
   */
  readonly client?: RedisClientLike;
  /** Prefix of every key and of the pub/sub channel: pools that share limits use the same one. @default 'kimi-pool:' */
  readonly prefix?: string;
  /**
   * Lifetime of an in-flight lease. The store renews its leases every
   * `leaseMs / 3` while their requests run; a worker that dies frees its
   * slots within `leaseMs`. @default 15000
   */
  readonly leaseMs?: number;
  /** Longest wait answered while an account is at its concurrency limit (pub/sub usually wakes sooner). @default 200 */
  readonly pollMs?: number;
  /** Time allowed to one command of a client made from `url`. @default 2000 */
  readonly commandTimeoutMs?: number;
  /** Hear other pools' releases and disables at once over pub/sub (one more connection). @default true */
  readonly subscribe?: boolean;
}

/** Options with defaults applied. */
export interface ResolvedRedisOptions {
  readonly url: string | undefined;
  readonly client: RedisClientLike | undefined;
  readonly prefix: string;
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly commandTimeoutMs: number;
  readonly subscribe: boolean;
}

function describe(value: unknown): string {
  return `\`${String(value)}\` (${value === null ? 'null' : typeof value})`;
}

/** @throws {ConfigError} naming the field and what to fix. */
export function resolveRedisOptions(options: RedisStoreOptions): ResolvedRedisOptions {
  if (options === null || typeof options !== 'object') throw new ConfigError(`Expected redisStore() options to be an object, got ${describe(options)}`);
  const { url, client } = options;
  if ((url === undefined) === (client === undefined)) throw new ConfigError('redisStore() needs exactly one of `url` (e.g. redis://127.0.0.1:6379) or `client` (an ioredis Redis)');
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
    throw new ConfigError(`Expected \`url\` to be a redis:// or rediss:// URL, got ${typeof url === 'string' ? 'a string not starting with redis:// or rediss://' : describe(url)}`);
  }
  if (client !== undefined && (typeof client?.evalsha !== 'function' || typeof client.eval !== 'function')) throw new ConfigError('Expected `client` to have evalsha() and eval() (an ioredis Redis does)');
  const prefix = options.prefix ?? 'kimi-pool:';
  // Braces would break the hash tag that keeps an account's keys on one cluster slot.
  if (typeof prefix !== 'string' || prefix === '' || /[{}]/.test(prefix)) throw new ConfigError(`Expected \`prefix\` to be a non-empty string without braces, got ${describe(prefix)}`);
  const subscribe = options.subscribe ?? true;
  if (typeof subscribe !== 'boolean') throw new ConfigError(`Expected \`subscribe\` to be a boolean, got ${describe(subscribe)}`);
  return {
    url,
    client,
    prefix,
    leaseMs: checkNumber('leaseMs', options.leaseMs ?? 15_000, { min: 100 }),
    pollMs: checkNumber('pollMs', options.pollMs ?? 200, { min: 1 }),
    commandTimeoutMs: checkNumber('commandTimeoutMs', options.commandTimeoutMs ?? 2000, { min: 0, exclusiveMin: true }),
    subscribe,
  };
}
