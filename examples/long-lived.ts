/**
 * A pool that lives for days: it asks Kimi which account each key belongs to
 * (discover), takes a new key and drops an old one while it runs, and gets a
 * tier upgrade without a restart. On the simulator unless KIMI_API_KEYS is set
 * (then it only discovers and runs a few requests).
 * Run: npx tsx --conditions=source examples/long-lived.ts
 */
import { KimiPool } from 'kimi-pool';
import { startKimiSimulator } from 'kimi-pool/testing';

const real = process.env.KIMI_API_KEYS?.trim() || undefined;
// Four keys of two accounts, and a fifth kept for later: nothing says which share an account.
const KEYS = ['sk-long-lived-a-0001', 'sk-long-lived-a-0002', 'sk-long-lived-b-0001', 'sk-long-lived-b-0002'];
const SPARE = 'sk-long-lived-b-0003';
const sim = real
  ? undefined
  : await startKimiSimulator({
      windowMs: 2_000,
      latencyMs: [20, 60],
      accounts: [
        { id: 'org-a', keys: KEYS.slice(0, 2), tier: 'tier1', limits: { concurrency: 2 } },
        { id: 'org-b', keys: [...KEYS.slice(2), SPARE], tier: 'tier1', limits: { concurrency: 2 } },
      ],
    });

const pool = new KimiPool({ keys: real ?? KEYS.join(','), discover: true, ...(sim ? { baseURL: sim.url, windowMs: 2_000 } : {}) });
pool.on('discovered', (e) => console.log(`key ${e.key}: account ${e.account}, concurrency ${e.limits.concurrency}, rpm ${e.limits.rpm}${e.fallback ? ` (kept configuration: ${e.fallback})` : ''}`));
pool.on('limits-changed', (e) => e.reason === 'set' && console.log(`account ${e.account}: concurrency ${e.previous.concurrency} -> ${e.limits.concurrency}`));
pool.on('key-added', (e) => console.log(`added ${e.key} to ${e.account}`));
pool.on('key-removed', (e) => console.log(`removed ${e.key} from ${e.account}`));

const model = process.env.KIMI_MODEL ?? 'kimi-k2.5';
const ask = (content: string) => pool.chat.completions.create({ model, messages: [{ role: 'user', content }], max_tokens: 16 });
const batch = (n: number, tag: string) => Promise.allSettled(Array.from({ length: n }, (_, i) => ask(`${tag} ${i}`)));

await batch(real ? 2 : 10, 'first');
if (sim) {
  // A new key of org-b arrives and an old one of org-a is retired, while requests run.
  const running = batch(10, 'second');
  await pool.addKeys([SPARE]);
  await pool.removeKey(pool.stats().keys[0]!.id);
  await running;
  // org-b moved to a higher tier: tell the pool, no restart.
  sim.setAccount('org-b', { limits: { concurrency: 4 } });
  pool.setLimits('org-b', { concurrency: 4 });
  await batch(10, 'third');
}
const s = pool.stats();
for (const a of s.accounts) console.log(`${a.id}: ${a.keys.length} keys, ${a.succeeded} succeeded, concurrency ${a.limits.concurrency}`);
console.log(`${s.succeeded} succeeded, ${s.failed} failed`);
await pool.close();
await sim?.close();
