/**
 * A start counts from when its request leaves the process, not from when the
 * pool decided it; a rate-limit 429 the ledger did not predict widens the
 * account's margin, once per window, and quiet windows ease it back.
 * On the injected clock, with the real openai SDK over the fake fetch.
 */
import { describe, expect, it } from 'vitest';
import type { MarginEvent } from '../../src/index.js';
import { EASE_AFTER_WINDOWS, maxMarginMs, REMEMBER_WINDOWS } from '../../src/pool/margins.js';
import { ask, kimi429, rig, ROOMY, settleAll, track, WINDOW } from '../helpers/pool.js';

const ONE_RPM = { ...ROOMY, rpm: 1, concurrency: 1 };

describe('a start counts from when its request leaves', () => {
  it('a task that calls fetch late opens its window then, not when it was granted', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE_RPM }] });
    const body = { model: 'kimi-k2.5', messages: [{ role: 'user' as const, content: 'x' }], max_tokens: 10 };
    // Granted at 0; builds its request for 300 ms before sending it.
    const first = track(r.pool.schedule(async ({ client, signal }) => {
      await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 300));
      return client.chat.completions.create(body, { signal });
    }, { tokens: 20 }));
    const second = track(ask(r.pool, 'second'));
    await settleAll(r.clock, [first, second]);
    const arrivals = r.fake.arrivals.map((a) => a.t);
    expect(arrivals).toEqual([300, 300 + WINDOW]);
  });

  it('a task that never sends counts from when it ended', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE_RPM }] });
    const noop = track(r.pool.schedule(() => new Promise<string>((resolve) => r.clock.setTimeout(() => resolve('done'), 500))));
    const second = track(ask(r.pool, 'second'));
    await settleAll(r.clock, [noop, second]);
    expect(r.of('start').map((s) => s.requestId)).toHaveLength(2);
    expect(r.fake.arrivals.map((a) => a.t)).toEqual([500 + WINDOW]);
  });

  it('while granted starts have not left, the account is full; it opens again when they leave', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ROOMY, rpm: 2, concurrency: 5 } }] });
    const body = { model: 'kimi-k2.5', messages: [{ role: 'user' as const, content: 'x' }], max_tokens: 10 };
    const late = (ms: number) => track(r.pool.schedule(async ({ client, signal }) => {
      await new Promise<void>((resolve) => r.clock.setTimeout(resolve, ms));
      return client.chat.completions.create(body, { signal });
    }, { tokens: 20 }));
    const ts = [late(100), late(400), track(ask(r.pool, 'third'))];
    await settleAll(r.clock, ts);
    // Two starts left at 100 and 400: the third waits a window after the first of them.
    expect(r.fake.arrivals.map((a) => a.t)).toEqual([100, 400, 100 + WINDOW]);
  });
});

