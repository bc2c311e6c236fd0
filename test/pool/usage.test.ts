/**
 * Usage and cost: the success event carries the response's model, usage, cost
 * and (streams) time to first chunk; stats() adds them up per key, account and
 * model, priced by the pool's price table; an unknown price stays unknown.
 */
import { describe, expect, it } from 'vitest';
import type { ChatCompletionChunk } from '../../src/chat.js';
import { ConfigError } from '../../src/errors.js';
import { costOf, KIMI_PRICES_USD, KimiPool, type PriceTable } from '../../src/index.js';
import type { PooledStream } from '../../src/pooled-stream.js';
import { ask, rig, settleAll, track } from '../helpers/pool.js';

const CNY: PriceTable = { currency: 'CNY', source: 'test', models: { 'kimi-k2.5': { input: 4, cachedInput: 1, output: 21 } } };

describe('usage and cost', () => {
  it('puts model, usage and cost on the success event and adds them up in stats()', async () => {
    const r = rig();
    const jobs = ['a', 'bb', 'ccc'].map((c) => track(ask(r.pool, c), r.clock));
    await settleAll(r.clock, jobs);
    const successes = r.of('success');
    expect(successes).toHaveLength(3);
    for (const s of successes) {
      expect(s.model).toBe('kimi-k2.5');
      expect(s.usage?.completion_tokens).toBe(5);
      expect(s.cost).toBeCloseTo(costOf(KIMI_PRICES_USD, 'kimi-k2.5', s.usage ?? {}) as number, 15);
      expect(s.firstChunkMs).toBeUndefined();
    }
    const prompt = successes.reduce((n, s) => n + (s.usage?.prompt_tokens ?? 0), 0);
    const stats = r.pool.stats();
    expect(stats.keys[0]).toMatchObject({ promptTokens: prompt, completionTokens: 15, cachedTokens: 0 });
    expect(stats.accounts[0]).toMatchObject({ promptTokens: prompt, completionTokens: 15, cachedTokens: 0 });
    expect(stats.usage).toMatchObject({ currency: 'USD', unpricedModels: [] });
    expect(stats.usage.models).toEqual([{ model: 'kimi-k2.5', requests: 3, promptTokens: prompt, completionTokens: 15, cachedTokens: 0, cost: expect.any(Number) }]);
    expect(stats.usage.cost).toBeCloseTo(successes.reduce((n, s) => n + (s.cost ?? 0), 0), 15);
    expect(stats.usage.byAccount).toEqual([{ ...stats.usage.models[0], account: 'org-a' }]);
    // JSON-serialisable, and a copy.
    expect(JSON.parse(JSON.stringify(stats))).toEqual(stats);
  });

  it('times a stream to its first chunk and reports an unpriced model as unknown, not free', async () => {
    const r = rig({ fake: { latencyMs: () => 100, streamChunks: 3 } });
    const s = track(r.pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, stream: true }), r.clock);
    await settleAll(r.clock, [s]);
    const done = (async () => {
      for await (const _ of s.value as PooledStream<ChatCompletionChunk>) void _;
    })();
    await r.clock.runUntil(() => r.of('success').length === 1);
    await done;
    const [success] = r.of('success');
    expect(success?.firstChunkMs).toBe(100);
    expect(success?.durationMs).toBeGreaterThan(100);
    // The fake's chunks name model "m", which no price table knows.
    expect(success?.model).toBe('m');
    expect(success?.usage?.completion_tokens).toBe(5);
    expect(success?.cost).toBeUndefined();
    const usage = r.pool.stats().usage;
    expect(usage.models[0]).toMatchObject({ model: 'm', requests: 1, completionTokens: 5, cost: null });
    expect(usage.unpricedModels).toEqual(['m']);
    expect(usage.cost).toBeNull();
  });

  it('prices with the `prices` option and names the field of a bad table', async () => {
    const r = rig({ pool: { prices: CNY } });
    const job = track(ask(r.pool, 'hello'), r.clock);
    await settleAll(r.clock, [job]);
    const usage = r.pool.stats().usage;
    expect(usage.currency).toBe('CNY');
    expect(usage.priceSource).toBe('test');
    expect(usage.models[0]?.cost).toBeCloseTo(costOf(CNY, 'kimi-k2.5', r.of('success')[0]?.usage ?? {}) as number, 15);
    const bad = { currency: 'CNY', models: { 'kimi-k2.5': { input: -1, output: 2 } } };
    expect(() => new KimiPool({ keys: 'sk-aaaaaaaaaaaa1', prices: bad as PriceTable })).toThrow(ConfigError);
    expect(() => new KimiPool({ keys: 'sk-aaaaaaaaaaaa1', prices: bad as PriceTable })).toThrow(/prices.*models\["kimi-k2.5"\]\.input.*-1/);
  });

  it('counts the usage of a schedule() task result that names no model under "unknown"', async () => {
    const r = rig();
    const job = track(r.pool.schedule(() => ({ usage: { prompt_tokens: 7, completion_tokens: 0, prompt_tokens_details: { cached_tokens: 3 } } }), { tokens: 7 }), r.clock);
    await settleAll(r.clock, [job]);
    const stats = r.pool.stats();
    expect(stats.usage.models).toEqual([{ model: 'unknown', requests: 1, promptTokens: 7, completionTokens: 0, cachedTokens: 3, cost: null }]);
    expect(stats.keys[0]?.cachedTokens).toBe(3);
  });
});
