/**
 * Several worker processes over the same Kimi keys, sharing each account's
 * limits through Redis: together they never exceed RPM, TPM, TPD or
 * concurrency, and a 429 seen by one pauses the account for all.
 *
 * Demo, on a local Kimi simulator with 3 workers (needs a Redis; REDIS_URL,
 * default redis://127.0.0.1:6379):
 *
 *   npx tsx --conditions=source examples/multi-worker.ts
 *
 * For real, run the worker on each machine with the same keys and Redis:
 *
 *   KIMI_API_KEYS=sk-a,sk-b REDIS_URL=redis://redis:6379 npx tsx examples/multi-worker.ts worker
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KimiPool, type KeyConfig } from 'kimi-pool';
import { redisStore } from 'kimi-pool/redis';
import { startKimiSimulator } from 'kimi-pool/testing';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function worker(): Promise<void> {
  const demo = process.env.DEMO_KEYS !== undefined ? (JSON.parse(process.env.DEMO_KEYS) as KeyConfig[]) : undefined;
  const pool = new KimiPool({
    // The same keys and accounts on every worker (give keys of one account the same `account`).
    keys: demo ?? process.env.KIMI_API_KEYS,
    tier: 'tier1',
    ...(process.env.KIMI_BASE_URL !== undefined ? { baseURL: process.env.KIMI_BASE_URL } : {}),
    ...(process.env.WINDOW_MS !== undefined ? { windowMs: Number(process.env.WINDOW_MS) } : {}),
    // Every worker with the same Redis and prefix shares the limits.
    store: redisStore({ url: REDIS_URL, prefix: 'kimi-pool:demo:' }),
  });
  pool.on('warning', (w) => console.error(`[${process.pid}] ${w.code}: ${w.message}`));
  pool.on('ratelimited', (e) => console.error(`[${process.pid}] 429 on ${e.account} (${e.dimension}): account paused for all workers`));

  const n = Number(process.env.REQUESTS ?? 20);
  const t0 = performance.now();
  const replies = await Promise.allSettled(
    Array.from({ length: n }, (_, i) =>
      pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `Say hi to worker ${process.pid}, #${i}` }], max_tokens: 32 }),
    ),
  );
  const ok = replies.filter((r) => r.status === 'fulfilled').length;
  const started = pool.stats().accounts.map((a) => `${a.id}: ${a.started}`).join(', ');
  console.log(`[${process.pid}] ${ok}/${n} ok in ${((performance.now() - t0) / 1000).toFixed(1)} s (${started})`);
  await pool.close();
}

async function demo(): Promise<void> {
  // Two accounts of 6 requests per 3 s "minute": 3 workers x 20 requests need several windows.
  const accounts = [
    { id: 'org-a', keys: ['sk-demo-key-a-0001'], tier: 'tier1' as const, limits: { rpm: 6, concurrency: 3 } },
    { id: 'org-b', keys: ['sk-demo-key-b-0001', 'sk-demo-key-b-0002'], tier: 'tier1' as const, limits: { rpm: 6, concurrency: 3 } },
  ];
  const sim = await startKimiSimulator({ windowMs: 3000, latencyMs: [100, 300], accounts });
  const keys: KeyConfig[] = accounts.flatMap((a) => a.keys.map((key) => ({ key, account: a.id, rpm: 6, concurrency: 3 })));
  console.log(`simulator at ${sim.url}, Redis at ${REDIS_URL}; 3 workers x 20 requests`);
  const env = { ...process.env, DEMO_KEYS: JSON.stringify(keys), KIMI_BASE_URL: sim.url, WINDOW_MS: '3000' };
  const self = fileURLToPath(import.meta.url);
  const exits = Array.from({ length: 3 }, () => {
    const child = fork(self, ['worker'], { env, execArgv: ['--import', 'tsx', '--conditions=source'] });
    return new Promise((resolve) => child.on('exit', resolve));
  });
  await Promise.all(exits);
  const { totals } = sim.stats();
  console.log(`simulator: ${totals.served} served, ${totals.rateLimited} rate-limited (429)`);
  await sim.close();
}

if (process.argv[2] === 'worker') await worker();
else await demo();
