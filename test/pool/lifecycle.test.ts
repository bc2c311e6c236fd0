/** close(), onIdle(), the 'idle' event, timers, and "every request settles exactly once". */
import { describe, expect, it } from 'vitest';
import { KimiPoolError, PoolClosedError, RequestAbortedError, RequestTimeoutError } from '../../src/errors.js';
import type { TimerHandle } from '../../src/clock.js';
import { KimiPool } from '../../src/index.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { FakeKimi } from '../helpers/fake-kimi.js';
import { ask, kimi429, rig, ROOMY, settleAll, track, WINDOW, type Tracked } from '../helpers/pool.js';

const ONE = { ...ROOMY, concurrency: 1 };
const oneAtATime = () => rig({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE }], fake: { latencyMs: () => 100 } });

describe('close()', () => {
  it('by default rejects queued requests with PoolClosedError and waits for those in flight', async () => {
    const r = oneAtATime();
    const ts = ['a', 'b', 'c'].map((n) => track(ask(r.pool, n), r.clock));
    await r.clock.advance(10);
    let closed = false;
    void r.pool.close().then(() => (closed = true));
    await r.clock.advance(0);
    expect(ts[1]?.error).toBeInstanceOf(PoolClosedError);
    expect(ts[2]?.error).toBeInstanceOf(PoolClosedError);
    expect(ts[0]?.settled).toBe(false);
    expect(closed).toBe(false);
    await r.clock.runUntil(() => closed);
    expect(ts[0]?.error).toBeUndefined();
    expect(ts[0]?.at).toBe(100);
    expect(r.fake.arrivals).toHaveLength(1);
    await expect(ask(r.pool, 'late')).rejects.toBeInstanceOf(PoolClosedError);
    await expect(r.pool.schedule(() => 1)).rejects.toBeInstanceOf(PoolClosedError);
    expect(r.clock.pending).toBe(0);
  });

  it('with { drain: true } finishes everything queued first', async () => {
    const r = oneAtATime();
    const ts = ['a', 'b', 'c'].map((n) => track(ask(r.pool, n), r.clock));
    let closed = false;
    void r.pool.close({ drain: true }).then(() => (closed = true));
    await r.clock.runUntil(() => closed);
    expect(ts.map((t) => t.error)).toEqual([undefined, undefined, undefined]);
    expect(ts.map((t) => t.at)).toEqual([100, 200, 300]);
    expect(r.clock.pending).toBe(0);
  });

  it('an idle pool resolves close() at once and leaves no timer', async () => {
    const r = oneAtATime();
    await r.pool.close();
    expect(r.clock.pending).toBe(0);
  });

  it('leaves no pending timer after close, whatever happened before (pauses, backoff, timeouts)', async () => {
    let calls = 0;
    const r = rig({
      accounts: [
        { id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ROOMY, rpm: 5 } },
        { id: 'org-b', keys: ['sk-bbbbbbbbbbbb1'], limits: { ...ROOMY, rpm: 5 } },
      ],
      pool: { retryBaseMs: 50 },
      fake: {
        script: () => {
          const n = calls++;
          if (n === 1) return { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(5, 30) };
          if (n === 2) return { status: 500, message: 'x' };
          return undefined;
        },
      },
    });
    const ts = Array.from({ length: 12 }, (_, i) => track(ask(r.pool, `q${i}`, { timeout: 60_000 })));
    await settleAll(r.clock, ts);
    expect(ts.every((t) => t.error === undefined)).toBe(true);
    // the 30 s pause of org-a is still running
    expect(r.clock.pending).toBeGreaterThan(0);
    await r.pool.close();
    expect(r.clock.pending).toBe(0);
  });

  it('a 429 on a request in flight during close() leaves no pause timer behind', async () => {
    const r = rig({
      fake: { script: () => ({ status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(5, 30), delayMs: 50 }) },
    });
    const a = track(ask(r.pool, 'a'));
    await r.clock.advance(10);
    let closed = false;
    void r.pool.close().then(() => (closed = true));
    await r.clock.runUntil(() => closed);
    expect(a.error).toBeInstanceOf(PoolClosedError);
    expect(r.clock.pending).toBe(0);
  });

  it('a transient fault of a request in flight during close() fails it instead of retrying', async () => {
    const r = rig({ fake: { script: () => ({ status: 503, message: 'x', delayMs: 50 }) } });
    const a = track(ask(r.pool, 'a'));
    await r.clock.advance(10);
    await Promise.all([r.pool.close(), r.clock.advance(100)]);
    expect(a.error).toBeInstanceOf(KimiPoolError);
    expect(r.of('retry')).toEqual([]);
    expect(r.clock.pending).toBe(0);
  });
});

