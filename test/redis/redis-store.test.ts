import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/clock.js';
import { KimiPool } from '../../src/index.js';
import { RedisStore, redisStore, type RedisClientLike } from '../../src/redis/index.js';
import type { StoreEvent } from '../../src/store/limit-store.js';
import { startKimiSimulator } from '../../src/testing/index.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import type { Limits } from '../../src/tiers.js';
import { RedisServer, testPrefix, useTestRedis } from '../helpers/redis-server.js';
import { expectNoRateLimits, watchStalls } from '../helpers/stalls.js';
import { describeStoreContract, MARGIN, sleep, WINDOW } from '../store/store-contract.js';

const shared = useTestRedis();

// An ioredis client satisfies the store's small client interface.
const typeCheck = (r: Redis): RedisClientLike => r;
void typeCheck;

describe('redisStore() options', () => {
  it('rejects bad options with a message naming the field', () => {
    expect(() => redisStore({})).toThrow(/exactly one of `url`/);
    expect(() => redisStore({ url: 'http://x' })).toThrow(/`url` to be a redis:\/\//);
    expect(() => redisStore({ url: 'redis://x', prefix: 'a{b}' })).toThrow(/`prefix`/);
    expect(() => redisStore({ url: 'redis://x', leaseMs: 10 })).toThrow(/`leaseMs` to be a finite number >= 100, got `10`/);
    expect(() => redisStore({ url: 'redis://x', pollMs: -1 })).toThrow(/`pollMs`/);
    expect(() => redisStore({ client: {} as RedisClientLike })).toThrow(/evalsha\(\) and eval\(\)/);
    expect(redisStore({ url: 'redis://x' }).prefix).toBe('kimi-pool:');
  });
});

describeStoreContract('RedisStore', () => redisStore({ url: shared.url, prefix: testPrefix('contract') }));

const OPEN: Limits = { concurrency: 100, rpm: 1000, tpm: 1_000_000, tpd: Infinity };

describe('RedisStore shared by several pools', () => {
  const open: RedisStore[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  /** Stores on one prefix, as separate workers would have them. */
  async function workers(n: number, limits: Partial<Limits>, options: { leaseMs?: number; clock?: Clock; client?: () => Promise<RedisClientLike> } = {}): Promise<{ stores: RedisStore[]; events: StoreEvent[][] }> {
    const prefix = testPrefix('shared');
    const stores: RedisStore[] = [];
    const events: StoreEvent[][] = [];
    for (let i = 0; i < n; i++) {
      const s = options.client !== undefined ? redisStore({ client: await options.client(), prefix, leaseMs: options.leaseMs }) : redisStore({ url: shared.url, prefix, leaseMs: options.leaseMs });
      const seen: StoreEvent[] = [];
      s.listen((e) => seen.push(e));
      await s.init({ accounts: [{ id: 'a', limits: { ...OPEN, ...limits } }], windowMs: WINDOW, safetyMarginMs: MARGIN, clock: options.clock ?? systemClock });
      open.push(s);
      stores.push(s);
      events.push(seen);
    }
    return { stores, events };
  }

  it('shares concurrency and wakes the others over pub/sub when a slot frees', async () => {
    const { stores: [a, b], events } = await workers(2, { concurrency: 2 });
    expect(await a!.acquire('a', 1, 1)).toBe(0);
    expect(await b!.acquire('a', 1, 1)).toBe(0);
    const wait = await b!.acquire('a', 1, 2);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(200);
    await a!.release('a', 1);
    await sleep(50);
    expect(events[1]).toContainEqual({ type: 'wake', account: 'a' });
    expect(await b!.acquire('a', 1, 2)).toBe(0);
  });

  it('ignores what others publish on its channel (null, numbers, strings, junk) and still hears the pools', async () => {
    const { stores: [a, b], events } = await workers(2, { concurrency: 1 });
    const publisher = new Redis(shared.url);
    try {
      // A handler that threw on any of these would surface as an uncaught error and fail this file.
      for (const junk of ['null', '42', '"w"', '[]', '{}', '{"t":"w"}', 'not json', '{"t":"w","a":7}']) await publisher.publish(`${b!.prefix}events`, junk);
      expect(await a!.acquire('a', 1, 1)).toBe(0);
      expect(await b!.acquire('a', 1, 2)).toBeGreaterThan(0);
      await a!.release('a', 1);
      await sleep(50);
      expect(events[1]).toContainEqual({ type: 'wake', account: 'a' });
      expect(events[1]?.filter((e) => e.type !== 'wake')).toEqual([]);
    } finally {
      publisher.disconnect();
    }
  });

  it('shares RPM and TPM: four pools together never exceed the limits', async () => {
    const { stores } = await workers(4, { rpm: 6, tpm: 600 });
    const grants = await Promise.all(stores.map(async (s, i) => {
      let n = 0;
      for (let j = 0; j < 5; j++) if ((await s.acquire('a', 50, i * 10 + j)) === 0) n++;
      return n;
    }));
    expect(grants.reduce((x, y) => x + y, 0)).toBe(6);
    const tpmLimited = await workers(3, { rpm: 100, tpm: 200 });
    let granted = 0;
    for (const [i, s] of tpmLimited.stores.entries()) if ((await s.acquire('a', 90, i)) === 0) granted++;
    expect(granted).toBe(2);
  });

  it('a 429 pause by one pool pauses the account for all', async () => {
    const { stores: [a, b] } = await workers(2, {});
    await a!.pause('a', 250);
    const wait = await b!.acquire('a', 1, 1);
    expect(wait).toBeGreaterThan(150);
    expect(wait).toBeLessThanOrEqual(251);
    expect(b!.usage('a').pausedUntil).not.toBeNull();
  });

  it('limits learned by one pool reach the others', async () => {
    const { stores: [a, b], events } = await workers(2, { concurrency: 5 });
    await a!.setLimits('a', { ...OPEN, concurrency: 1 });
    expect(await b!.acquire('a', 1, 1)).toBe(0);
    expect(await b!.acquire('a', 1, 2)).toBeGreaterThan(0);
    await sleep(20);
    expect(events[1]).toContainEqual({ type: 'limits', account: 'a', limits: { ...OPEN, concurrency: 1 } });
  });

  it('a key or an account disabled by one pool is reported to the others', async () => {
    const { stores: [a, b], events } = await workers(2, {});
    await a!.disable({ scope: 'key', account: 'a', key: 'sk-…abc123', status: 401, kimiType: 'invalid_authentication_error' });
    await sleep(100);
    expect(events[1]).toContainEqual({ type: 'disabled', scope: 'key', account: 'a', key: 'sk-…abc123', status: 401, kimiType: 'invalid_authentication_error' });
    expect(events[0]!.filter((e) => e.type === 'disabled')).toEqual([]);
    await a!.disable({ scope: 'account', account: 'a', key: 'sk-…abc123', status: 429, kimiType: 'exceeded_current_quota_error' });
    expect(await b!.acquire('a', 1, 1)).toBeGreaterThan(0);
    await sleep(50);
    expect(events[1]!.filter((e) => e.type === 'disabled' && e.scope === 'account')).toHaveLength(1);
  });

  it('decides on the Redis server clock: a frozen pool clock changes nothing', async () => {
    const clock = new ManualClock(5_000_000);
    const { stores: [a, b] } = await workers(2, { rpm: 1 }, { clock });
    expect(await a!.acquire('a', 1, 1)).toBe(0);
    const wait = await b!.acquire('a', 1, 1);
    expect(wait).toBeGreaterThan(WINDOW);
    await sleep(wait + 5);
    expect(await b!.acquire('a', 1, 1)).toBe(0);
  });

  it('leases: renewed while held, and freed within leaseMs when their pool stops renewing (dies)', async () => {
    const clients: Redis[] = [];
    const make = async (): Promise<RedisClientLike> => {
      const c = new Redis(shared.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
      c.on('error', () => undefined);
      clients.push(c);
      await c.connect();
      return c;
    };
    try {
      const { stores: [a, b] } = await workers(2, { concurrency: 1 }, { leaseMs: 300, client: make });
      await sleep(50);
      expect(await a!.acquire('a', 1, 1)).toBe(0);
      await sleep(700);
      // Renewed every 100 ms: still held after twice its lease.
      expect(await b!.acquire('a', 1, 1)).toBeGreaterThan(0);
      // The pool "dies": no release, no renewal.
      clients[0]!.disconnect();
      const t0 = performance.now();
      let wait = await b!.acquire('a', 1, 1);
      while (wait > 0) {
        expect(wait).toBeLessThanOrEqual(300);
        await sleep(wait);
        wait = await b!.acquire('a', 1, 1);
      }
      expect(performance.now() - t0).toBeLessThan(300 + 150);
    } finally {
      for (const c of clients) c.disconnect();
    }
  });

  it('a grant whose answer was lost is not counted twice when asked again', async () => {
    const real = new Redis(shared.url, { lazyConnect: true, enableOfflineQueue: false });
    real.on('error', () => undefined);
    await real.connect();
    let dropNext = false;
    const lossy: RedisClientLike = {
      evalsha: async (...args) => {
        const r = await real.evalsha(...(args as [string, number, ...(string | number)[]]));
        if (dropNext) {
          dropNext = false;
          throw new Error('Command timed out');
        }
        return r;
      },
      eval: (...args) => real.eval(...(args as [string, number, ...(string | number)[]])),
    };
    try {
      const { stores: [s] } = await workers(1, { concurrency: 5 }, { client: async () => lossy });
      await s!.acquire('a', 7, 99).catch(() => undefined);
      dropNext = true;
      await expect(s!.acquire('a', 7, 1)).rejects.toThrow(/timed out/);
      expect(await s!.acquire('a', 7, 1)).toBe(0);
      const u = s!.usage('a');
      expect(u.inFlight).toBe(2);
      expect(u.startsInWindow).toBe(2);
      expect(u.tokensInWindow).toBe(14);
    } finally {
      real.disconnect();
    }
  });

  it('sets a TTL on every key it writes, and survives SCRIPT FLUSH (EVALSHA falls back to EVAL)', async () => {
    const { stores: [s] } = await workers(1, { tpd: 10_000 });
    const r = new Redis(shared.url);
    try {
      expect(await s!.acquire('a', 5, 1)).toBe(0);
      const keys = await r.keys(`${s!.prefix}*`);
      expect(keys.length).toBe(6);
      for (const k of keys) expect(await r.pttl(k)).toBeGreaterThan(0);
      await r.script('FLUSH');
      expect(await s!.acquire('a', 5, 2)).toBe(0);
    } finally {
      r.disconnect();
    }
  });
});

describe('RedisStore in a pool', () => {
  it('stores no API key in Redis: only account ids and key fingerprints', async () => {
    const keys = ['sk-secret-key-number-one-AAAA', 'sk-secret-key-number-two-BBBB'];
    const sim = await startKimiSimulator({ windowMs: 1000, accounts: [{ id: 'org-1', keys, tier: 'tier1' }] });
    const prefix = testPrefix('nokey');
    const pool = new KimiPool({ keys: keys.map((key) => ({ key, account: 'org-1', tier: 'tier1' as const })), baseURL: sim.url, windowMs: 1000, store: redisStore({ url: shared.url, prefix }) });
    const r = new Redis(shared.url);
    try {
      sim.revokeKey(keys[1]!);
      await Promise.all(Array.from({ length: 6 }, (_, i) => pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 5 })));
      await sleep(50);
      const dump: string[] = [];
      for (const k of await r.keys(`${prefix}*`)) {
        dump.push(k);
        const type = await r.type(k);
        if (type === 'hash') dump.push(JSON.stringify(await r.hgetall(k)));
        else if (type === 'zset') dump.push(JSON.stringify(await r.zrange(k, 0, -1)));
      }
      const text = dump.join('\n');
      expect(text).toContain('org-1');
      expect(text).toContain('401');
      for (const k of keys) {
        expect(text).not.toContain(k);
        expect(text).not.toContain(k.slice(3, 20));
      }
    } finally {
      await pool.close();
      await sim.close();
      r.disconnect();
    }
  });

  it('a 401 seen by one pool disables the key in the others, which never send on it', async () => {
    const keys = [{ key: 'sk-revoked-key-000001', account: 'org-1', tier: 'tier1' as const }, { key: 'sk-working-key-000002', account: 'org-2', tier: 'tier1' as const }];
    const sim = await startKimiSimulator({ windowMs: 1000, accounts: [{ id: 'org-1', keys: [keys[0]!.key], tier: 'tier1' }, { id: 'org-2', keys: [keys[1]!.key], tier: 'tier1' }] });
    sim.revokeKey(keys[0]!.key);
    const prefix = testPrefix('disable');
    const a = new KimiPool({ keys, baseURL: sim.url, windowMs: 1000, store: redisStore({ url: shared.url, prefix }) });
    const b = new KimiPool({ keys, baseURL: sim.url, windowMs: 1000, store: redisStore({ url: shared.url, prefix }) });
    const heard: string[] = [];
    b.on('key-disabled', (e) => heard.push(`${e.key} ${e.status ?? ''} ${e.message}`));
    const ask = (p: KimiPool, i: number) => p.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 5 });
    try {
      await Promise.all([0, 1, 2, 3].map((i) => ask(a, i)));
      const auth = sim.stats().totals.auth;
      expect(auth).toBeGreaterThan(0);
      for (let t = 0; t < 50 && heard.length === 0; t++) await sleep(10);
      expect(heard).toHaveLength(1);
      expect(heard[0]).toMatch(/401 Disabled by another pool/);
      await Promise.all([4, 5, 6, 7].map((i) => ask(b, i)));
      expect(sim.stats().totals.auth).toBe(auth);
      expect(b.stats().keys.find((k) => k.account === 'org-1')?.disabled).toBe(true);
    } finally {
      await a.close();
      await b.close();
      await sim.close();
    }
  });

  it('while Redis is down, requests wait with a store_unavailable warning; after a restart the lost state is quarantined for a window and all settle', async () => {
    const server = await RedisServer.start();
    const sim = await startKimiSimulator({ windowMs: 500, latencyMs: 20, accounts: [{ id: 'org-1', keys: ['sk-aaaaaaaaaa1'], tier: 'tier1', limits: { rpm: 4 } }] });
    const store = redisStore({ url: server.url, prefix: testPrefix('restart'), leaseMs: 600 });
    const pool = new KimiPool({ keys: [{ key: 'sk-aaaaaaaaaa1', account: 'org-1', tier: 'tier1', rpm: 4 }], baseURL: sim.url, windowMs: 500, safetyMarginMs: 50, store });
    const warnings: string[] = [];
    pool.on('warning', (w) => warnings.push(w.code));
    const ask = (i: number) => pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 5 });
    const stalls = watchStalls();
    try {
      await Promise.all([0, 1, 2, 3].map(ask));
      await server.kill();
      const t0 = performance.now();
      const during = [4, 5, 6, 7].map(ask);
      await sleep(400);
      expect(pool.stats().inFlight).toBe(0);
      expect(warnings).toContain('store_unavailable');
      await server.start();
      await Promise.all(during);
      // Nothing started during the outage, and after it the account waited a window for the lost starts.
      expect(performance.now() - t0).toBeGreaterThan(400 + 500);
      expect(warnings).toContain('store_state_lost');
      expectNoRateLimits(sim, stalls(), 50, [pool.stats()]);
      expect(sim.stats().totals.served).toBe(8);
    } finally {
      await pool.close();
      await sim.close();
      await server.kill();
    }
  });
});
