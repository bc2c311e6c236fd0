/** AbortSignal and per-request timeout, while queued, backing off, paused and in flight. */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { RequestAbortedError, RequestTimeoutError } from '../../src/errors.js';
import { ask, kimi429, rig, ROOMY, settleAll, track } from '../helpers/pool.js';

const ONE = { ...ROOMY, concurrency: 1 };
const oneAtATime = () => rig({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE }], fake: { latencyMs: () => 100 } });

describe('abort', () => {
  it('while queued: rejects at once with the reason, nothing else disturbed', async () => {
    const r = oneAtATime();
    const ac = new AbortController();
    const a = track(ask(r.pool, 'a'), r.clock);
    const b = track(ask(r.pool, 'b', { signal: ac.signal }), r.clock);
    const c = track(ask(r.pool, 'c'), r.clock);
    await r.clock.advance(40);
    expect(r.pool.stats().queued).toBe(2);
    ac.abort('changed my mind');
    await r.clock.advance(0);
    expect(b.error).toBeInstanceOf(RequestAbortedError);
    expect((b.error as RequestAbortedError).reason).toBe('changed my mind');
    expect(b.at).toBe(40);
    expect(r.pool.stats().queued).toBe(1);
    await settleAll(r.clock, [a, c]);
    expect([a.error, c.error]).toEqual([undefined, undefined]);
    expect(r.fake.arrivals.map((x) => x.t)).toEqual([0, 100]);
    expect(r.of('failed')).toEqual([expect.objectContaining({ requestId: 2, key: undefined, account: undefined, error: b.error })]);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(r.pool.stats()).toMatchObject({ submitted: 3, succeeded: 2, failed: 1, queued: 0, inFlight: 0 });
  });

  it('in flight: rejects at once, the HTTP call is aborted and its slot freed', async () => {
    const r = oneAtATime();
    const ac = new AbortController();
    const a = track(ask(r.pool, 'a', { signal: ac.signal }), r.clock);
    const b = track(ask(r.pool, 'b'), r.clock);
    await r.clock.advance(30);
    expect(r.pool.stats().inFlight).toBe(1);
    ac.abort();
    await r.clock.advance(0);
    expect(a.error).toBeInstanceOf(RequestAbortedError);
    expect(a.error).toMatchObject({ code: 'ERR_ABORTED' });
    // the server saw the request end, and b started on the freed slot right away
    expect(r.fake.arrivals[0]?.done).toBe(30);
    await settleAll(r.clock, [b]);
    expect(r.fake.arrivals.map((x) => x.t)).toEqual([0, 30]);
    expect(b.at).toBe(130);
    expect(r.of('success').map((s) => s.requestId)).toEqual([2]);
    expect(r.pool.stats()).toMatchObject({ inFlight: 0, failed: 1, succeeded: 1 });
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('an already aborted signal rejects at once and queues nothing', async () => {
    const r = oneAtATime();
    const ac = new AbortController();
    ac.abort();
    await expect(ask(r.pool, 'a', { signal: ac.signal })).rejects.toBeInstanceOf(RequestAbortedError);
    expect(r.pool.stats().submitted).toBe(0);
    expect(r.of('queued')).toEqual([]);
  });

  it('while paused after a 429: rejects, and the pause is unaffected', async () => {
    let hit = false;
    const r = rig({ fake: { script: () => (hit ? undefined : ((hit = true), { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(1000, 2) })) } });
    const ac = new AbortController();
    const a = track(ask(r.pool, 'a', { signal: ac.signal }), r.clock);
    await r.clock.advance(500);
    ac.abort();
    await r.clock.advance(0);
    expect(a.error).toBeInstanceOf(RequestAbortedError);
    expect(r.pool.stats().accounts[0]?.pausedForMs).toBe(1500);
    const b = track(ask(r.pool, 'b'), r.clock);
    await settleAll(r.clock, [b]);
    expect(r.fake.arrivals.map((x) => x.t)).toEqual([2000]);
  });

  it('a task that kept its slot and was then aborted frees the slot', async () => {
    const r = oneAtATime();
    const ac = new AbortController();
    const a = track(
      r.pool.schedule(
        (ctx) => {
          ctx.holdSlot();
          ac.abort();
          return 'a stream nobody will read';
        },
        { signal: ac.signal },
      ),
    );
    const b = track(r.pool.schedule(() => 'b'));
    await settleAll(r.clock, [a, b], 10_000);
    expect(a.error).toBeInstanceOf(RequestAbortedError);
    expect(b.value).toBe('b');
    expect(r.pool.stats().inFlight).toBe(0);
    // the aborted task is no success
    expect(r.of('success').map((s) => s.requestId)).toEqual([2]);
    expect(r.pool.stats().accounts[0]).toMatchObject({ succeeded: 1 });
    await r.pool.close();
  });
});

describe('timeout', () => {
  it('while queued: RequestTimeoutError when it passes', async () => {
    const r = oneAtATime();
    const a = track(ask(r.pool, 'a'), r.clock);
    const b = track(ask(r.pool, 'b', { timeout: 30 }), r.clock);
    const c = track(ask(r.pool, 'c'), r.clock);
    await settleAll(r.clock, [a, b, c]);
    expect(b.error).toBeInstanceOf(RequestTimeoutError);
    expect(b.error).toMatchObject({ code: 'ERR_REQUEST_TIMEOUT', message: expect.stringContaining('30 ms') });
    expect(b.at).toBe(30);
    expect([a.error, c.error]).toEqual([undefined, undefined]);
    expect(r.fake.arrivals.map((x) => x.t)).toEqual([0, 100]);
  });

  it('in flight: aborts the call, frees the slot', async () => {
    const r = oneAtATime();
    const a = track(ask(r.pool, 'a', { timeout: 50 }), r.clock);
    const b = track(ask(r.pool, 'b'), r.clock);
    await settleAll(r.clock, [a, b]);
    expect(a.error).toBeInstanceOf(RequestTimeoutError);
    expect(a.at).toBe(50);
    expect(r.fake.arrivals.map((x) => [x.t, x.done])).toEqual([
      [0, 50],
      [50, 150],
    ]);
  });

  it('counts the whole life of the request, across retries and backoff', async () => {
    const r = rig({ pool: { retryBaseMs: 1000 }, fake: { script: () => ({ status: 500, message: 'x' }) } });
    const a = track(ask(r.pool, 'a', { timeout: 300 }), r.clock);
    await settleAll(r.clock, [a]);
    expect(a.error).toBeInstanceOf(RequestTimeoutError);
    expect(a.at).toBe(300);
    expect(r.pool.stats()).toMatchObject({ queued: 0, inFlight: 0, failed: 1 });
  });

  it('a request that finishes in time clears its timer', async () => {
    const r = oneAtATime();
    const a = track(ask(r.pool, 'a', { timeout: 10_000 }), r.clock);
    await settleAll(r.clock, [a]);
    expect(a.error).toBeUndefined();
    expect(r.clock.pending).toBe(0);
  });
});
