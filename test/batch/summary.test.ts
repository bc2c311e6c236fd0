import { describe, expect, it } from 'vitest';
import { formatSummary, type BatchSummary } from '../../src/batch/summary.js';
import { UsageTally } from '../../src/batch/usage.js';
import { KIMI_PRICES_USD } from '../../src/pricing.js';

describe('usage and cost', () => {
  it('sums tokens per model and prices them; a model without a price has cost null, never 0', () => {
    const tally = new UsageTally(KIMI_PRICES_USD);
    tally.add('kimi-k2.5', { prompt_tokens: 1_000_000, completion_tokens: 1_000_000, cached_tokens: 500_000 });
    tally.add('kimi-k2.5', null);
    tally.add('kimi-k3', { prompt_tokens: 10, completion_tokens: 5 });
    tally.add('constructor', { prompt_tokens: 1, completion_tokens: 1 });
    const [k25, ...rest] = tally.byModel();
    expect(k25).toEqual({ model: 'kimi-k2.5', requests: 2, promptTokens: 1_000_000, completionTokens: 1_000_000, cachedTokens: 500_000, cost: 0.5 * 0.6 + 0.5 * 0.1 + 3.0 });
    expect(rest.map((m) => m.cost)).toEqual([null, null]);
  });

  it('shows "no price" for an unpriced model and the totals in the text', () => {
    const tally = new UsageTally({ currency: 'CNY', models: { 'kimi-k2.5': { input: 4, output: 16 } } });
    tally.add('kimi-k2.5', { prompt_tokens: 1_000, completion_tokens: 100 });
    tally.add('kimi-k3', { prompt_tokens: 7, completion_tokens: 3 });
    const summary: BatchSummary = {
      input: 'in.jsonl', output: 'out.jsonl', errors: 'out.errors.jsonl', dryRun: false,
      plan: { requests: 3, answered: 0, failedBefore: 0, toRun: 3, models: { 'kimi-k2.5': 2, 'kimi-k3': 1 }, meanTokens: 100 },
      succeeded: 2, failed: 1, notRun: 0, interrupted: false, stoppedBy: null, retries: 4, rateLimitBounces: 1,
      tooManyRequests: { rpm: 1, tpm: 2, tpd: 0, concurrency: 0, unknown: 0, overloaded: 3, quota: 0 },
      models: tally.byModel(), currency: 'CNY', wallMs: 2_000, idealMs: 1_500, efficiency: 0.75, tornLines: 0,
    };
    const text = formatSummary(summary);
    expect(text).toContain('2 succeeded, 1 failed, 0 not run');
    expect(text).toContain('retries 4; 429s: rate limit 3 (rpm 1, tpm 2, tpd 0, concurrency 0, other 0), overloaded 3, quota 0');
    expect(text).toContain('kimi-k3: 1 answers, tokens prompt 7 (cached 0), completion 3; cost no price');
    expect(text).toContain('tokens: prompt 1,007 (cached 0), completion 103');
    expect(text).toContain('cost 0.005600 CNY + no price for kimi-k3');
    expect(text).toContain('wall time 2.0 s; ideal at these limits 1.5 s, efficiency 0.75');
    expect(text).toContain('failures: out.errors.jsonl');
  });
});
