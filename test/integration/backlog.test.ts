/**
 * Real HTTP: the pool (with the real openai SDK inside) against the local Kimi
 * simulator, which enforces the same per-account limits strictly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KimiPool } from '../../src/index.js';
import { startKimiSimulator, type KimiSimulator } from '../../src/testing/index.js';
import { DEFAULT_SAFETY_MARGIN_MS } from '../../src/config.js';
import { expectNoRateLimits, watchStalls } from '../helpers/stalls.js';

let sim: KimiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const ask = (i: number) => ({ model: 'kimi-k2.5', messages: [{ role: 'user' as const, content: `question ${i}` }], max_tokens: 64 });

describe('a backlog over accounts of different tiers', () => {
  it('finishes with zero 429s, every caller its own answer, the account\'s keys sharing its work', async () => {
    const windowMs = 5_000;
    const latencyMs = 40;
    sim = await startKimiSimulator({
      windowMs,
      latencyMs,
      accounts: [
        { id: 'free-1', keys: ['sk-free-one-0001'], tier: 'tier0' },
        { id: 'free-2', keys: ['sk-free-two-0002'], tier: 'tier0' },
        { id: 'paid', keys: ['sk-paid-key-0003', 'sk-paid-key-0004'], tier: 'tier1', limits: { rpm: 20, concurrency: 5 } },
      ],
    });
    const pool = new KimiPool({
      baseURL: sim.url,
      windowMs,
      keys: [
        { key: 'sk-free-one-0001', account: 'free-1', tier: 'tier0' },
        { key: 'sk-free-two-0002', account: 'free-2', tier: 'tier0' },
        { key: 'sk-paid-key-0003', account: 'paid', tier: 'tier1', rpm: 20, concurrency: 5 },
        { key: 'sk-paid-key-0004', account: 'paid', tier: 'tier1', rpm: 20, concurrency: 5 },
      ],
    });
    const n = 78; // three windows of 26 requests
    const stalls = watchStalls();
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => pool.chat.completions.create(ask(i))));

    expect(replies.map((r) => r.choices[0]?.message.content)).toEqual(Array.from({ length: n }, (_, i) => `echo: question ${i}`));
    const s = sim.stats();
    expectNoRateLimits(sim, stalls(), DEFAULT_SAFETY_MARGIN_MS, [pool.stats()]);
    expect(s.totals.served).toBe(n);
    // Efficiency against the ideal makespan is a speed figure: bench/ measures it, cold (npm run bench).
    // The account's two keys shared its work evenly.
    const paid = pool.stats().keys.filter((k) => k.account === 'paid').map((k) => k.succeeded);
    expect(Math.abs((paid[0] ?? 0) - (paid[1] ?? 0))).toBeLessThanOrEqual(1);
    await pool.close();
  });
});
