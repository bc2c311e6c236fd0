/**
 * One run on the simulator that meets every kind of 429 Kimi sends, with
 * plain and streamed requests, a priced and an unpriced model and a repeated
 * prompt prefix (cached tokens): the pool believes limits higher than the
 * simulator enforces, so the simulator refuses some requests.
 */
import { KimiPool } from '../../src/index.js';
import { startKimiSimulator, type KimiSimulator } from '../../src/testing/index.js';

export const WINDOW_MS = 1_000;
export const PRICED = 'kimi-k2.5';
/** In the simulator's model list, not in KIMI_PRICES_USD. */
export const UNPRICED = 'kimi-k2.6';
const SYSTEM = { role: 'system' as const, content: 'You are a terse assistant. Answer in as few words as you can, please.' };

export interface Workload {
  readonly sim: KimiSimulator;
  readonly pool: KimiPool;
  /** Runs the requests and waits for all of them; returns how many were streams. */
  run(n: number): Promise<{ streams: number; settled: PromiseSettledResult<unknown>[] }>;
  close(): Promise<void>;
}

export async function startWorkload(): Promise<Workload> {
  const sim = await startKimiSimulator({
    accounts: [
      { id: 'org-rpm', keys: ['sk-rpm-key-0001', 'sk-rpm-key-0002'], tier: 'tier1', limits: { rpm: 4 } },
      { id: 'org-conc', keys: ['sk-conc-key-0001'], tier: 'tier1', limits: { concurrency: 1 } },
      { id: 'org-gone', keys: ['sk-gone-key-0001'], tier: 'tier1', suspended: true },
    ],
    windowMs: WINDOW_MS,
    latencyMs: 30,
    faults: { overloadRate: 0.15 },
    promptCache: true,
    seed: 7,
  });
  const pool = new KimiPool({
    // The pool is told more than the simulator allows: 429s of each kind follow.
    keys: [
      { key: 'sk-rpm-key-0001', id: 'rpm-1', account: 'org-rpm' },
      { key: 'sk-rpm-key-0002', id: 'rpm-2', account: 'org-rpm' },
      { key: 'sk-conc-key-0001', id: 'conc-1', account: 'org-conc' },
      { key: 'sk-gone-key-0001', id: 'gone-1', account: 'org-gone' },
    ],
    tier: 'tier1',
    accounts: { 'org-rpm': { rpm: 50 }, 'org-conc': { concurrency: 4 } },
    baseURL: sim.url,
    windowMs: WINDOW_MS,
    retries: 10,
    retryBaseMs: 5,
    retryMaxMs: 50,
    maxRateLimitBounces: 50,
  });
  return {
    sim,
    pool,
    async run(n) {
      const jobs: Promise<unknown>[] = [];
      let streams = 0;
      for (let i = 0; i < n; i++) {
        const model = i % 3 === 0 ? UNPRICED : PRICED;
        const messages = [SYSTEM, { role: 'user' as const, content: `question ${i}` }];
        if (i % 4 === 0) {
          streams++;
          jobs.push(pool.chat.completions.create({ model, messages, max_tokens: 50, stream: true }).then(async (s) => {
            for await (const _ of s) void _;
          }));
        } else {
          jobs.push(pool.chat.completions.create({ model, messages, max_tokens: 50 }));
        }
      }
      const settled = await Promise.allSettled(jobs);
      await pool.onIdle();
      return { streams, settled };
    },
    async close() {
      await pool.close();
      await sim.close();
    },
  };
}
