/**
 * prometheusMetrics on a real run: the scraped registry agrees with
 * `pool.stats()` and with the simulator's own counts (429s by kind, tokens).
 */
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { costOf, KIMI_PRICES_USD, KimiPool } from '../../src/index.js';
import { prometheusMetrics } from '../../src/metrics/index.js';
import { parseExposition, sum } from '../helpers/prom-text.js';
import { PRICED, startWorkload, UNPRICED, type Workload } from './workload.js';

let w: Workload | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

describe('prometheusMetrics', () => {
  it('reports what stats() and the simulator counted', async () => {
    w = await startWorkload();
    const registry = new Registry();
    prometheusMetrics(w.pool, { registry });
    const { streams, settled } = await w.run(40);
    const scraped = parseExposition(await registry.metrics());
    const stats = w.pool.stats();
    const sim = w.sim.stats();

    // Requests, once each.
    expect(sum(scraped, 'kimi_pool_requests_total')).toBe(settled.length);
    expect(sum(scraped, 'kimi_pool_requests_total', { outcome: 'succeeded' })).toBe(stats.succeeded);
    expect(sum(scraped, 'kimi_pool_requests_total', { outcome: 'failed' })).toBe(stats.failed);
    expect(stats.succeeded).toBe(settled.filter((s) => s.status === 'fulfilled').length);
    for (const k of stats.keys) expect(sum(scraped, 'kimi_pool_requests_total', { key: k.id, outcome: 'succeeded' })).toBe(k.succeeded);

    // 429s by kind: the simulator's refusals and injected overloads.
    let total429 = 0;
    for (const a of stats.accounts) {
      const s = sim.accounts[a.id];
      if (s === undefined) throw new Error(`no simulator account ${a.id}`);
      const got = (dimension: string) => sum(scraped, 'kimi_pool_rate_limited_total', { account: a.id, dimension });
      expect(got('rpm')).toBe(s.refused.rpm);
      expect(got('tpm')).toBe(s.refused.tpm);
      expect(got('concurrency')).toBe(s.refused.concurrency);
      expect(got('overloaded')).toBe(s.faults.overloaded);
      expect(got('quota')).toBe(s.refused.quota);
      for (const d of ['rpm', 'tpm', 'tpd', 'concurrency', 'overloaded', 'quota'] as const) expect(got(d)).toBe(a.tooManyRequests[d]);
      expect(sum(scraped, 'kimi_pool_retries_total', { account: a.id })).toBe(a.retries);
      total429 += s.refused.rpm + s.refused.concurrency + s.faults.overloaded + s.refused.quota;
    }
    // The run met each kind, so the equalities above compared something.
    expect(sim.accounts['org-rpm']?.refused.rpm).toBeGreaterThan(0);
    expect(sim.accounts['org-gone']?.refused.quota).toBeGreaterThan(0);
    expect(sum(scraped, 'kimi_pool_rate_limited_total')).toBe(total429);

    // Tokens: the simulator's usage, per account and type; per model as in stats().
    for (const [id, s] of Object.entries(sim.accounts)) {
      expect(sum(scraped, 'kimi_pool_tokens_total', { account: id, type: 'prompt' })).toBe(s.promptTokens);
      expect(sum(scraped, 'kimi_pool_tokens_total', { account: id, type: 'completion' })).toBe(s.completionTokens);
      expect(sum(scraped, 'kimi_pool_tokens_total', { account: id, type: 'cached' })).toBe(s.cachedTokens);
      const a = stats.accounts.find((x) => x.id === id);
      expect([a?.promptTokens, a?.completionTokens, a?.cachedTokens]).toEqual([s.promptTokens, s.completionTokens, s.cachedTokens]);
    }
    expect(sum(scraped, 'kimi_pool_tokens_total', { type: 'cached' })).toBeGreaterThan(0);
    for (const m of stats.usage.models) {
      expect(sum(scraped, 'kimi_pool_tokens_total', { model: m.model, type: 'prompt' })).toBe(m.promptTokens);
    }

    // Cost: priced model only, in the table's currency; the unpriced one has no series.
    const priced = stats.usage.models.find((m) => m.model === PRICED);
    const expected = costOf(KIMI_PRICES_USD, PRICED, { prompt_tokens: priced?.promptTokens, completion_tokens: priced?.completionTokens, cached_tokens: priced?.cachedTokens });
    expect(sum(scraped, 'kimi_pool_cost_total', { model: PRICED, currency: 'USD' })).toBeCloseTo(expected as number, 12);
    expect(scraped.some((s) => s.name === 'kimi_pool_cost_total' && s.labels.model === UNPRICED)).toBe(false);
    expect(stats.usage.unpricedModels).toEqual([UNPRICED]);
    expect(stats.usage.cost).toBeNull();

    // Histograms: one duration per success, one first chunk per stream, one wait per attempt.
    expect(sum(scraped, 'kimi_pool_request_duration_seconds_count')).toBe(stats.succeeded);
    const streamed = settled.filter((s, i) => i % 4 === 0 && s.status === 'fulfilled').length;
    expect(streamed).toBeLessThanOrEqual(streams);
    expect(sum(scraped, 'kimi_pool_time_to_first_chunk_seconds_count')).toBe(streamed);
    expect(sum(scraped, 'kimi_pool_queue_wait_seconds_count')).toBe(stats.keys.reduce((n, k) => n + k.started, 0));

    // Gauges, idle pool: nothing queued or in flight; the suspended account can start nothing.
    expect(sum(scraped, 'kimi_pool_queued')).toBe(0);
    expect(sum(scraped, 'kimi_pool_in_flight')).toBe(0);
    expect(sum(scraped, 'kimi_pool_limit_remaining', { account: 'org-gone', limit: 'rpm' })).toBe(0);
    expect(sum(scraped, 'kimi_pool_limit_remaining', { account: 'org-conc', limit: 'concurrency' })).toBe(stats.accounts.find((a) => a.id === 'org-conc')?.limits.concurrency);
    expect(sum(scraped, 'kimi_pool_key_usable', { key: 'gone-1' })).toBe(0);

    // No key anywhere in the exposition.
    const text = await registry.metrics();
    expect(text).not.toMatch(/sk-[a-z]+-key/);
  }, 60_000);
});

describe('prometheusMetrics close()', () => {
  it('stops listening and takes its series out of the registry', async () => {
    const pool = new KimiPool({ keys: 'sk-close-test-0001', tier: 'tier5' });
    const registry = new Registry();
    const before = pool.listenerCount('success');
    const metrics = prometheusMetrics(pool, { registry, prefix: 'app_' });
    expect(pool.listenerCount('success')).toBe(before + 1);
    await pool.schedule(() => ({ model: PRICED, usage: { prompt_tokens: 3, completion_tokens: 1 } }));
    expect(sum(parseExposition(await registry.metrics()), 'app_requests_total')).toBe(1);
    metrics.close();
    expect(pool.listenerCount('success')).toBe(before);
    expect(registry.getMetricsAsArray()).toEqual([]);
    // A second exporter can register the same names again.
    prometheusMetrics(pool, { registry, prefix: 'app_' }).close();
    await pool.close();
  });
});
