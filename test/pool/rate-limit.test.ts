/**
 * 429 rate_limit_reached_error: the whole ACCOUNT pauses (every key of it),
 * other accounts keep going, the request goes back to its place without using
 * a retry, and the limit the message names is learned.
 */
import { describe, expect, it } from 'vitest';
import { RateLimitError } from '../../src/errors.js';
import { fingerprint } from '../../src/fingerprint.js';
import type { LimitDimension } from '../../src/kimi-errors.js';
import type { Limits } from '../../src/tiers.js';
import { ask, kimi429, rig, ROOMY, settleAll, track, WINDOW } from '../helpers/pool.js';

const A1 = 'sk-aaaaaaaaaaaa1';
const A2 = 'sk-aaaaaaaaaaaa2';
const B1 = 'sk-bbbbbbbbbbbb1';

describe('a 429 pauses the account for every key of it', () => {
  const cases: [string, string, LimitDimension, number, Partial<Limits>][] = [
    ['concurrency', kimi429.concurrency(1, 1), 'concurrency', 1000, { concurrency: 1 }],
    ['RPM', kimi429.rpm(50, 2), 'rpm', 2000, { rpm: 50 }],
    ['TPM', kimi429.tpm(1200, 1000), 'tpm', WINDOW / 8, { tpm: 1000 }],
    ['TPD', kimi429.tpd(1200, 1000), 'tpd', WINDOW, { tpd: 1000 }],
    ['old "max request"', kimi429.old(3, 1), 'rpm', 1000, { rpm: 3 }],
  ];
  it.each(cases)('%s', async (_, message, dimension, pauseMs, learned) => {
    let hit = false;
    const r = rig({
      accounts: [
        { id: 'org-a', keys: [A1, A2], limits: { ...ROOMY, concurrency: 2 } },
        { id: 'org-b', keys: [B1], limits: { ...ROOMY, concurrency: 1 } },
      ],
      fake: {
        script: ({ account }) => {
          if (account !== 'org-a' || hit) return undefined;
          hit = true;
          return { status: 429, type: 'rate_limit_reached_error', message };
        },
      },
    });
    const ts = Array.from({ length: 40 }, (_, i) => track(ask(r.pool, `r${i}`)));
    await settleAll(r.clock, ts);
    expect(ts.every((t) => t.error === undefined)).toBe(true);

    const [rl] = r.of('ratelimited');
    expect(r.of('ratelimited')).toHaveLength(1);
    expect(rl).toMatchObject({ requestId: 1, key: fingerprint(A1), account: 'org-a', dimension, pausedMs: pauseMs, message, bounces: 1 });
    expect(rl?.learned).toEqual({ ...ROOMY, concurrency: 2, ...learned });
    const i429 = r.events.findIndex((e) => e.name === 'ratelimited');
    const t429 = r.events[i429]?.t as number;
    const startsOn = (account: string, from: number, to: number) =>
      r.events.filter((e, i) => i > i429 && e.name === 'start' && (e.payload as { account: string }).account === account && e.t >= from && e.t < to);
    // neither key of org-a starts anything during the pause; org-b keeps going
    expect(startsOn('org-a', t429, t429 + pauseMs)).toEqual([]);
    expect(r.fake.arrivals.filter((a) => a.account === 'org-a' && a.t > t429 && a.t < t429 + pauseMs)).toEqual([]);
    expect(startsOn('org-b', t429, t429 + pauseMs).length).toBeGreaterThan(0);
    // it ends with an event, and org-a takes work again on both keys
    expect(r.events.filter((e) => e.name === 'cooldown-end')).toEqual([{ name: 'cooldown-end', payload: { account: 'org-a', pausedMs: pauseMs }, t: t429 + pauseMs }]);
    const after = r.fake.arrivals.filter((a) => a.account === 'org-a' && a.t >= t429 + pauseMs);
    if (dimension === 'tpd') {
      // The message said the day already holds 1,200 of 1,000 tokens: the pool records
      // that usage and sends nothing more there that day, pause or not.
      expect(after).toEqual([]);
      // Next free when that usage leaves the day: ~1,440 windows away.
      expect(r.pool.stats().accounts[0]?.nextFreeInMs).toBeGreaterThan(1_000 * WINDOW);
    } else expect(new Set(after.map((a) => a.key))).toEqual(new Set([A1, A2]));
    // no retry used; the bounced request succeeded on its first attempt
    expect(r.of('retry')).toEqual([]);
    expect(r.of('success').find((s) => s.requestId === 1)?.attempt).toBe(1);
    const s = r.pool.stats();
    expect(s.bounces).toBe(1);
    expect(s.retries).toBe(0);
    expect(s.accounts[0]?.limits).toEqual({ ...ROOMY, concurrency: 2, ...learned, tpd: learned.tpd ?? null });
    expect(s.accounts[0]?.tooManyRequests[dimension as 'rpm']).toBe(1);
    expect(s.keys[0]?.tooManyRequests[dimension as 'rpm']).toBe(1);
    expect(s.keys[1]?.tooManyRequests[dimension as 'rpm']).toBe(0);
    expect(r.fake.violations()).toEqual([]);
    // the learned limits are enforced from then on
    if (learned.rpm !== undefined) {
      for (const x of after) expect(after.filter((y) => y.t > x.t - WINDOW && y.t <= x.t).length).toBeLessThanOrEqual(learned.rpm);
    }
    if (learned.concurrency !== undefined) {
      for (const x of after) expect(after.filter((y) => y.t <= x.t && y.done > x.t).length).toBeLessThanOrEqual(learned.concurrency);
    }
  });

  it('stats show the pause while it lasts', async () => {
    let hit = false;
    const r = rig({
      fake: { script: () => (hit ? undefined : ((hit = true), { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(100, 3) })) },
    });
    const t = track(ask(r.pool, 'x'));
    await r.clock.advance(1000);
    expect(t.settled).toBe(false);
    const acct = r.pool.stats().accounts[0];
    expect(acct?.pausedForMs).toBe(2000);
    expect(acct?.nextFreeInMs).toBe(2000);
    expect(r.pool.stats().queued).toBe(1);
    await settleAll(r.clock, [t]);
    expect(r.pool.stats().accounts[0]?.pausedForMs).toBeNull();
  });

  it('without a wait in the message, pauses grow with 429s in a row and reset after a success', async () => {
    let calls = 0;
    const r = rig({
      pool: { maxRateLimitBounces: 10 },
      fake: {
        script: () => {
          const n = calls++;
          // 3 TPM 429s, a success, then one more
          return n < 3 || n === 4 ? { status: 429, type: 'rate_limit_reached_error', message: kimi429.tpm(999_999_999, 10_000_000) } : undefined;
        },
      },
    });
    const a = track(ask(r.pool, 'a'));
    await settleAll(r.clock, [a]);
    const b = track(ask(r.pool, 'b'));
    await settleAll(r.clock, [b]);
    expect(r.of('ratelimited').map((x) => x.pausedMs)).toEqual([WINDOW / 8, WINDOW / 4, WINDOW / 2, WINDOW / 8]);
  });
});