describe('a rate-limit 429 the ledger did not predict widens the account margin', () => {
  /** org-a answers its first `times` requests with an RPM 429 naming the limit we enforce. */
  function surprised(times: number) {
    let seen = 0;
    return rig({
      accounts: [
        { id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ROOMY, rpm: 50, concurrency: 2 } },
        { id: 'org-b', keys: ['sk-bbbbbbbbbbbb1'], limits: { ...ROOMY, rpm: 1, concurrency: 1 } },
      ],
      // Kimi says RPM 50, the limit we enforce: a request reached it later than we allowed for.
      fake: { script: ({ account }) => (account === 'org-a' && ++seen <= times ? { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(50, 1) } : undefined) },
    });
  }

  it('widens once for 429s of requests sent under the same margin (to twice itself, by 200 ms at least), reports it, and eases back after quiet windows', async () => {
    const r = surprised(2);
    const margins: MarginEvent[] = [];
    r.pool.on('margin', (e) => margins.push(e));
    const ts = Array.from({ length: 6 }, (_, i) => track(ask(r.pool, `r${i}`)));
    await settleAll(r.clock, ts);
    const a = r.pool.stats().accounts.find((x) => x.id === 'org-a');
    expect(a?.unpredicted429s).toBe(2);
    // Two requests in flight at once both got one. Base 0: the first widens to 200 (a quarter
    // window caps it at 250); the second, sent under the same margin, does not widen again.
    expect(margins).toEqual([{ account: 'org-a', marginMs: 200, previousMs: 0, reason: 'widened', dimension: 'rpm' }]);
    expect(a?.safetyMarginMs).toBe(200);
    expect(r.pool.stats().accounts.find((x) => x.id === 'org-b')?.safetyMarginMs).toBe(0);
    await r.clock.advance(EASE_AFTER_WINDOWS * WINDOW);
    expect(margins.at(-1)).toMatchObject({ marginMs: 100, reason: 'eased' });
    await r.clock.advance(EASE_AFTER_WINDOWS * WINDOW);
    expect(margins.at(-1)).toMatchObject({ marginMs: 50, reason: 'eased' });
    await r.pool.close();
  });

  it('a 429 that teaches a lower limit is not a surprise: the margin stays', async () => {
    const r = rig({
      accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ROOMY, rpm: 50, concurrency: 1 } }],
      poolLimits: { 'org-a': { rpm: 100 } },
      fake: { script: ({ n }) => (n === 1 ? { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(50, 1) } : undefined) },
    });
    const ts = Array.from({ length: 3 }, (_, i) => track(ask(r.pool, `r${i}`)));
    await settleAll(r.clock, ts);
    const a = r.pool.stats().accounts[0];
    expect(a?.limits.rpm).toBe(50);
    expect(a?.unpredicted429s).toBe(0);
    expect(a?.safetyMarginMs).toBe(0);
  });

  it('the widened margin spaces the account\'s starts from then on', async () => {
    const r = rig({
      accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ROOMY, rpm: 1, concurrency: 1 } }],
      fake: { script: ({ n }) => (n === 1 ? { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(1, 1) } : undefined) },
    });
    const ts = Array.from({ length: 3 }, (_, i) => track(ask(r.pool, `r${i}`)));
    await settleAll(r.clock, ts);
    // The second request left at 1000 and got the 429 (a pause of 1 s and a margin of 200 ms):
    // the third starts a window plus the margin after it, the fourth likewise after the third.
    expect(r.fake.arrivals.map((x) => x.t)).toEqual([0, 2200, 3400]);
  });
});

describe('margin easing under a lasting lag', () => {
  it('holds above a margin that proved too narrow instead of easing back into the same 429', async () => {
    let seen = 0;
    let failAt = 1;
    const r = rig({
      accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ROOMY, rpm: 50, concurrency: 1 } }],
      pool: { safetyMarginMs: 100 },
      fake: { script: () => (++seen === failAt ? { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(50, 1) } : undefined) },
    });
    const margins: MarginEvent[] = [];
    r.pool.on('margin', (e) => margins.push(e));
    await settleAll(r.clock, [track(ask(r.pool, 'first'))]);
    await r.clock.advance(EASE_AFTER_WINDOWS * WINDOW);
    // 100 failed: widened to 300, eased halfway to 200. Then 200 fails too (a lasting lag).
    failAt = seen + 1;
    await settleAll(r.clock, [track(ask(r.pool, 'second'))]);
    expect(margins.map((m) => [m.reason, m.marginMs])).toEqual([['widened', 300], ['eased', 200], ['widened', 400]]);
    await r.clock.advance(EASE_AFTER_WINDOWS * WINDOW);
    expect(margins.at(-1)).toMatchObject({ reason: 'eased', marginMs: 250 });
    // Halfway again would be 175, below the 200 that failed: it holds at 250 while that is remembered...
    await r.clock.advance((REMEMBER_WINDOWS - 2 * EASE_AFTER_WINDOWS) * WINDOW);
    expect(margins.at(-1)).toMatchObject({ marginMs: 250 });
    // ...and eases on once it is forgotten.
    await r.clock.advance(3 * EASE_AFTER_WINDOWS * WINDOW);
    expect(margins.at(-1)?.marginMs).toBeLessThan(250);
    await r.pool.close();
  });

  it('leaves room to widen however short the window (four times the base at least)', () => {
    expect(maxMarginMs(250, 1000)).toBe(1000);
    expect(maxMarginMs(250, 60_000)).toBe(5000);
    expect(maxMarginMs(0, 1000)).toBe(250);
  });
});