describe('onIdle() and the idle event', () => {
  it('onIdle resolves at once on an idle pool, and when the last request settles', async () => {
    const r = oneAtATime();
    await r.pool.onIdle();
    const ts = ['a', 'b'].map((n) => track(ask(r.pool, n), r.clock));
    let idleAt = NaN;
    void r.pool.onIdle().then(() => (idleAt = r.clock.now()));
    await settleAll(r.clock, ts);
    await r.clock.advance(0);
    expect(idleAt).toBe(200);
    expect(r.events.filter((e) => e.name === 'idle')).toEqual([{ name: 'idle', payload: { succeeded: 2, failed: 0 }, t: 200 }]);
  });

  it('counts failures, and fires again after the next batch', async () => {
    const r = rig({ fake: { script: ({ body }) => (JSON.stringify(body).includes('bad') ? { status: 400, type: 'invalid_request_error', message: 'no' } : undefined) } });
    await settleAll(r.clock, [track(ask(r.pool, 'ok')), track(ask(r.pool, 'bad'))]);
    await r.clock.advance(0);
    await settleAll(r.clock, [track(ask(r.pool, 'ok2'))]);
    await r.clock.advance(0);
    expect(r.of('idle')).toEqual([
      { succeeded: 1, failed: 1 },
      { succeeded: 2, failed: 1 },
    ]);
  });
});

describe('every request settles exactly once', () => {
  it('under a mix of successes, faults, 429s, failover, aborts and timeouts', async () => {
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const r = rig({
      accounts: [
        { id: 'org-a', keys: ['sk-aaaaaaaaaaaa1', 'sk-aaaaaaaaaaaa2'], limits: { ...ROOMY, concurrency: 2, rpm: 20 } },
        { id: 'org-b', keys: ['sk-bbbbbbbbbbbb1'], limits: { ...ROOMY, concurrency: 3, rpm: 30 } },
      ],
      pool: { retries: 2, retryBaseMs: 20, maxRateLimitBounces: 3 },
      fake: {
        latencyMs: () => 20 + Math.floor(rnd() * 200),
        script: ({ key }) => {
          const x = rnd();
          if (key === 'sk-aaaaaaaaaaaa2' && x < 0.1) return { status: 401, type: 'invalid_authentication_error', message: 'revoked' };
          if (x < 0.15) return { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(20, 1) };
          if (x < 0.22) return { status: 500, message: 'boom', delayMs: 30 };
          if (x < 0.26) return { status: 429, type: 'engine_overloaded_error', message: 'overloaded' };
          if (x < 0.29) return { status: 0, drop: true };
          if (x < 0.31) return { status: 400, type: 'invalid_request_error', message: 'bad' };
          return undefined;
        },
      },
    });
    const controllers: AbortController[] = [];
    const ts: Tracked<unknown>[] = [];
    for (let i = 0; i < 120; i++) {
      const ac = new AbortController();
      controllers.push(ac);
      const timeout = rnd() < 0.1 ? 50 + Math.floor(rnd() * 500) : undefined;
      ts.push(track(ask(r.pool, `m${i}`, { signal: ac.signal, priority: Math.floor(rnd() * 3), timeout }), r.clock));
      if (i % 10 === 0) await r.clock.advance(Math.floor(rnd() * 100));
      if (rnd() < 0.08) controllers[Math.floor(rnd() * controllers.length)]?.abort();
    }
    await settleAll(r.clock, ts, 600_000);
    await r.clock.advance(0);
    const ok = ts.filter((t) => t.error === undefined).length;
    const failed = ts.length - ok;
    expect(ok).toBeGreaterThan(30);
    expect(ts.filter((t) => t.error instanceof RequestAbortedError).length).toBeGreaterThan(0);
    expect(ts.filter((t) => t.error instanceof RequestTimeoutError).length).toBeGreaterThan(0);
    // one terminal event per request, matching how its promise settled
    const successIds = r.of('success').map((e) => e.requestId);
    const failedIds = r.of('failed').map((e) => e.requestId);
    expect(new Set(successIds).size).toBe(successIds.length);
    expect(new Set(failedIds).size).toBe(failedIds.length);
    expect(successIds.filter((id) => failedIds.includes(id))).toEqual([]);
    expect(successIds.length).toBe(ok);
    expect(failedIds.length).toBe(failed);
    for (const f of r.of('failed')) expect(ts[f.requestId - 1]?.error).toBe(f.error);
    for (const t of ts) if (t.error !== undefined) expect(t.error).toBeInstanceOf(KimiPoolError);
    const s = r.pool.stats();
    expect(s).toMatchObject({ submitted: 120, succeeded: ok, failed, queued: 0, inFlight: 0 });
    expect(r.fake.violations()).toEqual([]);
    await r.pool.close();
    expect(r.clock.pending).toBe(0);
  });
});

