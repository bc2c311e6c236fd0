/**
 * Moves no server makes on its own, with every request still answered once
 * and its slot freed once: listeners that abort the request or close the pool
 * while it is being moved, another task that aborts it, late, stale and
 * repeated releases of a held slot. Paths traced as in request-lifecycle.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { NoUsableKeyError, PoolClosedError, QueueClearedError, RequestAbortedError } from '../../src/index.js';
import type { Transition } from '../../src/pool/lifecycle.js';
import { ONE, TWO_ACCOUNTS, apiError, rateLimited, serverError, resolvesAfter, expectLife, expectSlotsFree, tracedRig, type TracedRig } from '../helpers/lifecycle-trace.js';
import { settleAll, track, type RigOptions, type Tracked } from '../helpers/pool.js';

/** Every transition traced by the scenarios of this file. */
const covered = new Set<Transition>();
const traced = (options: RigOptions = {}): TracedRig => tracedRig(options, covered);

describe('each request answered once, its slot freed once, when something moves it meanwhile', () => {
  describe('a listener that aborts the request meanwhile', () => {
    // `start`: the task never runs; `ratelimited`, `retry`: emitted while the failed attempt is
    // still running, so the request is abandoned and ended, never queued or run again.
    it.each([
      { event: 'queued', task: () => 'ran', path: ['drop'], calls: 0 },
      { event: 'start', task: () => 'ran', path: ['start', 'abandon', 'end'], calls: 0 },
      { event: 'ratelimited', task: () => Promise.reject(rateLimited()), path: ['start', 'abandon', 'end'], calls: 1 },
      { event: 'retry', task: () => Promise.reject(serverError()), path: ['start', 'abandon', 'end'], calls: 1 },
    ] as const)('$event: $path', async ({ event, task, path, calls }) => {
      const r = traced();
      const ac = new AbortController();
      r.pool.on(event, () => ac.abort('stop'));
      let ran = 0;
      const a = track(r.pool.schedule(() => (ran++, task()), { signal: ac.signal }), r.clock);
      await settleAll(r.clock, [a]);
      await r.clock.advance(5_000); // well past any pause or backoff
      expectLife(r, 1, a, path, { error: RequestAbortedError });
      expect(ran).toBe(calls);
      expect(r.pool.stats().queued).toBe(0);
      expectSlotsFree(r);
    });
  });

  describe('a listener that closes the pool meanwhile: dropped with PoolClosedError', () => {
    it.each([
      { event: 'queued', task: () => 'ran', path: ['drop'] },
      { event: 'ratelimited', task: () => Promise.reject(rateLimited()), path: ['start', 'bounce', 'drop'] },
      { event: 'retry', task: () => Promise.reject(serverError()), path: ['start', 'retry', 'drop'] },
    ] as const)('$event: $path', async ({ event, task, path }) => {
      const r = traced();
      let closed: Tracked<void> | undefined;
      r.pool.on(event, () => void (closed = track(r.pool.close())));
      const a = track(r.pool.schedule(task), r.clock);
      await settleAll(r.clock, [a]);
      await r.clock.advance(0);
      expectLife(r, 1, a, path, { error: PoolClosedError });
      expect(closed?.settled).toBe(true);
      expectSlotsFree(r);
    });
  });

  describe('a `failed` listener that aborts a request the pool is dropping in the same sweep', () => {
    // "Cancel the related request": the sweep meets it answered, and skips it (found by a review:
    // it threw LifecycleError, stranding the rest of the sweep).
    const setup = () => {
      const r = traced({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE }] });
      const running = track(r.pool.schedule(() => resolvesAfter(r, 100, 'run')), r.clock);
      const ac = new AbortController();
      const queued = [track(r.pool.schedule(() => 'q1'), r.clock), track(r.pool.schedule(() => 'q2', { signal: ac.signal }), r.clock), track(r.pool.schedule(() => 'q3'), r.clock)];
      r.pool.once('failed', () => ac.abort('related'));
      return { r, running, queued };
    };

    it('clear(): every queued request answered once; it counts the two it rejected', async () => {
      const { r, running, queued } = setup();
      await r.clock.advance(0);
      expect(r.pool.clear()).toBe(2);
      await settleAll(r.clock, [running, ...queued]);
      expect(queued.map((t) => t.error?.constructor)).toEqual([QueueClearedError, RequestAbortedError, QueueClearedError]);
      for (const id of [2, 3, 4]) expectLife(r, id, queued[id - 2] as Tracked<unknown>, ['drop'], { error: Error });
      expect(running.value).toBe('run');
      expectSlotsFree(r);
    });

    it('close(): resolves, every queued request answered once', async () => {
      const { r, running, queued } = setup();
      await r.clock.advance(0);
      const closed = track(r.pool.close(), r.clock);
      await settleAll(r.clock, [running, closed, ...queued]);
      expect(closed.error).toBeUndefined();
      expect(queued.map((t) => t.error?.constructor)).toEqual([PoolClosedError, RequestAbortedError, PoolClosedError]);
      expectSlotsFree(r);
    });

    it('the last key revoked: the 401 request and the rest answered, its slot freed, the pool idle', async () => {
      const r = traced({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE }] });
      const ac = new AbortController();
      const a = track(r.pool.schedule(() => Promise.reject(apiError(401, 'invalid_authentication_error', 'Invalid Authentication'))), r.clock);
      const rest = [1, 2].map(() => track(r.pool.schedule(() => 'q', { signal: ac.signal }), r.clock));
      r.pool.on('failed', () => ac.abort('cancel group'));
      await settleAll(r.clock, [a, ...rest]);
      const idle = track(r.pool.onIdle(), r.clock);
      await settleAll(r.clock, [idle]);
      expect(a.error).toBeInstanceOf(NoUsableKeyError);
      expect(rest.every((t) => t.error !== undefined)).toBe(true);
      expectSlotsFree(r);
    });
  });

  it('a `warning` listener that aborts while the fault is read: no `retry` told or counted', async () => {
    const r = traced({ pool: { maxRetryAfterMs: 100, retryBaseMs: 10 } });
    const ac = new AbortController();
    r.pool.on('warning', () => ac.abort('stop'));
    const busy = Object.assign(apiError(503, 'engine_overloaded_error', 'busy'), { headers: new Headers({ 'retry-after': '3600' }) });
    const a = track(r.pool.schedule(() => Promise.reject(busy), { signal: ac.signal }), r.clock);
    await settleAll(r.clock, [a]);
    expect(r.of('warning').map((w) => w.code)).toEqual(['retry_after_ignored']);
    expectLife(r, 1, a, ['start', 'abandon', 'end'], { error: RequestAbortedError });
    expect(r.of('retry')).toEqual([]);
    expect(r.pool.stats().retries).toBe(0);
    expectSlotsFree(r);
  });

  it('close() during a backoff: PoolClosedError says the request could not run again', async () => {
    const r = traced({ pool: { retryBaseMs: 1_000 } });
    const a = track(r.pool.schedule(() => Promise.reject(serverError())), r.clock);
    const b = track(r.pool.schedule(() => 'b', { priority: -1 }), r.clock);
    await r.clock.advance(10);
    void r.pool.close();
    await settleAll(r.clock, [a, b]);
    expect((a.error as Error | undefined)?.message).toMatch(/before this request could run again/);
    expect(b.value).toBe('b');
    expectSlotsFree(r);
  });

  describe('the request another task aborts, started at once by the slot it freed', () => {
    // Concurrency 1 on two keys: the slot the failed attempt frees starts the next request at
    // once, whose task aborts the first before the first is queued again (or backs off).
    const setup = (fault: () => Error) => {
      const r = traced({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1', 'sk-aaaaaaaaaaaa2'], limits: ONE }], pool: { retryBaseMs: 1_000 } });
      const ac = new AbortController();
      let calls = 0;
      const a = track(r.pool.schedule(() => (calls++, Promise.reject(fault())), { signal: ac.signal }), r.clock);
      const b = track(r.pool.schedule(() => (ac.abort('stop'), 'b')), r.clock);
      return { r, a, b, calls: () => calls };
    };

    it('after a bounce (401): start, bounce, drop', async () => {
      const { r, a, b, calls } = setup(() => apiError(401, 'invalid_authentication_error', 'Invalid Authentication'));
      await settleAll(r.clock, [a, b]);
      await r.clock.advance(5_000);
      expect(r.log).toEqual(['1:start', '1:bounce', '2:start', '1:drop', '2:succeed']);
      expectLife(r, 1, a, ['start', 'bounce', 'drop'], { error: RequestAbortedError });
      expectLife(r, 2, b, ['start', 'succeed'], { value: 'b' });
      expect(calls()).toBe(1);
      expectSlotsFree(r);
    });

    it('after a retry (500): start, retry, drop', async () => {
      const { r, a, b, calls } = setup(serverError);
      await settleAll(r.clock, [a, b]);
      await r.clock.advance(5_000);
      expect(r.log).toEqual(['1:start', '1:retry', '2:start', '1:drop', '2:succeed']);
      expectLife(r, 1, a, ['start', 'retry', 'drop'], { error: RequestAbortedError });
      expectLife(r, 2, b, ['start', 'succeed'], { value: 'b' });
      expect(calls()).toBe(1);
      expect(r.pool.stats().queued).toBe(0);
      expectSlotsFree(r);
    });
  });

  it('release() before the task resolves: the slot is freed by succeed, once', async () => {
    const r = traced();
    const a = track(
      r.pool.schedule((ctx) => {
        const release = ctx.holdSlot();
        release({ usedTokens: 5 });
        release({ usedTokens: 5 });
        return resolvesAfter(r, 100, 'v');
      }),
      r.clock,
    );
    await r.clock.advance(50);
    expect(r.pool.stats().inFlight).toBe(1);
    await settleAll(r.clock, [a]);
    expectLife(r, 1, a, ['start', 'succeed'], { value: 'v' });
    expectSlotsFree(r);
  });

  it('a stale release from a run before a bounce does not free the new run\'s slot', async () => {
    const r = traced({ accounts: TWO_ACCOUNTS });
    const releases: Record<string, (result?: { usedTokens?: number }) => void> = {};
    const value = { stream: 'on org-b' };
    const a = track(
      r.pool.schedule((ctx) => {
        releases[ctx.account] = ctx.holdSlot();
        return ctx.account === 'org-a' ? Promise.reject(rateLimited()) : value;
      }),
      r.clock,
    );
    await settleAll(r.clock, [a]);
    expect(r.paths.get(1)).toEqual(['start', 'bounce', 'start', 'stream']);
    releases['org-a']?.({ usedTokens: 1 });
    expect(r.pool.stats().accounts.map((x) => x.inFlight)).toEqual([0, 1]);
    expect(r.paths.get(1)).toEqual(['start', 'bounce', 'start', 'stream']);
    releases['org-b']?.({ usedTokens: 1 });
    expectLife(r, 1, a, ['start', 'bounce', 'start', 'stream', 'finish'], { value });
    expectSlotsFree(r);
  });

  it('holdSlot() twice, both released: the second release frees nothing, one success', async () => {
    const r = traced();
    const held: (() => void)[] = [];
    const a = track(r.pool.schedule((ctx) => (held.push(ctx.holdSlot(), ctx.holdSlot()), 'v')), r.clock);
    await settleAll(r.clock, [a]);
    held[0]?.();
    expect(r.pool.stats().inFlight).toBe(0);
    held[1]?.();
    held[0]?.();
    expectLife(r, 1, a, ['start', 'stream', 'finish'], { value: 'v' });
    expect(r.pool.stats()).toMatchObject({ succeeded: 1 });
    expect(r.pool.stats().keys[0]?.succeeded).toBe(1);
    expectSlotsFree(r);
  });

});
