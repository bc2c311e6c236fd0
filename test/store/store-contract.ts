/**
 * The behaviour every LimitStore must have, run against the memory store and
 * the Redis store alike (bottleneck's idea: one suite, every datastore).
 *
 * The Redis store decides on the Redis server's clock, so these tests run in
 * real time with short windows (300 ms) and check waits within a tolerance
 * that still tells a right answer from a wrong one. Exact-time tests of the
 * memory store live in memory-store.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { NEVER, type LimitStore, type StoreAccount } from '../../src/store/limit-store.js';
import type { Limits } from '../../src/tiers.js';

export const WINDOW = 300;
export const MARGIN = 20;
const SPAN = WINDOW + MARGIN;
const OPEN: Limits = { concurrency: 100, rpm: 1000, tpm: 1_000_000, tpd: Infinity };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Makes a fresh, not yet initialised store; each call must not see the state of the previous ones. */
export type MakeStore = () => LimitStore | Promise<LimitStore>;

/** Acquires as the pool does: a granted request is sent at once (its start then counts). */
export async function acquireSent(s: LimitStore, account: string, tokens: number, lease: number): Promise<number> {
  const wait = await s.acquire(account, tokens, lease);
  if (wait === 0) await s.sent?.(account, lease, tokens);
  return wait;
}

