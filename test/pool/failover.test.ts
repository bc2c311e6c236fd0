/**
 * 401 disables the key, quota errors disable the account; their work runs
 * elsewhere without using a retry. When no key is left, everything waiting
 * rejects with NoUsableKeyError and later calls reject at once.
 */
import { describe, expect, it } from 'vitest';
import { NoUsableKeyError, RequestTooLargeError } from '../../src/errors.js';
import { fingerprint } from '../../src/fingerprint.js';
import { ask, rig, ROOMY, settleAll, track } from '../helpers/pool.js';

const A1 = 'sk-aaaaaaaaaaaa1';
const A2 = 'sk-aaaaaaaaaaaa2';
const B1 = 'sk-bbbbbbbbbbbb1';

describe('401: the key is disabled, the request runs on another key', () => {
  it('reroutes to the other key of the same account, no retry used', async () => {
    const r = rig({
      accounts: [{ id: 'org-a', keys: [A1, A2], limits: ROOMY }],
      fake: { script: ({ key }) => (key === A1 ? { status: 401, type: 'invalid_authentication_error', message: 'Invalid Authentication' } : undefined) },
    });
    const ts = [track(ask(r.pool, 'one')), track(ask(r.pool, 'two')), track(ask(r.pool, 'three'))];
    await settleAll(r.clock, ts);
    expect(ts.map((t) => t.error)).toEqual([undefined, undefined, undefined]);
    expect(ts.map((t) => t.value?.choices[0]?.message.content)).toEqual(['echo: one', 'echo: two', 'echo: three']);
    expect(r.of('key-disabled')).toEqual([{ key: fingerprint(A1), account: 'org-a', status: 401, kimiType: 'invalid_authentication_error', message: 'Invalid Authentication' }]);
    expect(r.of('retry')).toEqual([]);
    expect(r.of('account-disabled')).toEqual([]);
    // every success ran on A2, on its first attempt
    expect(r.of('success').every((s) => s.key === fingerprint(A2) && s.attempt === 1)).toBe(true);
    expect(r.fake.arrivals.every((a) => a.key === A2)).toBe(true);
    const s = r.pool.stats();
    expect(s.keys.map((k) => [k.disabled, k.disabledReason])).toEqual([
      [true, '401 invalid_authentication_error'],
      [false, null],
    ]);
    expect(s.accounts[0]?.disabled).toBe(false);
    expect(s.retries).toBe(0);
    // Round-robin sent one of the first requests to A1 before its 401 came back.
    const onA1 = r.of('start').filter((x) => x.key === fingerprint(A1)).length;
    expect(onA1).toBeGreaterThanOrEqual(1);
    expect(s.keys.map((k) => k.authErrors)).toEqual([onA1, 0]);
    expect(s.accounts[0]?.authErrors).toBe(onA1);
  });

  it('reroutes to another account', async () => {
    const r = rig({
      accounts: [
        { id: 'org-a', keys: [A1], limits: ROOMY },
        { id: 'org-b', keys: [B1], limits: ROOMY },
      ],
      fake: { script: ({ key }) => (key === A1 ? { status: 401, type: 'incorrect_api_key_error', message: 'bad key' } : undefined) },
    });
    const t = track(ask(r.pool, 'x'));
    await settleAll(r.clock, [t]);
    expect(t.value?.choices[0]?.message.content).toBe('echo: x');
    expect(r.of('start').map((s) => [s.account, s.attempt])).toEqual([
      ['org-a', 1],
      ['org-b', 1],
    ]);
    const s = r.pool.stats();
    expect(s.accounts.map((a) => [a.id, a.disabled, a.disabledReason])).toEqual([
      ['org-a', true, 'every key disabled'],
      ['org-b', false, null],
    ]);
    expect(s.accounts[0]?.nextFreeInMs).toBeNull();
  });
});

