/**
 * How the store runs one of its scripts (scripts.ts) and reads the answer:
 * EVALSHA, and EVAL only when the server does not know the script (first use
 * there, or it restarted), so the script's text rarely crosses the network.
 * Every failure is a {@link RedisStoreError} that says whether a retry can
 * help; a write that must land is retried in the background.
 */
import { RedisStoreError, isPermanent, isPermanentReply, storeError } from './errors.js';
import { isNoScript, type RedisClientLike } from './redis-client.js';
import { parseReply, type Reply, type Script } from './scripts.js';

/**
 * Runs `script` on `keys` with `args` (the ARGV). Rejects with a
 * {@link RedisStoreError}, `permanent` when no retry can help.
 */
export async function runScript(client: RedisClientLike, script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  const argv = [...keys, ...args];
  try {
    return await client.evalsha(script.sha, keys.length, ...argv);
  } catch (error) {
    if (!isNoScript(error)) throw storeError(script.name, error);
  }
  // A server that answers NOSCRIPT to EVAL too, or has no EVAL, will never run it.
  try {
    return await client.eval(script.lua, keys.length, ...argv);
  } catch (error) {
    throw storeError(script.name, error, isNoScript(error) || isPermanentReply(error));
  }
}

/**
 * Reads the answer of `script`. Throws a permanent {@link RedisStoreError}
 * when it is not a script's answer (not a Redis, or a client or proxy that
 * changes replies): asking again gets the same.
 */
export function readReply(script: Script, raw: unknown): Reply {
  try {
    return parseReply(raw);
  } catch (error) {
    throw storeError(script.name, error, true);
  }
}

/**
 * The client to run on, or the reason there is none: `startError` when
 * making it failed (ioredis missing, a bad URL), else init() has not run.
 */
export function clientOrThrow(client: RedisClientLike | undefined, startError: unknown): RedisClientLike {
  if (client !== undefined) return client;
  if (startError !== undefined) throw startError;
  throw new RedisStoreError('Redis store: init() has not run', { permanent: true });
}

const RETRY_MS = [100, 250, 500, 1000, 2000, 5000, 10_000];
const noop = (): void => undefined;

/**
 * A write that must reach Redis eventually: `op` runs now, then again in the
 * background after each failure (100 ms, growing to 10 s, 7 retries) until
 * it succeeds, fails for good (`permanent`) or `stopped()` (the store
 * closed). Never rejects.
 */
export function writeEventually(op: () => Promise<unknown>, stopped: () => boolean): Promise<void> {
  const again = (n: number, error: unknown): void => {
    if (stopped() || n >= RETRY_MS.length || isPermanent(error)) return;
    setTimeout(() => op().then(noop, (e: unknown) => again(n + 1, e)), RETRY_MS[n]).unref();
  };
  return op().then(noop, (e: unknown) => again(0, e));
}
