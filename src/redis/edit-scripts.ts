/**
 * Lua for the pool's run-time edits on a shared Redis store, apart from the
 * per-account decision scripts (see scripts.ts): each one atomic, each one
 * publishing what it changed so that the other pools hear of it.
 */

/** Records that account ARGV[1] is account ARGV[2] in the merges hash KEYS[1]; publishes ARGV[4] on ARGV[3]. */
export const MERGE_LUA = String.raw`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
end
return 0
`;

/** Every recorded merge: [from, into, ...]. */
export const MERGES_LUA = String.raw`
return redis.call('HGETALL', KEYS[1])
`;

/**
 * Clears the disabled flag ARGV[1] ("off" or "k:<key id>") of the account
 * whose state hash is KEYS[1], bumps its disabled version, publishes ARGV[3] on ARGV[2].
 */
export const ENABLE_LUA = String.raw`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'dv', 1)
  if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
end
return 0
`;
