/**
 * Every Kimi error class through the real SDK and the pool: which ones fail at
 * once (typed, with status, type, message and the key's fingerprint), and
 * which ones are retried with backoff until they run out of retries.
 */
import { describe, expect, it } from 'vitest';
import * as E from '../../src/errors.js';
import { fingerprint } from '../../src/fingerprint.js';
import type { Scripted } from '../helpers/fake-kimi.js';
import { ask, rig, ROOMY, settleAll, track } from '../helpers/pool.js';

const KEY = 'sk-aaaaaaaaaaaa1';

function faulty(fault: Scripted | ((n: number) => Scripted | undefined), pool = {}) {
  let calls = 0;
  const r = rig({
    accounts: [{ id: 'org-a', keys: [KEY], limits: ROOMY }],
    pool: { retries: 3, retryBaseMs: 100, retryMaxMs: 10_000, ...pool },
    fake: {
      script: () => {
        const n = calls++;
        return typeof fault === 'function' ? fault(n) : fault;
      },
    },
  });
  return { ...r, calls: () => calls };
}

describe('errors that fail the request at once', () => {
  const cases: [string, Scripted, new (...a: never[]) => E.KimiPoolError][] = [
    ['400 invalid_request_error', { status: 400, type: 'invalid_request_error', message: 'Invalid request: prompt too long' }, E.BadRequestError],
    ['400 content_filter', { status: 400, type: 'content_filter', message: 'The request was rejected because it was considered high risk' }, E.ContentFilterError],
    ['403 permission_denied_error', { status: 403, type: 'permission_denied_error', message: 'The API you are accessing is not open' }, E.PermissionDeniedError],
    ['404 resource_not_found_error', { status: 404, type: 'resource_not_found_error', message: 'Not found the model kimi-x or Permission denied' }, E.NotFoundError],
    ['402 (any other status)', { status: 402, type: 'payment_required', message: 'pay first' }, E.APIError],
  ];
  it.each(cases)('%s', async (_, fault, cls) => {
    const r = faulty(fault);
    const t = track(ask(r.pool, 'hi'));
    await settleAll(r.clock, [t]);
    const e = t.error as E.KimiPoolError;
    expect(e).toBeInstanceOf(cls);
    expect(e).toMatchObject({ status: fault.status, kimiType: fault.type, key: fingerprint(KEY), account: 'org-a', attempts: 1 });
    expect(e.message).toContain(fault.message);
    expect(e.message).not.toContain(KEY);
    expect(r.calls()).toBe(1);
    expect(r.of('retry')).toEqual([]);
    expect(r.of('failed')).toEqual([expect.objectContaining({ requestId: 1, key: fingerprint(KEY), account: 'org-a', attempt: 1, error: e })]);
    const s = r.pool.stats();
    expect(s).toMatchObject({ submitted: 1, succeeded: 0, failed: 1, retries: 0, queued: 0, inFlight: 0 });
    expect(s.accounts[0]).toMatchObject({ started: 1, failed: 1, retries: 0, inFlight: 0 });
    expect(s.accounts[0]?.disabled).toBe(false);
    expect(s.keys[0]?.disabled).toBe(false);
  });
});

