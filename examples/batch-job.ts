/**
 * A batch job: many prompts, some urgent, each with a deadline; failures are
 * reported, never lost. Run: npx tsx --conditions=source examples/batch-job.ts
 */
import { KimiPool, isKimiPoolError } from 'kimi-pool';
import { target } from './lib/target.js';

const t = await target();
const pool = new KimiPool({ ...t.options });
pool.on('ratelimited', (e) => console.log(`account ${e.account} paused ${e.pausedMs} ms: ${e.message}`));
pool.on('retry', (e) => console.log(`request ${e.requestId} retries in ${e.delayMs} ms after ${e.error.code}`));

const prompts = Array.from({ length: 12 }, (_, i) => `Summarise document ${i} in one line.`);
const results = await Promise.allSettled(
  prompts.map((content, i) =>
    pool.chat.completions.create(
      { model: t.model, messages: [{ role: 'user', content }], max_tokens: 128 },
      { priority: i % 4 === 0 ? 1 : 0, timeout: 5 * 60_000 },
    ),
  ),
);
results.forEach((r, i) => {
  if (r.status === 'fulfilled') console.log(`${i}: ${r.value.choices[0]?.message.content ?? ''}`);
  else console.log(`${i}: failed: ${isKimiPoolError(r.reason) ? r.reason.code : ''} ${(r.reason as Error).message}`);
});
const s = pool.stats();
console.log(`${s.succeeded} succeeded, ${s.failed} failed, ${s.retries} retries, ${s.bounces} rate-limit bounces`);
await pool.close();
await t.close();
