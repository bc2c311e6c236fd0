/** schedule(): any call on a pooled key; the task's own errors pass through unchanged. */
import { describe, expect, it } from 'vitest';
import { BadRequestError, KimiPoolError } from '../../src/errors.js';
import { fingerprint } from '../../src/fingerprint.js';
import type { TaskContext } from '../../src/index.js';
import { promptTokens } from '../helpers/fake-kimi.js';
import { rig, ROOMY, settleAll, track } from '../helpers/pool.js';

const KEY = 'sk-aaaaaaaaaaaa1';

class MyError extends Error {
  readonly extra = 42;
}

describe('schedule()', () => {
  it('gives the task the key client, the key id (never the key), account, signal and attempt', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: [KEY], limits: ROOMY }] });
    let seen: TaskContext | undefined;
    const t = track(
      r.pool.schedule(
        async (ctx) => {
          seen = ctx;
          const res = await ctx.client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }, { signal: ctx.signal });
          return res.choices[0]?.message.content;
        },
        { tokens: 500 },
      ),
    );
    await settleAll(r.clock, [t]);
    expect(t.value).toBe('echo: hi');
    expect(seen).toMatchObject({ key: fingerprint(KEY), account: 'org-a', attempt: 1 });
    expect(seen?.key).not.toContain(KEY);
    expect(seen?.signal).toBeInstanceOf(AbortSignal);
    expect(r.of('start')[0]?.tokens).toBe(500);
    expect(r.pool.stats().accounts[0]?.reservedTokens).toBe(500);
  });

  it.each([
    ['an Error', () => new Error('my bug')],
    ['a custom error class', () => new MyError('mine')],
    ['a TypeError', () => new TypeError('x is not a function')],
    ['a RangeError', () => new RangeError('out of range')],
  ])('passes %s through unchanged, without retry', async (_, make) => {
    const r = rig({ pool: { retries: 3 } });
    const error = make();
    let runs = 0;
    const t = track(
      r.pool.schedule(async () => {
        runs++;
        throw error;
      }),
    );
    await settleAll(r.clock, [t]);
    expect(t.error).toBe(error);
    expect(Object.keys(error)).toEqual(error instanceof MyError ? ['extra'] : []);
    expect(runs).toBe(1);
    expect(r.of('retry')).toEqual([]);
    expect(r.of('failed')[0]?.error).toBe(error);
    expect(r.pool.stats()).toMatchObject({ failed: 1, inFlight: 0 });
  });

  it('passes a synchronous throw through too', async () => {
    const r = rig();
    const error = new MyError('sync');
    await expect(
      r.pool.schedule(() => {
        throw error;
      }),
    ).rejects.toBe(error);
    expect(r.pool.stats().inFlight).toBe(0);
  });

  it('wraps a thrown non-Error in a KimiPoolError', async () => {
    const r = rig();
    const t = track(r.pool.schedule(() => Promise.reject('just a string')));
    await settleAll(r.clock, [t]);
    expect(t.error).toBeInstanceOf(KimiPoolError);
    expect((t.error as Error).message).toContain('just a string');
  });

  it('reacts to API errors from the task like chat does', async () => {
    let calls = 0;
    const r = rig({
      pool: { retryBaseMs: 10 },
      fake: { script: () => (calls++ === 0 ? { status: 500, message: 'x' } : { status: 400, type: 'invalid_request_error', message: 'bad' }) },
    });
    const attempts: number[] = [];
    const t = track(
      r.pool.schedule(async ({ client, attempt }) => {
        attempts.push(attempt);
        return client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 });
      }),
    );
    await settleAll(r.clock, [t]);
    expect(attempts).toEqual([1, 2]);
    expect(t.error).toBeInstanceOf(BadRequestError);
  });

  it('returns plain values and resolves them', async () => {
    const r = rig();
    await expect(r.pool.schedule(() => 7)).resolves.toBe(7);
    await expect(r.pool.schedule(async () => ({ a: 1 }))).resolves.toEqual({ a: 1 });
  });

  it("passes a task's own SyntaxError through unchanged, without retrying it", async () => {
    const r = rig({ pool: { retries: 1, retryBaseMs: 10 } });
    let runs = 0;
    const t = track(
      r.pool.schedule(() => {
        runs++;
        return JSON.parse('{oops') as unknown;
      }),
    );
    await settleAll(r.clock, [t]);
    expect(runs).toBe(1);
    expect(t.error).toBeInstanceOf(SyntaxError);
  });
});

describe('the no_max_tokens warning', () => {
  it('is emitted once, and the default completion budget is reserved', async () => {
    const r = rig({ pool: { defaultMaxTokens: 1000 } });
    const messages = [{ role: 'user' as const, content: 'hi' }];
    const ts = [1, 2, 3].map(() => track(r.pool.chat.completions.create({ model: 'm', messages })));
    ts.push(track(r.pool.chat.completions.create({ model: 'm', messages, max_tokens: 5 })));
    await settleAll(r.clock, ts);
    const warnings = r.of('warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'no_max_tokens', message: expect.stringContaining('1000 tokens') });
    expect(r.of('start').map((s) => s.tokens)).toEqual([1000, 1000, 1000, 5].map((n) => n + promptTokens(messages)));
  });
});
