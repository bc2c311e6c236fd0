/**
 * Label sets are bounded by the configuration (accounts, keys, models, fixed
 * enums), never by traffic: 1,000 keys, thousands of requests.
 */
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { KimiPool } from '../../src/index.js';
import { prometheusMetrics } from '../../src/metrics/index.js';
import { parseExposition, type Sample } from '../helpers/prom-text.js';

const KEYS = 1_000;
const ACCOUNTS = 20;
const MODELS = ['kimi-k2.5', 'kimi-k2-turbo-preview', 'kimi-k2.6'];

let pool: KimiPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

function seriesByName(samples: readonly Sample[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) out.set(s.name, (out.get(s.name) ?? 0) + 1);
  return out;
}

describe('metrics cardinality', () => {
  it('stays bounded by accounts, keys and models with 1,000 keys', async () => {
    pool = new KimiPool({
      keys: Array.from({ length: KEYS }, (_, i) => ({ key: `sk-card-${String(i).padStart(6, '0')}`, account: `org-${i % ACCOUNTS}` })),
      tier: 'tier5',
      accounts: Object.fromEntries(Array.from({ length: ACCOUNTS }, (_, i) => [`org-${i}`, { rpm: Infinity, tpm: Infinity, concurrency: Infinity }])),
    });
    const registry = new Registry();
    prometheusMetrics(pool, { registry });
    // Tasks on these keys fail: a bounded set of `failed` series.
    const failing = new Set(pool.stats().keys.slice(0, 10).map((k) => k.id));
    let n = 0;
    const run = async (count: number) => {
      const jobs: Promise<unknown>[] = [];
      for (let i = 0; i < count; i++, n++) {
        const model = MODELS[n % MODELS.length] as string;
        // A task of one's own (schedule) whose result carries a model and a usage, as an API response does.
        jobs.push(pool!.schedule(({ key }) => {
          if (failing.has(key)) throw new Error('task failed');
          return { model, usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, cached_tokens: 2 } };
        }).catch(() => undefined));
      }
      await Promise.all(jobs);
      await pool!.onIdle();
      return seriesByName(parseExposition(await registry.metrics()));
    };
    const first = await run(3_000);
    const second = await run(6_000);
    // Traffic adds no series once every key and model has been seen.
    expect(second).toEqual(first);

    const keysSeen = pool.stats().keys.filter((k) => k.started > 0).length;
    expect(keysSeen).toBe(KEYS);
    const bounds: Record<string, number> = {
      kimi_pool_requests_total: KEYS + failing.size,
      kimi_pool_rate_limited_total: ACCOUNTS * 7,
      kimi_pool_retries_total: ACCOUNTS,
      kimi_pool_faults_total: ACCOUNTS * 4,
      kimi_pool_tokens_total: ACCOUNTS * MODELS.length * 3,
      kimi_pool_cost_total: ACCOUNTS * MODELS.length,
      kimi_pool_queued: 1,
      kimi_pool_in_flight: ACCOUNTS,
      kimi_pool_limit: ACCOUNTS * 4,
      kimi_pool_limit_remaining: ACCOUNTS * 3,
      kimi_pool_account_paused_seconds: ACCOUNTS,
      kimi_pool_key_usable: KEYS,
    };
    for (const [name, bound] of Object.entries(bounds)) {
      expect(first.get(name), name).toBeGreaterThan(0);
      expect(first.get(name), name).toBeLessThanOrEqual(bound);
    }
    // Histograms: buckets + sum + count, per model at most.
    const buckets = (name: string) => first.get(`${name}_bucket`) ?? 0;
    expect(buckets('kimi_pool_queue_wait_seconds')).toBeLessThanOrEqual(20);
    expect(buckets('kimi_pool_request_duration_seconds')).toBeLessThanOrEqual(20 * MODELS.length);
    // Every series name is one of those above: nothing per request.
    const known = new Set([...Object.keys(bounds), ...['queue_wait', 'request_duration', 'time_to_first_chunk'].flatMap((h) => ['bucket', 'sum', 'count'].map((p) => `kimi_pool_${h}_seconds_${p}`))]);
    expect([...first.keys()].filter((name) => !known.has(name))).toEqual([]);
  }, 60_000);
});
