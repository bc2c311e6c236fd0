/**
 * One pool in a process of its own, as a batch job starts: cold, its first
 * requests paying for the SDK's and the pool's first run and new connections.
 * A KimiPool on the simulator, on the memory store or a shared Redis store.
 * Configured by the KP_WORKER env (JSON); prints JSON lines: ready, warning,
 * ratelimited, margin, settled (one per request), done. Starts its requests
 * when it reads "go" on stdin.
 *
 * Run: node --import tsx test/helpers/pool-worker.ts
 */
import { createInterface } from 'node:readline';
import { KimiPool, type KeyConfig } from '../../src/index.js';
import { redisStore } from '../../src/redis/index.js';
import { stallEventLoop, type StallOptions } from '../../src/testing/index.js';

export interface WorkerConfig {
  readonly name: string;
  readonly simUrl: string;
  /** The shared Redis store; without it, the memory store. */
  readonly redisUrl?: string;
  readonly prefix?: string;
  readonly leaseMs?: number;
  readonly keys: readonly KeyConfig[];
  readonly windowMs: number;
  /** Omitted: the pool's default. */
  readonly safetyMarginMs?: number;
  readonly requests: number;
  /** Stalls this process's event loop while it runs. */
  readonly stall?: StallOptions;
}

const cfg = JSON.parse(process.env.KP_WORKER ?? '{}') as WorkerConfig;
const out = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

const store = cfg.redisUrl === undefined ? undefined : redisStore({ url: cfg.redisUrl, prefix: cfg.prefix, leaseMs: cfg.leaseMs });
const pool = new KimiPool({ keys: cfg.keys, baseURL: cfg.simUrl, windowMs: cfg.windowMs, safetyMarginMs: cfg.safetyMarginMs, store, retries: 8, retryBaseMs: 50, retryMaxMs: 500 });
pool.on('warning', (w) => out({ type: 'warning', code: w.code, message: w.message }));
pool.on('ratelimited', (e) => out({ type: 'ratelimited', account: e.account, dimension: e.dimension, at: Date.now() }));
pool.on('margin', (e) => out({ type: 'margin', account: e.account, marginMs: e.marginMs, reason: e.reason, at: Date.now() }));

out({ type: 'ready', worker: store?.workerId, pid: process.pid });

const lines = createInterface({ input: process.stdin });
await new Promise<void>((resolve) => lines.on('line', (l) => l.trim() === 'go' && resolve()));
const stopStalls = cfg.stall === undefined ? undefined : stallEventLoop(cfg.stall);

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
stopStalls?.();
const s = pool.stats();
out({
  type: 'done', bounces: s.bounces, retries: s.retries, started: s.accounts.map((a) => a.started),
  accounts: s.accounts.map((a) => ({ id: a.id, safetyMarginMs: a.safetyMarginMs, unpredicted429s: a.unpredicted429s, rateLimited: a.tooManyRequests })),
});
await pool.close();
lines.close();
process.exit(0);
