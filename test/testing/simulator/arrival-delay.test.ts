/** The simulator's network: a delay before a request counts, longer for a new connection's first. */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { startKimiSimulator } from '../../../src/testing/index.js';

const ask = { model: 'kimi-k2.5', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 8 };

describe('simulator arrival delays', () => {
  it('counts a request arrivalDelayMs after reading it, plus newConnectionDelayMs for the first on a connection', async () => {
    const sim = await startKimiSimulator({
      accounts: [{ id: 'org-a', keys: ['sk-arrival-0001'], tier: 'tier5' }],
      arrivalDelayMs: 100,
      newConnectionDelayMs: 200,
      recordArrivals: true,
    });
    try {
      const client = new OpenAI({ apiKey: 'sk-arrival-0001', baseURL: sim.url, maxRetries: 0 });
      const t0 = performance.now();
      await client.chat.completions.create(ask);
      const first = performance.now() - t0;
      const t1 = performance.now();
      await client.chat.completions.create(ask);
      const second = performance.now() - t1;
      // Lower bounds only: a busy machine makes both longer, never shorter.
      expect(first).toBeGreaterThanOrEqual(300);
      expect(second).toBeGreaterThanOrEqual(100);
      const log = sim.stats().log ?? [];
      expect(log.map((l) => l.kind)).toEqual(['served', 'served']);
      // Counted times are the read time plus the delay: at least 300 ms after the start, then 100 ms after the second was read.
      expect(log[0]?.t).toBeGreaterThanOrEqual(300);
    } finally {
      await sim.close();
    }
  });

  it.each([
    [{ arrivalDelayMs: -1 }, 'arrivalDelayMs'],
    [{ arrivalDelayMs: [50, 10] }, 'arrivalDelayMs[1]'],
    [{ newConnectionDelayMs: 'x' }, 'newConnectionDelayMs'],
  ])('rejects %j naming the field', async (bad, field) => {
    await expect(startKimiSimulator({ accounts: [{ id: 'a', keys: ['sk-x-0001'] }], ...(bad as object) })).rejects.toThrow(field);
  });
});
