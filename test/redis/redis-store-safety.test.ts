/**
 * The Redis store where it must stay on the safe side: a grant whose answer
 * was lost, running totals that outgrew their sorted sets, and failures that
 * no retry can fix (reported as permanent). Real redis-server throughout.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { RedisStoreError, redisStore, type RedisClientLike, type RedisStore } from '../../src/redis/index.js';
import { ACQUIRE, SET_LIMITS, SYNC, accountKeys, parseReply, type Script } from '../../src/redis/scripts.js';
import type { Limits } from '../../src/tiers.js';
import { freePort, testPrefix, testRedis } from '../helpers/redis-server.js';
import { MARGIN, sleep, WINDOW } from '../store/store-contract.js';

const SPAN = WINDOW + MARGIN;
const OPEN: Limits = { concurrency: 100, rpm: 1000, tpm: 1_000_000, tpd: Infinity };
type Args = [string, number, ...(string | number)[]];

let url = '';
let stopRedis: () => Promise<void> = async () => undefined;
let redis: Redis;
beforeAll(async () => {
  ({ url, stop: stopRedis } = await testRedis());
  redis = new Redis(url);
});
afterAll(async () => {
  redis.disconnect();
  await stopRedis();
});

const open: RedisStore[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function store(limits: Record<string, Partial<Limits>>, client?: RedisClientLike, prefix = testPrefix('safety')): Promise<RedisStore> {
  const s = client !== undefined ? redisStore({ client, prefix, subscribe: false }) : redisStore({ url, prefix, subscribe: false });
  open.push(s);
  await s.init({ accounts: Object.entries(limits).map(([id, l]) => ({ id, limits: { ...OPEN, ...l } })), windowMs: WINDOW, safetyMarginMs: MARGIN, clock: systemClock });
  return s;
}

/** A client whose next answer is lost after Redis ran the script (a timeout, a dropped connection). */
function lossyClient(): { client: RedisClientLike; dropNext: () => void } {
  let drop = false;
  const lossy = async (run: () => Promise<unknown>): Promise<unknown> => {
    const r = await run();
    if (drop) {
      drop = false;
      throw new Error('Command timed out');
    }
    return r;
  };
  return {
    client: {
      evalsha: (...args) => lossy(() => redis.evalsha(...(args as Args))),
      eval: (...args) => lossy(() => redis.eval(...(args as Args))),
    },
    dropNext: () => (drop = true),
  };
}

function keysOf(s: RedisStore, account = 'a'): { m: string; s: string; t: string; d: string; dt: string; l: string } {
  const [m, ks, t, d, dt, l] = accountKeys(s.prefix, account) as [string, string, string, string, string, string];
  return { m, s: ks, t, d, dt, l };
}

describe('a grant whose answer was lost', () => {
  it('retried later, counts from the retry: RPM and TPM hold a full window after the request left', async () => {
    const { client, dropNext } = lossyClient();
    const s = await store({ a: { rpm: 1, tpm: 100 } }, client);
    dropNext();
    await expect(s.acquire('a', 60, 1)).rejects.toThrow(/timed out/);
    await sleep(200);
    expect(await s.acquire('a', 60, 1)).toBe(0);
    // The request leaves now: the next may start only a full span after it (not after the lost grant).
    const left = performance.now();
    const rpmWait = await s.acquire('a', 1, 2);
    expect(rpmWait).toBeGreaterThan(SPAN - (performance.now() - left) - 10);
    await s.setLimits('a', { ...OPEN, tpm: 100 });
    const tpmWait = await s.acquire('a', 60, 3);
    expect(tpmWait).toBeGreaterThan(SPAN - (performance.now() - left) - 10);
    // Counted once.
    const u = s.usage('a');
    expect([u.inFlight, u.startsInWindow, u.tokensInWindow]).toEqual([1, 1, 60]);
  });

  it('retried while the account was paused meanwhile, waits and gives the grant back', async () => {
    const { client, dropNext } = lossyClient();
    const s = await store({ a: { tpd: 1000 } }, client);
    const k = keysOf(s);
    dropNext();
    await expect(s.acquire('a', 60, 1)).rejects.toThrow(/timed out/);
    expect(await redis.zcard(k.l)).toBe(1);
    // Another pool saw a 429 in between.
    const other = await store({ a: { tpd: 1000 } }, undefined, s.prefix);
    await other.pause('a', 300);
    const wait = await s.acquire('a', 60, 1);
    expect(wait).toBeGreaterThan(200);
    expect([await redis.zcard(k.l), await redis.zcard(k.s), await redis.zcard(k.t)]).toEqual([0, 0, 0]);
    expect(await redis.hmget(k.m, 'tt', 'dtot')).toEqual(['0', '0']);
    expect(await redis.hvals(k.dt)).toEqual([]);
    await sleep(wait + 5);
    expect(await s.acquire('a', 60, 1)).toBe(0);
    expect(await redis.hmget(k.m, 'tt', 'dtot')).toEqual(['60', '60']);
  });

  it('is asked for again only by the immediate retry of the same call on the same account', async () => {
    const { client, dropNext } = lossyClient();
    const s = await store({ a: {}, b: {} }, client);
    const a = keysOf(s, 'a');
    // The immediate retry: the same lease member, counted once.
    dropNext();
    await expect(s.acquire('a', 5, 1)).rejects.toThrow(/timed out/);
    expect(await s.acquire('a', 5, 1)).toBe(0);
    expect(await redis.zcard(a.l)).toBe(1);
    // A bounce to another account in between: back on `a`, the job asks with a new member (the lost
    // grant is not taken for this one; it expires with its lease).
    dropNext();
    await expect(s.acquire('a', 5, 2)).rejects.toThrow(/timed out/);
    expect(await s.acquire('b', 5, 2)).toBe(0);
    expect(await s.acquire('a', 5, 2)).toBe(0);
    expect(await redis.zcard(a.l)).toBe(3);
    expect(await redis.zcard(a.s)).toBe(3);
  });
});

