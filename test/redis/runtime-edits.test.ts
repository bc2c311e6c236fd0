/**
 * Three pools on one Redis store and one simulator (real HTTP, the real
 * openai SDK): discovery groups 6 plain keys into their 3 accounts in every
 * pool alike, a key added in one pool and one removed in another lose
 * nothing, a tier upgrade set in one pool reaches the others, and an account
 * suspended for its balance comes back in all of them once topped up.
 * Asserts counts and states, never speed.
 */
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/fingerprint.js';
import { KimiPool, type AccountRestoredEvent } from '../../src/index.js';
import { redisStore } from '../../src/redis/index.js';
import { startKimiSimulator, type KimiSimulator } from '../../src/testing/index.js';
import { testPrefix, useTestRedis } from '../helpers/redis-server.js';

const shared = useTestRedis();

const key = (org: string, n: number) => `sk-${org}-redis-key-000${n}`;
const ORGS = ['a', 'b', 'c'];

async function until(test: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('runtime edits on a shared Redis store, 3 pools', () => {
  it('discovery, add/remove keys, a tier upgrade and a top-up, shared by every pool', async () => {
    const windowMs = 1000;
    const sim: KimiSimulator = await startKimiSimulator({
      windowMs,
      latencyMs: 60,
      accounts: ORGS.map((o) => ({ id: `org-${o}`, keys: [key(o, 1), key(o, 2), key(o, 3)], tier: 'tier1' as const, limits: { concurrency: 2, rpm: 10_000 } })),
    });
    const prefix = testPrefix('edits');
    const plain = ORGS.flatMap((o) => [key(o, 1), key(o, 2)]).join(',');
    const pools = [0, 1, 2].map(() => new KimiPool({ keys: plain, discover: true, baseURL: sim.url, windowMs, store: redisStore({ url: shared.url, prefix, leaseMs: 3000 }), retries: 8, retryBaseMs: 50, retryMaxMs: 500 }));
    const restored: AccountRestoredEvent[] = [];
    for (const p of pools) p.on('account-restored', (e) => restored.push(e));
    let n = 0;
    const batch = (count: number) =>
      Promise.all(
        pools.flatMap((p) =>
          Array.from({ length: count }, () => p.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `q${n++}` }], max_tokens: 8 }).then(() => true, (e: Error) => e.message)),
        ),
      );
    try {
      // 1. Grouped alike in every pool, zero 429s.
      expect((await batch(20)).every((r) => r === true)).toBe(true);
      for (const p of pools) {
        expect(p.stats().accounts.map((a) => [a.id, a.keys.length, a.limits.concurrency])).toEqual(ORGS.map((o) => [`org-${o}`, 2, 2]));
      }
      expect(sim.stats().totals.rateLimited).toBe(0);

      // 2. Pool 1 adds a third key of org-a while pool 0 removes org-a's first: nothing lost.
      const running = batch(20);
      const [added] = await Promise.all([pools[1]!.addKeys([key('a', 3)]), pools[0]!.removeKey(fingerprint(key('a', 1)))]);
      expect(added).toEqual([fingerprint(key('a', 3))]);
      expect((await running).every((r) => r === true)).toBe(true);
      expect(pools[1]!.stats().accounts.find((a) => a.id === 'org-a')?.keys).toContain(fingerprint(key('a', 3)));
      // The removal reaches the other pools through the store.
      await until(() => pools.slice(1).every((p) => p.stats().keys.find((k) => k.id === fingerprint(key('a', 1)))?.disabled === true), 'the removal to reach pools 1 and 2');
      expect(sim.stats().totals.rateLimited).toBe(0);

      // 3. A tier upgrade of org-b set in pool 2 reaches pools 0 and 1; more run at once there.
      expect(sim.stats().accounts['org-b']?.maxInFlight).toBe(2);
      sim.setAccount('org-b', { limits: { concurrency: 4 } });
      pools[2]!.setLimits('org-b', { concurrency: 4 });
      // The other pools learn the limits in force from their next calls to the store.
      expect((await batch(30)).every((r) => r === true)).toBe(true);
      for (const p of pools) expect(p.stats().accounts.find((a) => a.id === 'org-b')?.limits.concurrency).toBe(4);
      expect(sim.stats().accounts['org-b']?.maxInFlight).toBeGreaterThan(2);
      expect(sim.stats().accounts['org-b']?.maxInFlight).toBeLessThanOrEqual(4);
      expect(sim.stats().totals.rateLimited).toBe(0);

      // 4. org-c runs out of balance: out in every pool; topped up, it comes back in every pool.
      sim.setAccount('org-c', { balance: 0 });
      expect((await batch(10)).every((r) => r === true)).toBe(true);
      await until(() => pools.every((p) => p.stats().accounts.find((a) => a.id === 'org-c')?.disabled === true), 'org-c disabled in every pool');
      const servedBefore = sim.stats().accounts['org-c']?.served ?? 0;
      sim.setAccount('org-c', { balance: 50 });
      // Work keeps coming until a pool's trial request on org-c succeeded.
      let polls = 0;
      const trickle: Promise<unknown>[] = [];
      await until(() => {
        if (restored.length === 0 && polls++ % 10 === 0) trickle.push(batch(1));
        return restored.length > 0;
      }, 'org-c restored');
      expect((await Promise.all(trickle)).flat().every((r) => r === true)).toBe(true);
      expect(restored[0]?.account).toBe('org-c');
      await until(() => pools.every((p) => p.stats().accounts.find((a) => a.id === 'org-c')?.disabled === false), 'org-c back in every pool');
      expect((await batch(20)).every((r) => r === true)).toBe(true);
      expect(sim.stats().accounts['org-c']?.served ?? 0).toBeGreaterThan(servedBefore);
      expect(sim.stats().totals.rateLimited).toBe(0);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
      await sim.close();
    }
  }, 90_000);
});