describe('quota: the account is disabled, all its keys stop', () => {
  it.each([
    [403, 'Your account org-a<ak-1> is suspended, please check your plan and billing details'],
    [429, 'You exceeded your current token quota: <org-a> 0.0, please check your account balance'],
  ])('%i exceeded_current_quota_error', async (status, message) => {
    let quotaHits = 0;
    const r = rig({
      accounts: [
        { id: 'org-a', keys: [A1, A2], limits: ROOMY },
        { id: 'org-b', keys: [B1], limits: ROOMY },
      ],
      fake: {
        script: ({ account }) => {
          if (account !== 'org-a') return undefined;
          quotaHits++;
          return { status, type: 'exceeded_current_quota_error', message };
        },
      },
    });
    const ts = Array.from({ length: 6 }, (_, i) => track(ask(r.pool, `q${i}`)));
    await settleAll(r.clock, ts);
    expect(ts.every((t) => t.error === undefined)).toBe(true);
    expect(r.of('account-disabled')).toEqual([{ account: 'org-a', key: fingerprint(A1), status, kimiType: 'exceeded_current_quota_error', message }]);
    // Only the requests already in flight there hit the quota; nothing started on org-a after.
    const disabledAt = r.events.find((e) => e.name === 'account-disabled')?.t as number;
    expect(r.events.filter((e) => e.name === 'start' && (e.payload as { account: string }).account === 'org-a' && e.t > disabledAt)).toEqual([]);
    expect(r.of('start').filter((x) => x.account === 'org-a')).toHaveLength(quotaHits);
    expect(quotaHits).toBeGreaterThanOrEqual(1);
    expect(r.of('retry')).toEqual([]);
    expect(r.of('key-disabled')).toEqual([]);
    const s = r.pool.stats();
    expect(s.accounts[0]).toMatchObject({ disabled: true, disabledReason: `${status} exceeded_current_quota_error` });
    expect(s.accounts[0]?.tooManyRequests.quota).toBe(status === 429 ? quotaHits : 0);
    expect(s.accounts[0]?.quotaErrors).toBe(quotaHits);
    expect(s.accounts[1]?.succeeded).toBe(6);
    // later requests never go to org-a
    const later = track(ask(r.pool, 'later'));
    await settleAll(r.clock, [later]);
    expect(later.value?.choices[0]?.message.content).toBe('echo: later');
    expect(r.fake.arrivals.every((a) => a.account === 'org-b')).toBe(true);
  });
});

