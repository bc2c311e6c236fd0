/** Types for scripts/ensure-redis.mjs, which test/helpers/redis-server.ts shares. */
export declare const INSTALL_HINT: string;
export declare function findRedisServer(): string | undefined;
export declare function ensureRedisServer(): string;
