/**
 * `redisStore({ url })` without the optional ioredis package: init rejects
 * with a permanent error that says what to install, and so does every later
 * decision (never a retry loop on "no client").
 */
import { describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { RedisStoreError, redisStore } from '../../src/redis/index.js';

vi.mock('ioredis', () => {
  throw Object.assign(new Error("Cannot find package 'ioredis' imported from kimi-pool"), { code: 'ERR_MODULE_NOT_FOUND' });
});

describe('redisStore({ url }) without ioredis', () => {
  it('init() and every decision reject with a permanent RedisStoreError saying to install ioredis', async () => {
    const store = redisStore({ url: 'redis://127.0.0.1:1', subscribe: false });
    const init = Promise.resolve(store.init({ accounts: [{ id: 'a', limits: { concurrency: 1, rpm: 1, tpm: 100, tpd: Infinity } }], windowMs: 1000, safetyMarginMs: 10, clock: systemClock }));
    const error = await init.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(RedisStoreError);
    expect(error).toMatchObject({ name: 'RedisStoreError', permanent: true, message: expect.stringContaining('kimi-pool/redis needs the ioredis package: npm install ioredis') });
    await expect(store.acquire('a', 1, 1)).rejects.toBe(error);
    // Writes that must reach Redis eventually do not retry forever either, and never reject.
    await expect(store.pause('a', 100)).resolves.toBeUndefined();
    await store.close();
  });
});