export function describeStoreContract(name: string, makeStore: MakeStore): void {
  describe(`LimitStore contract: ${name}`, () => {
    const open: LimitStore[] = [];
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    async function storeWith(...accounts: [string, Partial<Limits>][]): Promise<LimitStore> {
      const store = await makeStore();
      open.push(store);
      const list: StoreAccount[] = accounts.map(([id, l]) => ({ id, limits: { ...OPEN, ...l } }));
      await store.init({ accounts: list, windowMs: WINDOW, safetyMarginMs: MARGIN, clock: systemClock });
      return store;
    }

    it('grants a start and records it: in flight, starts and tokens in the window', async () => {
      const s = await storeWith(['a', {}]);
      expect(await acquireSent(s, 'a', 120, 1)).toBe(0);
      const u = s.usage('a');
      expect(u.inFlight).toBe(1);
      expect(u.startsInWindow).toBe(1);
      expect(u.tokensInWindow).toBe(120);
      expect(u.pausedUntil).toBeNull();
      await s.release('a', 1);
    });

    it('answers a wait at the concurrency limit and grants again after a release', async () => {
      const s = await storeWith(['a', { concurrency: 2 }]);
      expect(await acquireSent(s, 'a', 1, 1)).toBe(0);
      expect(await acquireSent(s, 'a', 1, 2)).toBe(0);
      const wait = await acquireSent(s, 'a', 1, 3);
      expect(wait).toBeGreaterThan(0);
      expect(s.usage('a').nextFreeInMs).toBeNull();
      await s.release('a', 1);
      expect(await acquireSent(s, 'a', 1, 3)).toBe(0);
      expect(await acquireSent(s, 'a', 1, 4)).toBeGreaterThan(0);
    });

    it('answers NEVER for more tokens than the TPM or the TPD', async () => {
      const s = await storeWith(['a', { tpm: 100, tpd: 1000 }], ['b', { tpm: 10_000, tpd: 500 }]);
      expect(await acquireSent(s, 'a', 101, 1)).toBe(NEVER);
      expect(await acquireSent(s, 'b', 501, 2)).toBe(NEVER);
      expect(await acquireSent(s, 'a', 100, 3)).toBe(0);
    });

    it('RPM: the next start waits until the oldest of the last `rpm` is a window plus the margin old', async () => {
      const s = await storeWith(['a', { rpm: 2 }]);
      const t0 = performance.now();
      expect(await acquireSent(s, 'a', 1, 1)).toBe(0);
      expect(await acquireSent(s, 'a', 1, 2)).toBe(0);
      await s.release('a', 1);
      await s.release('a', 2);
      const wait = await acquireSent(s, 'a', 1, 3);
      const elapsed = performance.now() - t0;
      expect(wait).toBeGreaterThan(SPAN - elapsed - 10);
      expect(wait).toBeLessThanOrEqual(SPAN + 1);
      await sleep(wait + 5);
      expect(await acquireSent(s, 'a', 1, 3)).toBe(0);
      expect(await acquireSent(s, 'a', 1, 4)).toBe(0);
      expect(await acquireSent(s, 'a', 1, 5)).toBeGreaterThan(SPAN / 2);
    });

    it('TPM: reservations count for a window; what fits starts, what does not waits for the oldest to leave', async () => {
      const s = await storeWith(['a', { tpm: 100 }]);
      const t0 = performance.now();
      expect(await acquireSent(s, 'a', 60, 1)).toBe(0);
      const wait = await acquireSent(s, 'a', 60, 2);
      expect(wait).toBeGreaterThan(SPAN - (performance.now() - t0) - 10);
      expect(wait).toBeLessThanOrEqual(SPAN + 1);
      expect(await acquireSent(s, 'a', 40, 3)).toBe(0);
      expect(s.usage('a').tokensInWindow).toBe(100);
      await sleep(wait + 5);
      expect(await acquireSent(s, 'a', 60, 2)).toBe(0);
    });

    it('TPD: reservations count for a day of windows', async () => {
      const s = await storeWith(['a', { tpm: 1000, tpd: 100 }]);
      expect(await acquireSent(s, 'a', 60, 1)).toBe(0);
      expect(await acquireSent(s, 'a', 60, 2)).toBeGreaterThan(WINDOW * 1000);
      expect(await acquireSent(s, 'a', 40, 3)).toBe(0);
    });

    it('observe TPD: usage a 429 reported counts once the TPD limit is learned, even if recorded while unlimited', async () => {
      const s = await storeWith(['a', { tpm: 10_000 }]);
      expect(s.observe).toBeDefined();
      // A TPD 429 said "current:1050, limit:1000" for a request of 100: the limit and the usage are learned together.
      await s.setLimits('a', { ...OPEN, tpm: 10_000, tpd: 1000 });
      await s.observe?.('a', 'tpd', 1050 - 100);
      const wait = await acquireSent(s, 'a', 100, 1);
      expect(wait).toBeGreaterThan(WINDOW * 1440 - 1000);
      expect(wait).toBeLessThanOrEqual(WINDOW * 1440 + MARGIN + 1);
      // Observing the same usage again adds nothing: 50 still fit.
      await s.observe?.('a', 'tpd', 950);
      expect(await acquireSent(s, 'a', 50, 2)).toBe(0);
    });

    it('observe TPM: usage a 429 reported holds for a window, then leaves it', async () => {
      const s = await storeWith(['a', { tpm: 1000 }]);
      const t0 = performance.now();
      await s.observe?.('a', 'tpm', 950);
      expect(s.usage('a').tokensInWindow).toBe(950);
      const wait = await acquireSent(s, 'a', 100, 1);
      expect(wait).toBeGreaterThan(SPAN - (performance.now() - t0) - 10);
      expect(wait).toBeLessThanOrEqual(SPAN + 1);
      expect(await acquireSent(s, 'a', 50, 2)).toBe(0);
      await sleep(wait + 5);
      expect(await acquireSent(s, 'a', 100, 1)).toBe(0);
    });

    it('pause: nothing starts until the pause ends, and usage shows it', async () => {
      const s = await storeWith(['a', {}]);
      await s.pause('a', 200);
      const u = s.usage('a');
      expect(u.pausedUntil).not.toBeNull();
      const wait = await acquireSent(s, 'a', 1, 1);
      expect(wait).toBeGreaterThan(120);
      expect(wait).toBeLessThanOrEqual(201);
      await sleep(wait + 5);
      expect(await acquireSent(s, 'a', 1, 1)).toBe(0);
    });

    it('setLimits: the new limits apply to the next decision', async () => {
      const s = await storeWith(['a', { concurrency: 5 }]);
      expect(await acquireSent(s, 'a', 1, 1)).toBe(0);
      await s.setLimits('a', { ...OPEN, concurrency: 1 });
      expect(await acquireSent(s, 'a', 1, 2)).toBeGreaterThan(0);
      await s.setLimits('a', { ...OPEN, concurrency: 2 });
      expect(await acquireSent(s, 'a', 1, 2)).toBe(0);
    });

    it('keeps accounts apart', async () => {
      const s = await storeWith(['a', { concurrency: 1 }], ['b', { concurrency: 1 }]);
      expect(await acquireSent(s, 'a', 1, 1)).toBe(0);
      expect(await acquireSent(s, 'b', 1, 2)).toBe(0);
      expect(await acquireSent(s, 'a', 1, 3)).toBeGreaterThan(0);
      await s.pause('b', 10_000);
      await s.release('a', 1);
      expect(await acquireSent(s, 'a', 1, 3)).toBe(0);
      expect(s.usage('b').pausedUntil).not.toBeNull();
      expect(s.usage('a').pausedUntil).toBeNull();
    });

    it('a job that runs again (bounce) takes a new slot while its old one is being released', async () => {
      const s = await storeWith(['a', { concurrency: 2 }]);
      expect(await acquireSent(s, 'a', 1, 7)).toBe(0);
      expect(await acquireSent(s, 'a', 1, 7)).toBe(0);
      expect(await acquireSent(s, 'a', 1, 8)).toBeGreaterThan(0);
      await s.release('a', 7);
      expect(await acquireSent(s, 'a', 1, 8)).toBe(0);
      expect(await acquireSent(s, 'a', 1, 9)).toBeGreaterThan(0);
      await s.release('a', 7);
      expect(await acquireSent(s, 'a', 1, 9)).toBe(0);
    });
  });
}
