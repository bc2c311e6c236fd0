/**
 * `kimi-pool/redis`: account limits shared by several processes through Redis.
 * ioredis is an optional peer dependency, loaded only when a `url` is given.
 */
export { RedisStore, redisStore } from './redis-store.js';
export type { RedisStoreOptions } from './options.js';
export type { RedisClientLike, RedisSubscriberLike } from './redis-client.js';
export { RedisStoreError } from './errors.js';
