/**
 * One worker process of the multi-process tests: a KimiPool on the shared
 * Redis store and the shared simulator. Configured by the KP_WORKER env (JSON);
 * prints JSON lines: ready, warning, settled (one per request), done. Starts
 * its requests when it reads "go" on stdin.
 *
 * Run: node --import tsx test/redis/worker.ts
 */
import { createInterface } from 'node:readline';
import { KimiPool, type KeyConfig } from '../../src/index.js';
import { redisStore } from '../../src/redis/index.js';

export interface WorkerConfig {
  readonly name: string;
  readonly simUrl: string;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly keys: readonly KeyConfig[];
  readonly windowMs: number;
  readonly safetyMarginMs: number;
  readonly leaseMs: number;
  readonly requests: number;
  /** A key of a simulator account outside the test, for a warm-up. */
  readonly warmKey?: string;
}

const cfg = JSON.parse(process.env.KP_WORKER ?? '{}') as WorkerConfig;
const out = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

const store = redisStore({ url: cfg.redisUrl, prefix: cfg.prefix, leaseMs: cfg.leaseMs });
const pool = new KimiPool({ keys: cfg.keys, baseURL: cfg.simUrl, windowMs: cfg.windowMs, safetyMarginMs: cfg.safetyMarginMs, store, retries: 8, retryBaseMs: 50, retryMaxMs: 500 });
pool.on('warning', (w) => out({ type: 'warning', code: w.code, message: w.message }));
pool.on('ratelimited', (e) => out({ type: 'ratelimited', account: e.account, dimension: e.dimension }));

// The first requests of a process are slow (connections, JIT of the pool's and the SDK's code):
// run some through a separate pool on a warm-up account before the measured run.
if (cfg.warmKey !== undefined) {
  const warm = new KimiPool({ keys: [{ key: cfg.warmKey, account: 'warm', tier: 'tier5' }], baseURL: cfg.simUrl });
  await Promise.all(Array.from({ length: 10 }, () => warm.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 'warm up' }], max_tokens: 8 })));
  await warm.close();
}
out({ type: 'ready', worker: store.workerId, pid: process.pid });

const lines = createInterface({ input: process.stdin });
await new Promise<void>((resolve) => lines.on('line', (l) => l.trim() === 'go' && resolve()));

await Promise.all(
  Array.from({ length: cfg.requests }, async (_, i) => {
    const id = `${cfg.name}:${i}`;
    try {
      const r = await pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: id }], max_tokens: 8 });
      out({ type: 'settled', id, ok: true, reply: r.choices[0]?.message.content ?? '' });
    } catch (error) {
      out({ type: 'settled', id, ok: false, error: (error as Error).message });
    }
  }),
);
const s = pool.stats();
out({ type: 'done', bounces: s.bounces, retries: s.retries, started: s.accounts.map((a) => a.started) });
await pool.close();
lines.close();
process.exit(0);
