/**
 * What the Redis store throws: always a {@link RedisStoreError}, which says
 * whether trying again can help (`permanent`).
 */

/**
 * A failure of the Redis store. `permanent: false` (Redis unreachable, a
 * timeout, a lost answer): the pool tries again later. `permanent: true`: no
 * retry can succeed until someone changes the setup (ioredis not installed,
 * a server that will not run the scripts, keys of the wrong type, answers
 * that are not the scripts'), so waiting requests had better fail.
 */
export class RedisStoreError extends Error {
  readonly permanent: boolean;

  constructor(message: string, options: { readonly permanent: boolean; readonly cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RedisStoreError';
    this.permanent = options.permanent;
  }
}

/** True for an error no retry can fix (see {@link RedisStoreError}); works on any error with `permanent: true`. */
export function isPermanent(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { permanent?: unknown }).permanent === true;
}

/**
 * Redis replies that the same command will get again, whatever the retry:
 * the server lacks the command (no scripting, a proxy, a script calling a
 * command the server does not have), the user may not run it (ACL), the
 * script does not compile there, or a key of ours holds another type.
 * The message may be wrapped ("ERR Error running script ...: WRONGTYPE ...").
 */
const PERMANENT_REPLY = /unknown (redis )?command|^NOPERM|WRONGTYPE|Error compiling script/i;

export function isPermanentReply(error: unknown): boolean {
  return error instanceof Error && PERMANENT_REPLY.test(error.message);
}

/** The store's error for a failed step (a script's name, 'connect'): permanent when the reply says so, or when told. */
export function storeError(step: string, error: unknown, permanent = isPermanentReply(error)): RedisStoreError {
  if (error instanceof RedisStoreError) return error;
  const why = error instanceof Error ? error.message : String(error);
  return new RedisStoreError(`Redis store: ${step} failed: ${why}${permanent ? ' (retrying cannot help)' : ''}`, { permanent, cause: error });
}