describe('transient errors are retried with backoff', () => {
  const cases: [string, Scripted, string, new (...a: never[]) => E.KimiPoolError][] = [
    ['429 engine_overloaded_error', { status: 429, type: 'engine_overloaded_error', message: 'The engine is currently overloaded, please try again later' }, 'overloaded', E.OverloadedError],
    ['500 server_error', { status: 500, type: 'server_error', message: 'internal' }, 'serverErrors', E.ServerError],
    ['500 unexpected_output', { status: 500, type: 'unexpected_output', message: 'odd output' }, 'serverErrors', E.ServerError],
    ['503 unavailable', { status: 503, message: 'Service Unavailable' }, 'serverErrors', E.ServerError],
    ['504 gateway timeout', { status: 504, message: 'Gateway Timeout' }, 'serverErrors', E.ServerError],
    ['malformed JSON body', { status: 200, body: '{"id": "cmpl-1", "choices": [' }, 'serverErrors', E.ServerError],
    ['connection drop', { status: 0, drop: true }, 'connectionErrors', E.ConnectionError],
    ['connect timeout', { status: 0, drop: 'timeout' }, 'connectionErrors', E.ConnectionError],
  ];

  it.each(cases)('%s: retried, then succeeds', async (_, fault, counter) => {
    const r = faulty((n) => (n === 0 ? fault : undefined));
    const t = track(ask(r.pool, 'hi'), r.clock);
    await settleAll(r.clock, [t]);
    expect(t.error).toBeUndefined();
    expect(t.value?.choices[0]?.message.content).toBe('echo: hi');
    expect(r.calls()).toBe(2);
    const [retry] = r.of('retry');
    // first retry: base 100 * 2^0 with equal jitter at random 0.5 -> 75 ms
    expect(retry).toMatchObject({ requestId: 1, key: fingerprint(KEY), account: 'org-a', attempt: 2, delayMs: 75 });
    const starts = r.of('start');
    expect(starts.map((s) => s.attempt)).toEqual([1, 2]);
    const retryAt = r.events.find((e) => e.name === 'retry')?.t as number;
    const secondStart = r.events.filter((e) => e.name === 'start')[1]?.t as number;
    expect(secondStart - retryAt).toBe(75);
    const s = r.pool.stats();
    expect(s).toMatchObject({ submitted: 1, succeeded: 1, failed: 0, retries: 1 });
    const acct = s.accounts[0] as unknown as Record<string, unknown> & { tooManyRequests: Record<string, number> };
    const count = counter === 'overloaded' ? acct.tooManyRequests.overloaded : acct[counter];
    expect(count).toBe(1);
    expect(acct.retries).toBe(1);
    expect(r.of('success')).toEqual([expect.objectContaining({ requestId: 1, attempt: 2 })]);
  });

  it.each(cases)('%s: retries exhausted -> typed error with attempts', async (_, fault, __, cls) => {
    const r = faulty(fault, { retries: 2 });
    const t = track(ask(r.pool, 'hi'), r.clock);
    await settleAll(r.clock, [t]);
    const e = t.error as E.KimiPoolError;
    expect(e).toBeInstanceOf(cls);
    expect(e.attempts).toBe(3);
    expect(e.key).toBe(fingerprint(KEY));
    expect(r.calls()).toBe(3);
    expect(r.of('retry').map((x) => [x.attempt, x.delayMs])).toEqual([
      [2, 75],
      [3, 150],
    ]);
    expect(r.pool.stats()).toMatchObject({ submitted: 1, succeeded: 0, failed: 1, retries: 2 });
    expect(r.pool.stats().accounts[0]).toMatchObject({ started: 3, retries: 2, failed: 1 });
  });

  it('retries: 0 fails on the first transient fault', async () => {
    const r = faulty({ status: 500, message: 'x' }, { retries: 0 });
    const t = track(ask(r.pool, 'hi'));
    await settleAll(r.clock, [t]);
    expect(t.error).toBeInstanceOf(E.ServerError);
    expect((t.error as E.ServerError).attempts).toBe(1);
    expect(r.calls()).toBe(1);
  });

  it('backoff grows exponentially with jitter and is capped by retryMaxMs', async () => {
    const r = faulty({ status: 500, message: 'x' }, { retries: 6, retryBaseMs: 100, retryMaxMs: 1000, random: () => 0 });
    const t = track(ask(r.pool, 'hi'));
    await settleAll(r.clock, [t]);
    expect(r.of('retry').map((x) => x.delayMs)).toEqual([50, 100, 200, 400, 500, 500]);
  });

  it('honours retry-after-ms and retry-after when longer than the backoff', async () => {
    const headers: Record<string, string>[] = [{ 'retry-after-ms': '2500' }, { 'retry-after': '4' }, {}];
    const r = faulty((n) => (n < 3 ? { status: 503, message: 'busy', headers: headers[n] } : undefined), { retries: 5 });
    const t = track(ask(r.pool, 'hi'), r.clock);
    await settleAll(r.clock, [t]);
    expect(t.error).toBeUndefined();
    expect(r.of('retry').map((x) => x.delayMs)).toEqual([2500, 4000, 300]);
    const starts = r.events.filter((e) => e.name === 'start').map((e) => e.t);
    // fake latency 0 for scripted answers: each start follows the last by the delay
    expect(starts).toEqual([0, 2500, 6500, 6800]);
  });

  it('retries on any account: the retry may run elsewhere', async () => {
    let calls = 0;
    const r = rig({
      accounts: [
        { id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ROOMY },
        { id: 'org-b', keys: ['sk-bbbbbbbbbbbb1'], limits: ROOMY },
      ],
      pool: { retries: 2, retryBaseMs: 100 },
      fake: { script: () => (calls++ === 0 ? { status: 500, message: 'x' } : undefined) },
    });
    const t = track(ask(r.pool, 'hi'));
    await settleAll(r.clock, [t]);
    expect(t.error).toBeUndefined();
    expect(r.of('start').map((s) => s.account)).toEqual(['org-a', 'org-b']);
  });
});
