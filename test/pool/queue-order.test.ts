/** One queue: higher priority first, FIFO within a priority, a bounced request keeps its place. */
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/errors.js';
import { ask, kimi429, rig, ROOMY, settleAll, track } from '../helpers/pool.js';

const ONE_AT_A_TIME = { ...ROOMY, concurrency: 1 };

describe('priorities', () => {
  it('higher priority first, FIFO within a priority', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE_AT_A_TIME }] });
    const spec: [string, number][] = [['first', 0], ['a', 0], ['b', 0], ['h1', 5], ['m1', 1], ['h2', 5], ['m2', 1], ['c', 0], ['low', -1]];
    const ts = spec.map(([name, priority]) => track(ask(r.pool, name, { priority })));
    await settleAll(r.clock, ts);
    const order = r.fake.arrivals.map((a) => a.t);
    expect(order).toEqual([...order].sort((x, y) => x - y));
    const served = r.of('start').map((s) => spec[s.requestId - 1]?.[0]);
    // 'first' started before the others were queued
    expect(served).toEqual(['first', 'h1', 'h2', 'm1', 'm2', 'a', 'b', 'c', 'low']);
    expect(r.of('queued').map((q) => q.priority)).toEqual(spec.map(([, p]) => p));
  });

  it('a bounced request regains its place ahead of younger ones', async () => {
    let hit = false;
    const r = rig({
      accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE_AT_A_TIME }],
      fake: { script: () => (hit ? undefined : ((hit = true), { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(1000, 1) })) },
    });
    const ts = ['a', 'b', 'c'].map((n) => track(ask(r.pool, n)));
    await settleAll(r.clock, ts);
    expect(r.of('start').map((s) => s.requestId)).toEqual([1, 1, 2, 3]);
  });

  it('a bounced request does not pass a higher priority that arrived meanwhile', async () => {
    let hit = false;
    const r = rig({
      accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE_AT_A_TIME }],
      fake: { script: () => (hit ? undefined : ((hit = true), { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(1000, 1), delayMs: 10 })) },
    });
    const a = track(ask(r.pool, 'a'));
    const b = track(ask(r.pool, 'b'));
    const urgent = track(ask(r.pool, 'urgent', { priority: 9 }));
    await settleAll(r.clock, [a, b, urgent]);
    expect(r.of('start').map((s) => s.requestId)).toEqual([1, 3, 1, 2]);
  });

  it('a retried request keeps its place after its backoff', async () => {
    let hit = false;
    const r = rig({
      accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE_AT_A_TIME }],
      pool: { retryBaseMs: 10 },
      fake: { script: () => (hit ? undefined : ((hit = true), { status: 500, message: 'x' })), latencyMs: () => 100 },
    });
    const ts = ['a', 'b', 'c'].map((n) => track(ask(r.pool, n)));
    await settleAll(r.clock, ts);
    // a fails at t=0, waits 7.5 ms of backoff while b runs (100 ms), then goes before c
    expect(r.of('start').map((s) => s.requestId)).toEqual([1, 2, 1, 3]);
  });

  it('rejects a priority that is not a finite number', async () => {
    const r = rig();
    await expect(ask(r.pool, 'x', { priority: Number.NaN })).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(ask(r.pool, 'x', { priority: '1' as unknown as number })).rejects.toThrow(/`priority`/);
    await expect(ask(r.pool, 'x', { timeout: 0 })).rejects.toThrow(/`timeout`/);
    await expect(r.pool.schedule(() => 1, { tokens: -1 })).rejects.toThrow(/`tokens`/);
    await expect(r.pool.schedule(null as never)).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(r.pool.chat.completions.create({ model: '', messages: [] } as never)).rejects.toThrow(/`model`/);
    await expect(r.pool.chat.completions.create({ model: 'm', messages: [] } as never)).rejects.toThrow(/`messages`/);
    await expect(r.pool.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: -5 })).rejects.toThrow(/`max_tokens`/);
    expect(r.pool.stats().submitted).toBe(0);
  });
});