describe('a grant whose answer was lost, with TPD unlimited at grant time and learned before the retry', () => {
  it('gives back no TPD tokens: the grant recorded none, and the bucket holds other requests\' reservations', async () => {
    // At script level, with one TPD bucket for the whole test (granularity 1e6 ms) so that the grants share it.
    const keys = accountKeys(testPrefix('tpd-back'), 'a');
    let epoch = '';
    let dv = '';
    const cfg = '10,-1,-1,-1';
    const run = async (script: Script, extra: (string | number)[]) => {
      const r = parseReply(await redis.eval(script.lua, 6, ...keys, epoch, cfg, 60_000, 86_400_000, 100_000_000, dv, ...extra));
      ({ epoch, dv } = r);
      return r;
    };
    const acquire = (tokens: number, member: string) => run(ACQUIRE, [tokens, member, 15_000, 1_000_000, 0, 200]);
    const dtot = async () => Number(await redis.hget(keys[0] as string, 'dtot'));
    await run(SYNC, []);
    expect((await acquire(100, 'w:1:1')).status).toBe(0); // its answer is lost
    await sleep(2);
    await run(SET_LIMITS, ['10,-1,-1,1000']); // another pool learned TPD 1000 from a 429
    await sleep(2);
    expect((await acquire(300, 'w:2:2')).status).toBe(0);
    expect(await dtot()).toBe(300);
    // The retry of the lost grant: counted once, and the other's 300 stay.
    expect((await acquire(100, 'w:1:1')).status).toBe(0);
    expect(await dtot()).toBe(400);
    expect((await acquire(650, 'w:3:3')).status).toBe(1);
    // A grant made while the limit was finite is still given back on its retry.
    expect((await acquire(200, 'w:4:4')).status).toBe(0);
    expect(await dtot()).toBe(600);
    expect((await acquire(200, 'w:4:4')).status).toBe(0);
    expect(await dtot()).toBe(600);
  });
});

describe('observe (a TPM or TPD 429\'s "current")', () => {
  it('records TPD usage while the TPD limit is unlimited in Redis, once, and TPM usage as an obs: entry', async () => {
    const s = await store({ a: {} });
    const k = keysOf(s);
    await s.observe('a', 'tpd', 950);
    await s.observe('a', 'tpd', 900);
    expect(await redis.hget(k.m, 'dtot')).toBe('950');
    expect((await redis.hvals(k.dt)).reduce((x, v) => x + Number(v), 0)).toBe(950);
    expect(await redis.zcard(k.d)).toBe(1);
    await s.observe('a', 'tpm', 300);
    await s.observe('a', 'tpm', 500);
    expect(await redis.hget(k.m, 'tt')).toBe('500');
    const entries = await redis.zrange(k.t, 0, -1);
    expect(entries).toHaveLength(2);
    for (const e of entries) expect(e).toMatch(/^obs:\d+\.\d+\|\d+$/);
    // Another pool learns the TPD limit: the usage counts for a day.
    const other = await store({ a: {} }, undefined, s.prefix);
    await other.setLimits('a', { ...OPEN, tpd: 1000 });
    expect(await s.acquire('a', 100, 1)).toBeGreaterThan(WINDOW * 1440 - 1000);
    expect(await s.acquire('a', 50, 2)).toBe(0);
  });

  it('never rejects, whether Redis is unreachable or the failure is permanent', async () => {
    const down = redisStore({ url: `redis://127.0.0.1:${await freePort()}`, prefix: testPrefix('down'), subscribe: false });
    open.push(down);
    await down.init({ accounts: [{ id: 'a', limits: OPEN }], windowMs: WINDOW, safetyMarginMs: MARGIN, clock: systemClock }).catch(() => undefined);
    await expect(down.observe('a', 'tpd', 100)).resolves.toBeUndefined();
    const notOurs = redisStore({ client: { evalsha: () => redis.ping(), eval: () => redis.ping() }, prefix: testPrefix('perm'), subscribe: false });
    open.push(notOurs);
    await Promise.resolve(notOurs.init({ accounts: [{ id: 'a', limits: OPEN }], windowMs: WINDOW, safetyMarginMs: MARGIN, clock: systemClock })).catch(() => undefined);
    await expect(notOurs.observe('a', 'tpm', 100)).resolves.toBeUndefined();
  });
});