/** A ManualClock that knows which pending timers would keep a real process alive. */
class KeepAliveClock extends ManualClock {
  private readonly alive = new Set<TimerHandle>();
  override setTimeout(fn: () => void, ms: number, keepAlive?: boolean): TimerHandle {
    const handle: TimerHandle = super.setTimeout(() => {
      this.alive.delete(handle);
      fn();
    }, ms);
    if (keepAlive === true) this.alive.add(handle);
    return handle;
  }
  override clearTimeout(handle: TimerHandle): void {
    this.alive.delete(handle);
    super.clearTimeout(handle);
  }
  get keptAlive(): number {
    return this.alive.size;
  }
}

describe('an idle pool does not hold the process open', () => {
  function keepAliveRig(accounts: { id: string; keys: string[]; limits: typeof ROOMY }[]) {
    const clock = new KeepAliveClock();
    const fake = new FakeKimi(clock, { windowMs: WINDOW, accounts, latencyMs: () => 100 });
    const pool = new KimiPool({
      keys: accounts.flatMap((a) => a.keys.map((key) => ({ key, account: a.id }))),
      accounts: Object.fromEntries(accounts.map((a) => [a.id, a.limits])),
      windowMs: WINDOW,
      safetyMarginMs: 0,
      clock,
      clientOptions: { fetch: fake.fetch },
    });
    return { clock, pool };
  }

  it('while requests wait for a window, a timer keeps the process alive', async () => {
    const { clock, pool } = keepAliveRig([{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ROOMY, rpm: 1 } }]);
    const ts = [track(ask(pool, 'a')), track(ask(pool, 'b'))];
    await clock.advance(500);
    expect(clock.keptAlive).toBe(1);
    await settleAll(clock, ts);
    expect(clock.keptAlive).toBe(0);
  });

  it('after the only waiting request was aborted', async () => {
    const { clock, pool } = keepAliveRig([{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ROOMY, rpm: 1 } }]);
    const ac = new AbortController();
    const a = track(ask(pool, 'a'));
    const b = track(ask(pool, 'b', { signal: ac.signal }));
    await clock.advance(50);
    ac.abort();
    await settleAll(clock, [a, b]);
    expect(b.error).toBeInstanceOf(RequestAbortedError);
    expect(clock.now()).toBeLessThan(WINDOW);
    expect(clock.keptAlive).toBe(0);
  });

  it('after the waiting request ran on another account', async () => {
    const { clock, pool } = keepAliveRig([
      { id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ROOMY, rpm: 1 } },
      { id: 'org-b', keys: ['sk-bbbbbbbbbbbb1'], limits: { ...ROOMY, concurrency: 1 } },
    ]);
    const ts = ['a', 'b', 'c'].map((n) => track(ask(pool, n)));
    await settleAll(clock, ts);
    expect(clock.now()).toBeLessThan(WINDOW);
    expect(clock.keptAlive).toBe(0);
  });
});