describe('no usable key left', () => {
  it('rejects every queued request with one NoUsableKeyError, and later calls at once', async () => {
    const r = rig({
      accounts: [{ id: 'org-a', keys: [A1], limits: { ...ROOMY, concurrency: 1 } }],
      fake: { script: () => ({ status: 401, type: 'invalid_authentication_error', message: 'Invalid Authentication' }) },
    });
    const ts = Array.from({ length: 4 }, (_, i) => track(ask(r.pool, `x${i}`)));
    await settleAll(r.clock, ts);
    const errors = ts.map((t) => t.error);
    expect(errors.every((e) => e instanceof NoUsableKeyError)).toBe(true);
    expect(new Set(errors).size).toBe(1);
    expect((errors[0] as Error).message).toBe(`No usable key left: every key is revoked or its account disabled (key ${fingerprint(A1)} (account org-a): 401 invalid_authentication_error "Invalid Authentication")`);
    expect((errors[0] as Error).message).not.toContain(A1);
    expect(r.of('failed')).toHaveLength(4);
    expect(r.pool.stats()).toMatchObject({ queued: 0, inFlight: 0, failed: 4, submitted: 4 });
    await expect(ask(r.pool, 'later')).rejects.toBe(errors[0]);
    await expect(r.pool.schedule(() => 1)).rejects.toBeInstanceOf(NoUsableKeyError);
  });

  it("names each key or account once, with Kimi's message, never a key", async () => {
    const quota = `Your account org-b<ak-1> is suspended, please check your plan and billing details (${B1})`;
    const r = rig({
      accounts: [
        { id: 'org-a', keys: [A1, A2], limits: ROOMY },
        { id: 'org-b', keys: [B1], limits: ROOMY },
      ],
      fake: {
        script: ({ account }) =>
          account === 'org-a'
            ? { status: 401, type: 'invalid_authentication_error', message: 'Invalid Authentication' }
            : { status: 403, type: 'exceeded_current_quota_error', message: quota },
      },
    });
    const ts = Array.from({ length: 4 }, (_, i) => track(ask(r.pool, `x${i}`)));
    await settleAll(r.clock, ts);
    const message = (ts[0]?.error as Error).message;
    expect(message).toBe(
      'No usable key left: every key is revoked or its account disabled (' +
        `key ${fingerprint(A1)} (account org-a): 401 invalid_authentication_error "Invalid Authentication"; ` +
        `key ${fingerprint(A2)} (account org-a): 401 invalid_authentication_error "Invalid Authentication"; ` +
        `account org-b: 403 exceeded_current_quota_error "${quota.replace(B1, fingerprint(B1))}")`,
    );
    expect(message).not.toContain(B1);
  });

  // One key, two requests in flight: one gets a 500 (retry), the other a 401 (the last key goes).
  it.each([
    ['a request in backoff when the last key dies', 50, 60],
    ['a request that gets a transient fault after the last key died', 60, 50],
  ])('%s rejects too (does not hang)', async (_, fiveHundredAfterMs, fourOhOneAfterMs) => {
    let calls = 0;
    const r = rig({
      accounts: [{ id: 'org-a', keys: [A1], limits: ROOMY }],
      pool: { retries: 3, retryBaseMs: 100 },
      fake: {
        script: () =>
          calls++ === 0
            ? { status: 500, message: 'boom', delayMs: fiveHundredAfterMs }
            : { status: 401, type: 'invalid_authentication_error', message: 'Invalid Authentication', delayMs: fourOhOneAfterMs },
      },
    });
    const a = track(ask(r.pool, 'a'));
    const b = track(ask(r.pool, 'b'));
    await settleAll(r.clock, [a, b], 10_000);
    expect(a.error).toBeInstanceOf(NoUsableKeyError);
    expect(b.error).toBeInstanceOf(NoUsableKeyError);
    expect(r.pool.stats()).toMatchObject({ inFlight: 0, queued: 0, failed: 2 });
  });
});

describe('RequestTooLargeError', () => {
  it('rejects at once a reservation above every account TPM, and one above TPD', async () => {
    const r = rig({
      accounts: [
        { id: 'org-a', keys: [A1], limits: { ...ROOMY, tpm: 1000 } },
        { id: 'org-b', keys: [B1], limits: { ...ROOMY, tpm: 2000, tpd: 1500 } },
      ],
    });
    const big = ask(r.pool, 'x', undefined, { max_tokens: 2500 });
    await expect(big).rejects.toBeInstanceOf(RequestTooLargeError);
    await expect(big).rejects.toMatchObject({ code: 'ERR_REQUEST_TOO_LARGE', message: expect.stringContaining('largest TPM 2000') });
    // 1600 fits org-b's TPM but not its TPD, nor org-a's TPM
    await expect(r.pool.schedule(() => 1, { tokens: 1600 })).rejects.toBeInstanceOf(RequestTooLargeError);
    await expect(r.pool.schedule(() => 1, { tokens: 1000 })).resolves.toBe(1);
    expect(r.pool.stats().submitted).toBe(1);
    expect(r.of('queued')).toHaveLength(1);
  });

  it('a queued request that no longer fits after a 429 taught a lower TPM fails with it', async () => {
    let first = true;
    const r = rig({
      accounts: [{ id: 'org-a', keys: [A1], limits: { ...ROOMY, concurrency: 1, tpm: 10_000 } }],
      fake: {
        script: () => {
          if (!first) return undefined;
          first = false;
          return { status: 429, type: 'rate_limit_reached_error', message: 'Your account org-a<ak-1> request reached organization TPM rate limit, current:600, limit:500' };
        },
      },
    });
    const small = track(r.pool.schedule(({ client }) => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }), { tokens: 100 }));
    const large = track(r.pool.schedule(() => 'never', { tokens: 800 }));
    await settleAll(r.clock, [small, large]);
    expect(small.error).toBeUndefined();
    expect(large.error).toBeInstanceOf(RequestTooLargeError);
    expect(r.pool.stats().accounts[0]?.limits.tpm).toBe(500);
  });
});
