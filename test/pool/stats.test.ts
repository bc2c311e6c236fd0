/** stats(): a JSON-serialisable snapshot whose counters add up. */
import { describe, expect, it } from 'vitest';
import type { Counters } from '../../src/index.js';
import { ask, kimi429, rig, ROOMY, settleAll, track } from '../helpers/pool.js';

type Numeric = Exclude<keyof Counters, 'tooManyRequests'>;
const NUMERIC: Numeric[] = ['started', 'succeeded', 'failed', 'retries', 'serverErrors', 'connectionErrors', 'reservedTokens', 'usedTokens'];
const KINDS = ['rpm', 'tpm', 'tpd', 'concurrency', 'unknown', 'overloaded', 'quota'] as const;

describe('stats()', () => {
  it('is plain JSON, with Infinity as null', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ROOMY, tpd: Infinity } }] });
    const s = r.pool.stats();
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    expect(s.accounts[0]?.limits.tpd).toBeNull();
    expect(s.accounts[0]).toMatchObject({ id: 'org-a', tier: 'tier0', keys: [s.keys[0]?.id], inFlight: 0, pausedForMs: null, nextFreeInMs: 0, disabled: false, disabledReason: null });
    // a snapshot: later changes do not show through
    const before = r.pool.stats();
    await settleAll(r.clock, [track(ask(r.pool, 'x'))]);
    expect(before.accounts[0]?.started).toBe(0);
    expect(before.accounts[0]?.tooManyRequests.rpm).toBe(0);
  });

  it('shows requests in flight and queued while they are', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1', 'sk-aaaaaaaaaaaa2'], limits: { ...ROOMY, concurrency: 2 } }] });
    const ts = Array.from({ length: 5 }, (_, i) => track(ask(r.pool, `x${i}`)));
    await r.clock.advance(1);
    const s = r.pool.stats();
    expect(s).toMatchObject({ queued: 3, inFlight: 2, submitted: 5 });
    expect(s.accounts[0]).toMatchObject({ inFlight: 2, started: 2, startsInWindow: 2, nextFreeInMs: null });
    expect(s.keys.map((k) => k.inFlight)).toEqual([1, 1]);
    expect(s.accounts[0]?.tokensInWindow).toBe(s.accounts[0]?.reservedTokens);
    await settleAll(r.clock, ts);
  });

  it('counters add up: keys to their account, accounts to the pool, starts to what the server saw', async () => {
    let calls = 0;
    const seen = new Set<string>();
    const r = rig({
      accounts: [
        { id: 'org-a', keys: ['sk-aaaaaaaaaaaa1', 'sk-aaaaaaaaaaaa2'], limits: { ...ROOMY, concurrency: 2 } },
        { id: 'org-b', keys: ['sk-bbbbbbbbbbbb1'], limits: { ...ROOMY, concurrency: 2 } },
      ],
      pool: { retries: 1, retryBaseMs: 10, maxRateLimitBounces: 1 },
      fake: {
        script: ({ body }) => {
          calls++;
          const text = JSON.stringify(body.messages);
          const first = !seen.has(text);
          seen.add(text);
          if (text.includes('bad')) return { status: 400, type: 'invalid_request_error', message: 'no' };
          if (text.includes('flaky') && first) return { status: 500, message: 'x' };
          if (text.includes('down')) return { status: 503, message: 'x' };
          if (text.includes('drop') && first) return { status: 0, drop: true };
          if (text.includes('busy') && first) return { status: 429, type: 'engine_overloaded_error', message: 'overloaded' };
          if (text.includes('limited')) return { status: 429, type: 'rate_limit_reached_error', message: kimi429.tpm(10, 10_000_000) };
          if (text.includes('slow') && first) return { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(1000, 1) };
          return undefined;
        },
      },
    });
    const names = ['ok', 'bad', 'flaky', 'down', 'drop', 'busy', 'limited', 'slow', 'ok', 'flaky', 'slow', 'drop', 'busy', 'ok'];
    const ts = names.map((n, i) => track(ask(r.pool, `${n} ${i}`)));
    await settleAll(r.clock, ts);
    const s = r.pool.stats();
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    const ok = ts.filter((t) => t.error === undefined).length;
    expect(s.submitted).toBe(names.length);
    expect(s.succeeded).toBe(ok);
    expect(s.failed).toBe(names.length - ok);
    expect(s.failed).toBeGreaterThanOrEqual(3);
    const sum = <T>(xs: readonly T[], f: (x: T) => number) => xs.reduce((a, x) => a + f(x), 0);
    for (const a of s.accounts) {
      const keys = s.keys.filter((k) => k.account === a.id);
      expect(keys.map((k) => k.id)).toEqual(a.keys);
      for (const c of NUMERIC) expect(sum(keys, (k) => k[c])).toBe(a[c]);
      for (const kind of KINDS) expect(sum(keys, (k) => k.tooManyRequests[kind])).toBe(a.tooManyRequests[kind]);
      expect(sum(keys, (k) => k.inFlight)).toBe(a.inFlight);
      // every attempt that started ended one way: success, final failure, retry, or a 429 that put it back
      const requeued = a.tooManyRequests.rpm + a.tooManyRequests.tpm + a.tooManyRequests.tpd + a.tooManyRequests.concurrency + a.tooManyRequests.unknown;
      const gaveUp = r.of('failed').filter((f) => f.account === a.id && (f.error as { code?: string }).code === 'ERR_RATE_LIMITED').length;
      expect(a.started).toBe(a.succeeded + a.failed + a.retries + requeued - gaveUp);
      // tokens reserved = what the start events reserved; used = what the successes reported
      expect(a.reservedTokens).toBe(sum(r.of('start').filter((x) => x.account === a.id), (x) => x.tokens));
      expect(a.usedTokens).toBe(sum(r.of('success').filter((x) => x.account === a.id), (x) => x.usedTokens ?? 0));
    }
    expect(sum(s.accounts, (a) => a.succeeded)).toBe(s.succeeded);
    expect(sum(s.accounts, (a) => a.failed)).toBe(s.failed);
    expect(sum(s.accounts, (a) => a.retries)).toBe(s.retries);
    expect(sum(s.accounts, (a) => a.tooManyRequests.rpm + a.tooManyRequests.tpm)).toBe(s.bounces);
    expect(sum(s.accounts, (a) => a.started)).toBe(calls);
    expect(s.retries).toBe(r.of('retry').length);
    expect(s.bounces).toBe(r.of('ratelimited').length);
    expect(sum(s.accounts, (a) => a.tooManyRequests.overloaded)).toBeGreaterThan(0);
    expect(sum(s.accounts, (a) => a.serverErrors)).toBeGreaterThan(0);
    expect(sum(s.accounts, (a) => a.connectionErrors)).toBeGreaterThan(0);
  });
});