describe('running totals that outgrew their sets (a key evicted or deleted while the hash survived)', () => {
  it('TPM: fails closed, heals the total, and grants again once the lost tokens leave the window', async () => {
    const s = await store({ a: { tpm: 100 } });
    const k = keysOf(s);
    expect(await s.acquire('a', 60, 1)).toBe(0);
    await redis.del(k.t);
    const t0 = performance.now();
    const wait = await s.acquire('a', 60, 2);
    expect(wait).toBeGreaterThan(SPAN - (performance.now() - t0) - 10);
    // The total and the set agree again: the lost 60 tokens are one entry stamped at the heal.
    const entries = await redis.zrange(k.t, 0, -1);
    expect(entries).toHaveLength(1);
    expect(await redis.hget(k.m, 'tt')).toBe('60');
    expect(await s.acquire('a', 60, 3)).toBeGreaterThan(0);
    expect(await s.acquire('a', 40, 4)).toBe(0);
    await sleep(wait + 5);
    expect(await s.acquire('a', 60, 2)).toBe(0);
    const held = (await redis.zrange(k.t, 0, -1)).reduce((x, e) => x + Number(e.split('|')[1]), 0);
    expect(await redis.hget(k.m, 'tt')).toBe(String(held));
  });

  it('TPD: fails closed whether the bucket values or their index were lost', async () => {
    for (const lose of ['dt', 'd'] as const) {
      const s = await store({ a: { tpd: 100 } });
      const k = keysOf(s);
      expect(await s.acquire('a', 60, 1)).toBe(0);
      await redis.del(k[lose]);
      expect(await s.acquire('a', 60, 2)).toBeGreaterThan(WINDOW * 1000);
      expect(await s.acquire('a', 40, 3)).toBe(0);
      const buckets = await redis.hvals(k.dt);
      expect(buckets.reduce((x, v) => x + Number(v), 0)).toBe(100);
      expect(await redis.hget(k.m, 'dtot')).toBe('100');
      expect(await redis.zcard(k.d)).toBe(buckets.length);
    }
  });
});

describe('failures that no retry can fix are permanent', () => {
  /** A client that sends a renamed command to the real server: Redis itself answers "unknown command". */
  const missing = (name: string) => (_script: string, numKeys: number, ...args: (string | number)[]) => redis.call(name, 'x', numKeys, ...args);

  async function initError(client: RedisClientLike, prefix?: string): Promise<unknown> {
    const s = redisStore({ client, prefix: prefix ?? testPrefix('perm'), subscribe: false });
    open.push(s);
    const error = await Promise.resolve(s.init({ accounts: [{ id: 'a', limits: OPEN }], windowMs: WINDOW, safetyMarginMs: MARGIN, clock: systemClock })).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Every later decision rejects the same way.
    await expect(s.acquire('a', 1, 1)).rejects.toMatchObject({ name: 'RedisStoreError', permanent: (error as { permanent?: boolean }).permanent });
    return error;
  }

  it('no EVALSHA/EVAL, NOSCRIPT without EVAL, WRONGTYPE keys, answers that are not the scripts\'', async () => {
    const noScripting = await initError({ evalsha: missing('EVALSHA_DISABLED'), eval: missing('EVAL_DISABLED') });
    expect(noScripting).toBeInstanceOf(RedisStoreError);
    expect(noScripting).toMatchObject({ name: 'RedisStoreError', permanent: true, message: expect.stringMatching(/unknown command/i) });

    const noEval = await initError({ evalsha: (_s, n, ...args) => redis.evalsha('0'.repeat(40), n, ...args), eval: missing('EVAL_DISABLED') });
    expect(noEval).toMatchObject({ permanent: true, message: expect.stringMatching(/unknown command/i) });

    const prefix = testPrefix('wrongtype');
    await redis.set(accountKeys(prefix, 'a')[5] as string, 'not a sorted set');
    expect(await initError(redis, prefix)).toMatchObject({ permanent: true, message: expect.stringMatching(/WRONGTYPE/) });

    const notOurs = await initError({ evalsha: () => redis.ping(), eval: () => redis.ping() });
    expect(notOurs).toMatchObject({ permanent: true, message: expect.stringMatching(/Unexpected answer/) });
  });

  it('a timeout or an unreachable Redis is not permanent', async () => {
    const timeout = async (): Promise<never> => Promise.reject(new Error('Command timed out'));
    expect(await initError({ evalsha: timeout, eval: timeout })).toMatchObject({ name: 'RedisStoreError', permanent: false });
    const down = redisStore({ url: `redis://127.0.0.1:${await freePort()}`, prefix: testPrefix('down'), subscribe: false });
    open.push(down);
    await expect(down.init({ accounts: [{ id: 'a', limits: OPEN }], windowMs: WINDOW, safetyMarginMs: MARGIN, clock: systemClock })).rejects.toMatchObject({ name: 'RedisStoreError', permanent: false });
    await expect(down.acquire('a', 1, 1)).rejects.toMatchObject({ permanent: false });
  });
});