describe('bounce bound', () => {
  it('gives up after maxRateLimitBounces with RateLimitError, using no retry', async () => {
    let calls = 0;
    const r = rig({
      pool: { maxRateLimitBounces: 2, retries: 5 },
      fake: {
        script: () => {
          calls++;
          return { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(1000, 1) };
        },
      },
    });
    const t = track(ask(r.pool, 'x'));
    await settleAll(r.clock, [t]);
    const e = t.error as RateLimitError;
    expect(e).toBeInstanceOf(RateLimitError);
    expect(e.message).toMatch(/Gave up after 3 rate-limit 429s \(maxRateLimitBounces: 2\)/);
    expect(e).toMatchObject({ code: 'ERR_RATE_LIMITED', status: 429, kimiType: 'rate_limit_reached_error', key: fingerprint('sk-aaaaaaaaaaaa1'), account: 'org-a', attempts: 1 });
    expect(calls).toBe(3);
    expect(r.of('ratelimited').map((x) => x.bounces)).toEqual([1, 2, 3]);
    expect(r.of('retry')).toEqual([]);
    expect(r.of('failed')).toEqual([expect.objectContaining({ requestId: 1, error: e })]);
    const s = r.pool.stats();
    expect(s).toMatchObject({ failed: 1, bounces: 3, retries: 0 });
    expect(s.accounts[0]).toMatchObject({ started: 3, failed: 1 });
    expect(s.accounts[0]?.tooManyRequests.rpm).toBe(3);
  });

  it('maxRateLimitBounces: 0 fails on the first 429', async () => {
    const r = rig({
      pool: { maxRateLimitBounces: 0 },
      fake: { script: () => ({ status: 429, type: 'rate_limit_reached_error', message: kimi429.concurrency(1) }) },
    });
    const t = track(ask(r.pool, 'x'));
    await settleAll(r.clock, [t]);
    expect(t.error).toBeInstanceOf(RateLimitError);
    expect(r.of('ratelimited')).toHaveLength(1);
  });

  it('a 429 with retry-after headers pauses at least as long as they say', async () => {
    let hit = false;
    const r = rig({
      fake: { script: () => (hit ? undefined : ((hit = true), { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(1000, 1), headers: { 'retry-after-ms': '3500' } })) },
    });
    const t = track(ask(r.pool, 'x'), r.clock);
    await settleAll(r.clock, [t]);
    expect(r.of('ratelimited')[0]?.pausedMs).toBe(3500);
    expect(r.fake.arrivals.map((a) => a.t)).toEqual([3500]);
  });
});
