/**
 * The few Redis commands the store needs, typed as a small interface
 * (@upstash/ratelimit style): an ioredis `Redis` satisfies it, and so can any
 * client with the same methods. ioredis itself is loaded only when the store
 * is given a `url`, so `kimi-pool` without `kimi-pool/redis` never needs it.
 */

import { RedisStoreError } from './errors.js';

/** A listener as Node's EventEmitter takes it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

/** The commands the store sends. Replies are read as ioredis gives them. */
export interface RedisClientLike {
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /** A second connection for pub/sub (a subscribed connection can send nothing else). */
  duplicate?(): RedisSubscriberLike;
  /** `ready` (connected again) lets the store resume at once instead of at its next retry. */
  on?(event: string, listener: Listener): unknown;
  off?(event: string, listener: Listener): unknown;
}

/** The connection that listens to the other pools' releases. */
export interface RedisSubscriberLike {
  subscribe(channel: string): Promise<unknown>;
  on(event: string, listener: Listener): unknown;
  quit(): Promise<unknown>;
}

/** What the store owns when it made the connection itself. */
export interface OwnedClient extends RedisClientLike {
  connect(): Promise<void>;
  quit(): Promise<unknown>;
  disconnect(): void;
  readonly status: string;
}

/** Connection settings for a client made from a URL. */
export interface ConnectOptions {
  readonly commandTimeoutMs: number;
}

/**
 * An ioredis client that fails fast while Redis is unreachable (no offline
 * queue, no resending of commands whose answer was lost) and reconnects in the
 * background: the pool, not the client, decides when to try again, and a
 * decision whose answer was lost is never silently sent twice.
 */
export async function connectRedis(url: string, options: ConnectOptions): Promise<OwnedClient> {
  let Redis: typeof import('ioredis').Redis;
  try {
    ({ Redis } = await import('ioredis'));
  } catch (error) {
    throw new RedisStoreError('kimi-pool/redis needs the ioredis package: npm install ioredis (or pass your own `client`)', { permanent: true, cause: error });
  }
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(1000, options.commandTimeoutMs),
    // Reconnect forever, at most every second: the dispatcher's own backoff paces the requests.
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
  });
  // Errors reach the pool through the failed commands; without a listener ioredis would print them.
  client.on('error', () => undefined);
  return client as unknown as OwnedClient;
}

/** A second ioredis connection for pub/sub: it queues its SUBSCRIBE until connected and resubscribes after a reconnect. */
export async function connectSubscriber(url: string): Promise<RedisSubscriberLike> {
  const { Redis } = await import('ioredis');
  const sub = new Redis(url, { retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000) });
  sub.on('error', () => undefined);
  return sub as unknown as RedisSubscriberLike;
}

/** Closes a connection the store made: QUIT when connected (the answers on the way still arrive), else drops it. */
export async function closeOwned(owned: OwnedClient): Promise<void> {
  if (owned.status === 'ready') await owned.quit().catch(() => owned.disconnect());
  else owned.disconnect();
}

/** True when the error is Redis saying it does not know the script (first use, or after a restart). */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
