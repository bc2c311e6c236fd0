/**
 * Real HTTP against the simulator with faults injected mid-run: a key revoked,
 * an account suspended, overload 429s and 500s, streams cut. Nothing is lost:
 * every request settles exactly once, and events and stats say what happened.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KimiPool, StreamError, type KimiPoolEvents } from '../../src/index.js';
import { startKimiSimulator, type KimiSimulator } from '../../src/testing/index.js';
import { DEFAULT_SAFETY_MARGIN_MS } from '../../src/config.js';
import { expectNoRateLimits, watchStalls } from '../helpers/stalls.js';

let sim: KimiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const ask = (i: number) => ({ model: 'kimi-k2.5', messages: [{ role: 'user' as const, content: `job ${i}` }], max_tokens: 32 });

function record<E extends keyof KimiPoolEvents>(pool: KimiPool, name: E): Parameters<KimiPoolEvents[E]>[0][] {
  const seen: Parameters<KimiPoolEvents[E]>[0][] = [];
  pool.on(name, ((e: Parameters<KimiPoolEvents[E]>[0]) => seen.push(e)) as never);
  return seen;
}

describe('faults mid-run', () => {
  it('survives a revoked key, a suspended account, 5% overload 429s and 2% 500s with nothing lost', async () => {
    const windowMs = 1_000;
    sim = await startKimiSimulator({
      windowMs,
      latencyMs: [10, 30],
      seed: 7,
      faults: { overloadRate: 0.05, serverErrorRate: 0.02 },
      accounts: [
        { id: 'a', keys: ['sk-acct-a-key-1', 'sk-acct-a-key-2'], tier: 'tier1', limits: { rpm: 60, concurrency: 4 } },
        { id: 'b', keys: ['sk-acct-b-key-1'], tier: 'tier1', limits: { rpm: 60, concurrency: 4 } },
        { id: 'c', keys: ['sk-acct-c-key-1'], tier: 'tier1', limits: { rpm: 60, concurrency: 4 } },
      ],
    });
    const pool = new KimiPool({
      baseURL: sim.url,
      windowMs,
      retryBaseMs: 20,
      retryMaxMs: 200,
      tier: 'tier1',
      accounts: { a: { rpm: 60, concurrency: 4 }, b: { rpm: 60, concurrency: 4 }, c: { rpm: 60, concurrency: 4 } },
      keys: [
        { key: 'sk-acct-a-key-1', account: 'a', id: 'a1' },
        { key: 'sk-acct-a-key-2', account: 'a', id: 'a2' },
        { key: 'sk-acct-b-key-1', account: 'b', id: 'b1' },
        { key: 'sk-acct-c-key-1', account: 'c', id: 'c1' },
      ],
    });
    const keyDisabled = record(pool, 'key-disabled');
    const accountDisabled = record(pool, 'account-disabled');
    const retries = record(pool, 'retry');
    const failed = record(pool, 'failed');
    let successes = 0;
    pool.on('success', () => {
      successes++;
      if (successes === 20) sim?.revokeKey('sk-acct-a-key-1');
      if (successes === 40) sim?.setAccount('b', { suspended: true });
    });
    const n = 150;
    const stalls = watchStalls();
    const settled = new Array<number>(n).fill(0);
    const results = await Promise.allSettled(
      Array.from({ length: n }, (_, i) =>
        pool.chat.completions.create(ask(i)).finally(() => {
          settled[i] = (settled[i] ?? 0) + 1;
        }),
      ),
    );

    expect(settled.every((c) => c === 1)).toBe(true);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.choices[0]?.message.content : ''))).toEqual(
      Array.from({ length: n }, (_, i) => `echo: job ${i}`),
    );
    expect(failed).toEqual([]);
    expect(keyDisabled.map((e) => [e.key, e.status])).toEqual([['a1', 401]]);
    expect(accountDisabled.map((e) => [e.account, e.kimiType])).toEqual([['b', 'exceeded_current_quota_error']]);
    expect(retries.length).toBeGreaterThan(0);

    const stats = pool.stats();
    expectNoRateLimits(sim, stalls(), DEFAULT_SAFETY_MARGIN_MS, [stats]);
    const s = sim.stats();
    expect(stats.succeeded).toBe(n);
    expect(stats.failed).toBe(0);
    expect(stats.keys.find((k) => k.id === 'a1')?.disabled).toBe(true);
    expect(stats.accounts.find((a) => a.id === 'b')?.disabled).toBe(true);
    const overloads = stats.accounts.reduce((sum, a) => sum + a.tooManyRequests.overloaded, 0);
    const serverErrors = stats.accounts.reduce((sum, a) => sum + a.serverErrors, 0);
    expect(overloads + serverErrors).toBe(stats.retries);
    const simOverloads = Object.values(s.accounts).reduce((sum, a) => sum + a.faults.overloaded, 0);
    const simServerErrors = Object.values(s.accounts).reduce((sum, a) => sum + a.faults.server, 0);
    expect(overloads).toBe(simOverloads);
    expect(serverErrors).toBe(simServerErrors);
    // Work after the failures ran only where it could.
    expect(stats.keys.find((k) => k.id === 'a2')?.succeeded).toBeGreaterThan(0);
    expect(stats.keys.find((k) => k.id === 'c1')?.succeeded).toBeGreaterThan(0);
    await pool.close();
  });

  it('a stream cut after data reached the caller rejects its iteration with StreamError and frees the slot', async () => {
    sim = await startKimiSimulator({
      windowMs: 1_000,
      latencyMs: 40,
      faults: { streamCutRate: 1 },
      accounts: [{ id: 'a', keys: ['sk-stream-key-01'], tier: 'tier1', limits: { concurrency: 1 } }],
    });
    const pool = new KimiPool({ baseURL: sim.url, windowMs: 1_000, tier: 'tier1', keys: [{ key: 'sk-stream-key-01', concurrency: 1 }] });
    const stream = await pool.chat.completions.create({ ...ask(1), stream: true });
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of stream) got.push(chunk.choices[0]?.delta?.content ?? '');
      })(),
    ).rejects.toBeInstanceOf(StreamError);
    expect(got.length).toBeGreaterThan(0);
    expect(pool.stats().inFlight).toBe(0);
    // Not retried: the simulator saw exactly one request, the one it cut.
    expect(sim.stats().accounts.a?.faults.streamCut).toBe(1);
    expect(sim.stats().totals.served).toBe(0);
    // The slot is free: a plain request runs on the same single-slot account.
    sim.setFaults({});
    const r = await pool.chat.completions.create(ask(2));
    expect(r.choices[0]?.message.content).toBe('echo: job 2');
    await pool.close();
  });

  it('reads a whole stream, with usage, and releases the slot at the end', async () => {
    sim = await startKimiSimulator({ windowMs: 1_000, latencyMs: 40, accounts: [{ id: 'a', keys: ['sk-stream-key-02'], tier: 'tier1' }] });
    const pool = new KimiPool({ baseURL: sim.url, windowMs: 1_000, tier: 'tier1', keys: 'sk-stream-key-02' });
    const successes = record(pool, 'success');
    const stream = await pool.chat.completions.create({ ...ask(3), stream: true, stream_options: { include_usage: true } });
    expect(pool.stats().inFlight).toBe(1);
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe('echo: job 3');
    expect(pool.stats().inFlight).toBe(0);
    expect(successes).toHaveLength(1);
    expect(successes[0]?.usedTokens).toBeGreaterThan(0);
    await pool.close();
  });
});

describe('limits configured too high', () => {
  it('learns the real limits from the 429 messages and still finishes everything', async () => {
    const windowMs = 2_000;
    sim = await startKimiSimulator({
      windowMs,
      latencyMs: 20,
      accounts: [
        { id: 'x', keys: ['sk-free-x-00001'], tier: 'tier0' },
        { id: 'y', keys: ['sk-free-y-00001'], tier: 'tier0' },
      ],
    });
    // Told tier1 (200 RPM, 50 in flight); the accounts are really tier0 (3 RPM, 1 in flight).
    const pool = new KimiPool({ baseURL: sim.url, windowMs, tier: 'tier1', keys: ['sk-free-x-00001', 'sk-free-y-00001'] });
    const limited = record(pool, 'ratelimited');
    const n = 12;
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => pool.chat.completions.create(ask(i))));
    expect(replies.map((r) => r.choices[0]?.message.content)).toEqual(Array.from({ length: n }, (_, i) => `echo: job ${i}`));
    expect(limited.length).toBeGreaterThan(0);
    const learned = pool.stats().accounts.map((a) => a.limits);
    for (const l of learned) {
      expect(l.concurrency).toBe(1);
      expect(l.rpm).toBe(3);
    }
    // The first burst (sent at the configured 50 in flight) runs into the real
    // concurrency; once a message has told each limit, it is not hit again.
    for (const a of pool.stats().accounts) expect(a.tooManyRequests.rpm).toBeLessThanOrEqual(1);
    const sent = sim.stats();
    expect(sent.totals.served).toBe(n);
    await pool.close();
  });
});
