/**
 * `npm run demo`: five free-tier keys (3 RPM, 1 in flight each) and two keys of
 * one paid account pooled behind one queue. Without KIMI_API_KEYS it runs on
 * the embedded Kimi simulator with a 5-second "minute", so it ends in seconds;
 * with KIMI_API_KEYS (and optionally KIMI_TIER, KIMI_BASE_URL, KIMI_MODEL,
 * DEMO_REQUESTS) it runs the same job against the real API at the real window.
 */
import { KimiPool, TIERS, isKimiPoolError, type KeyConfig, type TierName } from 'kimi-pool';
import { idealMakespan, startKimiSimulator, type KimiSimulator } from 'kimi-pool/testing';
import { showProgress, summaryTable } from './lib/progress.js';

const realKeys = process.env.KIMI_API_KEYS?.trim();
const model = process.env.KIMI_MODEL ?? 'kimi-k2.5';

interface Setup {
  readonly pool: KimiPool;
  readonly total: number;
  readonly windowMs: number;
  readonly latencyMs: number | undefined;
  readonly accounts: { rpm: number; concurrency: number }[];
  readonly sim?: KimiSimulator;
}

async function simulated(): Promise<Setup> {
  const windowMs = 5_000;
  const latencyMs = 300;
  // Limits of the later 2026 revision for tier1: 100 RPM, 15 in flight.
  const team = { rpm: 100, concurrency: 15 };
  const free = Array.from({ length: 5 }, (_, i) => ({ id: `free-${i + 1}`, key: `sk-demo-free-${i + 1}-0000000000` }));
  const sim = await startKimiSimulator({
    windowMs,
    latencyMs,
    accounts: [
      ...free.map((f) => ({ id: f.id, keys: [f.key], tier: 'tier0' as const })),
      { id: 'team', keys: ['sk-demo-team-a-0000000000', 'sk-demo-team-b-0000000000'], tier: 'tier1', limits: team },
    ],
  });
  const keys: KeyConfig[] = [
    ...free.map((f) => ({ key: f.key, id: f.id, account: f.id, tier: 'tier0' as const })),
    { key: 'sk-demo-team-a-0000000000', id: 'team-a', account: 'team', tier: 'tier1', ...team },
    { key: 'sk-demo-team-b-0000000000', id: 'team-b', account: 'team', tier: 'tier1', ...team },
  ];
  const pool = new KimiPool({ keys, baseURL: sim.url, windowMs });
  const accounts = [...free.map(() => ({ rpm: TIERS.tier0.rpm, concurrency: TIERS.tier0.concurrency })), team];
  // Three "minutes" of the pool's full capacity.
  const total = 3 * accounts.reduce((sum, a) => sum + a.rpm, 0);
  return { pool, total, windowMs, latencyMs, accounts, sim };
}

function real(keysEnv: string): Setup {
  const tier = (process.env.KIMI_TIER ?? 'tier0') as TierName;
  const pool = new KimiPool({ keys: keysEnv, tier, ...(process.env.KIMI_BASE_URL ? { baseURL: process.env.KIMI_BASE_URL } : {}) });
  const accounts = pool.stats().accounts.map((a) => ({ rpm: a.limits.rpm ?? Infinity, concurrency: a.limits.concurrency ?? Infinity }));
  const total = Number(process.env.DEMO_REQUESTS ?? accounts.reduce((sum, a) => sum + Math.min(a.rpm, 10), 0));
  return { pool, total, windowMs: 60_000, latencyMs: undefined, accounts };
}

async function main(): Promise<void> {
  const setup = realKeys ? real(realKeys) : await simulated();
  const { pool, total, sim } = setup;
  console.log(
    sim
      ? `kimi-pool demo on the embedded Kimi simulator (${sim.url}), a "minute" of ${setup.windowMs / 1000} s\n` +
          `${pool.stats().keys.length} keys in ${setup.accounts.length} accounts, ${total} requests\n`
      : `kimi-pool demo against the real Kimi API: ${pool.stats().keys.length} keys, ${total} requests, model ${model}\n`,
  );
  pool.on('key-disabled', (e) => console.log(`  key ${e.key} disabled: ${e.status} ${e.message}`));
  pool.on('account-disabled', (e) => console.log(`  account ${e.account} disabled: ${e.message}`));

  const stop = showProgress(pool, { total, extra: () => (sim ? `, 429s from the server: ${sim.stats().totals.rateLimited}` : '') });
  const started = performance.now();
  let latencySum = 0;
  pool.on('success', (e) => (latencySum += e.durationMs));
  const results = await Promise.allSettled(
    Array.from({ length: total }, (_, i) =>
      pool.chat.completions.create({ model, messages: [{ role: 'user', content: `Say the number ${i} in words.` }], max_tokens: 32 }),
    ),
  );
  const makespan = performance.now() - started;
  stop();

  const stats = pool.stats();
  console.log(summaryTable(stats));
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  for (const f of failures.slice(0, 3)) console.log(`  failed: ${isKimiPoolError(f.reason) ? `${f.reason.code} ` : ''}${String((f.reason as Error).message)}`);
  const latency = setup.latencyMs ?? (stats.succeeded > 0 ? latencySum / stats.succeeded : 0);
  const ideal = idealMakespan(setup.accounts, total, setup.windowMs, latency);
  console.log(
    `\n  ${stats.succeeded}/${total} succeeded in ${(makespan / 1000).toFixed(2)} s: ${(total / (makespan / 1000)).toFixed(1)} req/s; ` +
      `ideal for these limits ${(total / (ideal / 1000)).toFixed(1)} req/s (${(ideal / 1000).toFixed(2)} s): efficiency ${(ideal / makespan).toFixed(3)}` +
      (sim ? `\n  the simulator answered ${sim.stats().totals.rateLimited} rate-limit 429s` : ''),
  );
  await pool.close();
  await sim?.close();
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
