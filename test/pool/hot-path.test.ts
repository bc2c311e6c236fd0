/**
 * The hot-path shortcuts of the engine keep the behaviour they replace: one
 * promise per request whatever its attempts (a retry is a move to `delayed`,
 * see lifecycle.ts), and a task's `ctx.signal` is made only when read.
 */
import { describe, expect, it } from 'vitest';
import { RequestAbortedError, ServerError } from '../../src/errors.js';
import type { TaskContext } from '../../src/index.js';
import { rig, settleAll, track } from '../helpers/pool.js';

const call = (ctx: TaskContext) => ctx.client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 }, { signal: ctx.signal });

describe('ctx.signal, made on first read', () => {
  it('is already aborted, with the pool error as reason, when first read after the abort', async () => {
    const r = rig();
    const ac = new AbortController();
    let ctx: TaskContext | undefined;
    const t = track(r.pool.schedule((c) => ((ctx = c), new Promise<never>(() => {})), { signal: ac.signal }));
    await r.clock.runUntil(() => ctx !== undefined);
    ac.abort('stop');
    await settleAll(r.clock, [t]);
    expect(t.error).toBeInstanceOf(RequestAbortedError);
    const signal = (ctx as TaskContext).signal;
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(t.error);
    // The task ignores its signal and never settles: its slot stays taken, as for any such task.
    expect(r.pool.stats()).toMatchObject({ inFlight: 1, failed: 1 });
  });

  it('is one signal per attempt, aborted once when read before the abort', async () => {
    const r = rig();
    const ac = new AbortController();
    const seen: AbortSignal[] = [];
    let aborts = 0;
    const t = track(
      r.pool.schedule(
        (c) => {
          seen.push(c.signal, c.signal);
          c.signal.addEventListener('abort', () => aborts++);
          return new Promise<never>(() => {});
        },
        { signal: ac.signal },
      ),
    );
    await r.clock.runUntil(() => seen.length > 0);
    expect(seen[0]).toBe(seen[1]);
    expect(seen[0]?.aborted).toBe(false);
    ac.abort('stop');
    await settleAll(r.clock, [t]);
    expect(aborts).toBe(1);
    expect(seen[0]?.reason).toBe(t.error);
  });
});

describe('attempts after the first (retry: running → delayed → queued)', () => {
  it('runs 1 + retries attempts, then rejects with the last fault', async () => {
    const r = rig({ pool: { retries: 2, retryBaseMs: 10 }, fake: { script: () => ({ status: 500, message: 'boom' }) } });
    const attempts: number[] = [];
    const t = track(r.pool.schedule((c) => (attempts.push(c.attempt), call(c))));
    await settleAll(r.clock, [t]);
    expect(attempts).toEqual([1, 2, 3]);
    expect(t.error).toBeInstanceOf(ServerError);
    expect(r.of('retry').map((e) => e.attempt)).toEqual([2, 3]);
    expect(r.pool.stats()).toMatchObject({ failed: 1, succeeded: 0, retries: 2, inFlight: 0, queued: 0 });
  });

  it('resolves with the value of a later attempt', async () => {
    let calls = 0;
    const r = rig({ pool: { retryBaseMs: 10 }, fake: { script: () => (calls++ < 2 ? { status: 503, message: 'busy' } : undefined) } });
    const t = track(r.pool.schedule(async (c) => (await call(c)).choices[0]?.message.content));
    await settleAll(r.clock, [t]);
    expect(t.value).toBe('echo: x');
    expect(r.pool.stats()).toMatchObject({ succeeded: 1, failed: 0, retries: 2 });
  });

  it('settles an abort that comes while the retry is being decided (in the retry listener)', async () => {
    const r = rig({ pool: { retryBaseMs: 10 }, fake: { script: () => ({ status: 500, message: 'boom' }) } });
    const ac = new AbortController();
    r.pool.on('retry', () => ac.abort('stop'));
    const attempts: number[] = [];
    const t = track(r.pool.schedule((c) => (attempts.push(c.attempt), call(c)), { signal: ac.signal }));
    await settleAll(r.clock, [t]);
    expect(t.error).toBeInstanceOf(RequestAbortedError);
    expect(attempts).toEqual([1]);
    await r.pool.onIdle();
    expect(r.pool.stats()).toMatchObject({ failed: 1, inFlight: 0, queued: 0 });
  });

  it('settles an abort during the backoff before attempt 2', async () => {
    const r = rig({ pool: { retryBaseMs: 1_000 }, fake: { script: () => ({ status: 500, message: 'boom' }) } });
    const ac = new AbortController();
    const attempts: number[] = [];
    const t = track(r.pool.schedule((c) => (attempts.push(c.attempt), call(c)), { signal: ac.signal }));
    await r.clock.runUntil(() => r.of('retry').length === 1);
    await r.clock.runUntil(() => r.pool.stats().queued === 1);
    ac.abort('stop');
    await settleAll(r.clock, [t]);
    expect(t.error).toBeInstanceOf(RequestAbortedError);
    expect(attempts).toEqual([1]);
    expect(r.pool.stats()).toMatchObject({ failed: 1, inFlight: 0, queued: 0 });
  });
});
