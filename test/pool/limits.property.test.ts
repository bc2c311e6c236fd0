/**
 * Randomised: many pools of random accounts, keys and limits against a fake
 * Kimi that enforces the same limits strictly, with 0-50 ms of network jitter.
 * Every start is recorded server-side; no window may ever exceed a limit, no
 * 429 may come back, and the backlog must finish within 2% of the ideal.
 */
import { describe, expect, it } from 'vitest';
import { KimiPool, type KeyConfig } from '../../src/index.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { FakeKimi, promptTokens } from '../helpers/fake-kimi.js';
import { idealMakespan, type IdealAccount } from '../../src/testing/ideal.js';
import { between, seeded } from '../helpers/random.js';

const WINDOW = 60_000;

interface Case {
  accounts: { id: string; keys: string[]; limits: IdealAccount }[];
  n: number;
  maxTokens: number;
  latencyMs: number;
}

function randomCase(seed: number): Case {
  const r = seeded(seed);
  const maxTokens = between(r, 50, 2_000);
  const cost = promptTokens([{ role: 'user', content: 'request 000' }]) + maxTokens;
  const accounts = Array.from({ length: between(r, 1, 4) }, (_, i) => {
    const rpm = between(r, 1, 25);
    // Sometimes TPM binds before RPM does.
    const tpm = r() < 0.4 ? cost * between(r, 1, rpm) + between(r, 0, cost - 1) : 10_000_000;
    return {
      id: `org-${i}`,
      keys: Array.from({ length: between(r, 1, 3) }, (_, k) => `sk-test-${seed}-${i}-${k}-xxxxxxxx`),
      limits: { rpm, concurrency: between(r, 1, 6), tpm },
    };
  });
  return { accounts, n: between(r, 20, 160), maxTokens, latencyMs: between(r, 60, 400) };
}

async function run(seed: number): Promise<{ c: Case; fake: FakeKimi; makespan: number; replies: string[] }> {
  const c = randomCase(seed);
  const jitter = seeded(seed * 7919);
  const clock = new ManualClock();
  const fake = new FakeKimi(clock, {
    windowMs: WINDOW,
    accounts: c.accounts.map((a) => ({ id: a.id, keys: a.keys, limits: { ...a.limits, tpd: Infinity } })),
    latencyMs: () => c.latencyMs,
    networkMs: () => jitter() * 50,
    latencyFromSend: true,
  });
  const keys: KeyConfig[] = c.accounts.flatMap((a) => a.keys.map((key) => ({ key, account: a.id })));
  const pool = new KimiPool({
    keys,
    accounts: Object.fromEntries(c.accounts.map((a) => [a.id, { ...a.limits, tpd: Infinity }])),
    windowMs: WINDOW,
    clock,
    clientOptions: { fetch: fake.fetch },
    // The scheduler is under test here, not the estimate: reserve what the server counts.
    estimatePromptTokens: (p) => promptTokens(p.messages),
  });
  const order = seeded(seed * 31);
  const promises = Array.from({ length: c.n }, (_, i) =>
    pool.chat.completions.create(
      { model: 'kimi-k2.5', messages: [{ role: 'user', content: `request ${String(i).padStart(3, '0')}` }], max_tokens: c.maxTokens },
      { priority: between(order, 0, 2) },
    ),
  );
  let settled = 0;
  for (const p of promises) void p.then(() => settled++, () => settled++);
  await clock.runUntil(() => settled === c.n);
  const replies = (await Promise.all(promises)).map((r) => r.choices[0]?.message.content ?? '');
  const makespan = clock.now();
  await pool.close();
  return { c, fake, makespan, replies };
}

describe('limits hold under random load (property)', () => {
  const seeds = Array.from({ length: 60 }, (_, i) => i + 1);
  it.each(seeds)('seed %i: no window exceeded, no 429, every caller its own answer, within 2% of ideal', async (seed) => {
    const { c, fake, makespan, replies } = await run(seed);
    expect(replies).toEqual(Array.from({ length: c.n }, (_, i) => `echo: request ${String(i).padStart(3, '0')}`));
    expect(fake.refused).toEqual([]);
    expect(fake.violations()).toEqual([]);
    expect(fake.arrivals).toHaveLength(c.n);
    const cost = promptTokens([{ role: 'user', content: 'request 000' }]) + c.maxTokens;
    const ideal = idealMakespan(c.accounts.map((a) => a.limits), c.n, WINDOW, c.latencyMs, cost);
    expect(makespan).toBeGreaterThanOrEqual(ideal);
    expect(makespan / ideal).toBeLessThanOrEqual(1.02);
  });
});
