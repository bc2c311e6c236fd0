/**
 * Discovery and account merging on the injected clock: plain keys grouped
 * into their accounts with Kimi's limits before any request, configured
 * numbers win, an endpoint that fails leaves the configuration, an account
 * with no balance never gets a request, and `Msh-Org-Id` merges two
 * configured accounts that are one.
 */
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/fingerprint.js';
import { KimiPool, type AccountMergedEvent, type DiscoveredEvent, type KimiPoolOptions } from '../../src/index.js';
import { parseBalance, parseMe } from '../../src/pool/kimi-account-api.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { FakeKimi, promptTokens, type FakeAccount } from '../helpers/fake-kimi.js';
import { ask, onFake, ROOMY, settleAll, track, WINDOW } from '../helpers/pool.js';

const key = (org: string, n: number) => `sk-${org}-key-000${n}`;
const ACCOUNTS: FakeAccount[] = ['a', 'b', 'c'].map((o) => ({ id: `org-${o}`, keys: [key(o, 1), key(o, 2)], limits: { ...ROOMY, concurrency: 2, rpm: 8 } }));

function setup(options: Partial<KimiPoolOptions> = {}, accounts = ACCOUNTS) {
  const clock = new ManualClock();
  const fake = new FakeKimi(clock, { windowMs: WINDOW, accounts });
  const pool = new KimiPool({ keys: accounts.flatMap((a) => a.keys).join(','), discover: true, ...onFake(clock, fake), ...options });
  const discovered: DiscoveredEvent[] = [];
  const merged: AccountMergedEvent[] = [];
  pool.on('discovered', (e) => discovered.push(e));
  pool.on('account-merged', (e) => merged.push(e));
  return { clock, fake, pool, discovered, merged };
}

describe('discover: true', () => {
  it('groups 6 plain keys into their 3 accounts with Kimi limits before the first request: zero 429s', async () => {
    const { clock, fake, pool, discovered } = setup();
    const starts: number[] = [];
    pool.on('start', () => starts.push(clock.now()));
    const ts = Array.from({ length: 60 }, (_, i) => track(ask(pool, `r${i}`), clock));
    await settleAll(clock, ts);
    expect(ts.every((t) => t.error === undefined)).toBe(true);
    expect(fake.refused).toEqual([]);
    // Every key was asked (me and balance) before any chat request.
    expect(fake.asked.filter((q) => q.path === 'me')).toHaveLength(6);
    expect(fake.asked.filter((q) => q.path === 'balance')).toHaveLength(6);
    const s = pool.stats();
    expect(s.accounts.map((a) => [a.id, a.keys, a.limits, a.org])).toEqual(
      ACCOUNTS.map((a) => [a.id, a.keys.map(fingerprint), { concurrency: 2, rpm: 8, tpm: ROOMY.tpm, tpd: null }, a.id]),
    );
    expect(discovered).toHaveLength(6);
    expect(discovered.every((d) => d.fallback === undefined && d.balance === 100)).toBe(true);
    expect(discovered[0]).toMatchObject({ key: fingerprint(key('a', 1)), account: 'org-a', org: 'org-a', fromKimi: ['concurrency', 'rpm', 'tpm', 'tpd'] });
    // Each account ran at its own limit, shared by its two keys.
    for (const a of ACCOUNTS) expect(fake.maxInFlight.get(a.id)).toBe(2);
    await pool.close();
  });

  it('a limit given as a number wins over Kimi', async () => {
    const { clock, pool, discovered } = setup({ keys: [{ key: key('a', 1), rpm: 3 }, key('a', 2)] }, [ACCOUNTS[0] as FakeAccount]);
    await settleAll(clock, [track(ask(pool, 'x'), clock)]);
    expect(pool.stats().accounts.map((a) => [a.id, a.limits.rpm, a.limits.concurrency])).toEqual([['org-a', 3, 2]]);
    expect(discovered[0]?.fromKimi).toEqual(['concurrency', 'tpm', 'tpd']);
    await pool.close();
  });

  it('an endpoint that fails leaves the configuration in force and says why', async () => {
    const clock = new ManualClock();
    const fake = new FakeKimi(clock, { windowMs: WINDOW, accounts: [ACCOUNTS[0] as FakeAccount] });
    const fetch: typeof globalThis.fetch = async (input, init) =>
      String(input).endsWith('/users/me') ? new Response('{"error":{"type":"resource_not_found_error","message":"not found"}}', { status: 404 }) : fake.fetch(input as string, init);
    const pool = new KimiPool({ keys: [key('a', 1)], discover: true, tier: 'tier1', windowMs: WINDOW, clock, clientOptions: { fetch }, estimatePromptTokens: (p) => promptTokens(p.messages) });
    const discovered: DiscoveredEvent[] = [];
    pool.on('discovered', (e) => discovered.push(e));
    const t = track(ask(pool, 'x'), clock);
    await settleAll(clock, [t]);
    expect(t.error).toBeUndefined();
    expect(discovered).toEqual([
      { key: fingerprint(key('a', 1)), account: fingerprint(key('a', 1)), org: undefined, limits: { concurrency: 50, rpm: 200, tpm: 2_000_000, tpd: Infinity }, fromKimi: [], balance: 100, fallback: '/users/me: HTTP 404: configured account and limits kept' },
    ]);
    await pool.close();
  });

  it('an account with no balance is out before its first request, and checked later', async () => {
    const { clock, fake, pool } = setup({}, ACCOUNTS.slice(0, 2));
    fake.setAccount('org-a', { balance: 0 });
    const ts = Array.from({ length: 10 }, (_, i) => track(ask(pool, `r${i}`), clock));
    await settleAll(clock, ts);
    expect(ts.every((t) => t.error === undefined)).toBe(true);
    expect(fake.arrivals.filter((a) => a.account === 'org-a')).toEqual([]);
    expect(pool.stats().accounts.find((a) => a.id === 'org-a')).toMatchObject({ disabled: true, nextCheckInMs: expect.any(Number) });
    await pool.close();
  });

  it('addKeys asks about new keys before they take requests and joins them to their account', async () => {
    const { clock, fake, pool } = setup({ keys: [key('a', 1)] }, [ACCOUNTS[0] as FakeAccount]);
    await settleAll(clock, [track(ask(pool, 'x'), clock)]);
    const ids = await pool.addKeys([key('a', 2)]);
    expect(ids).toEqual([fingerprint(key('a', 2))]);
    expect(pool.stats().accounts.map((a) => [a.id, a.keys])).toEqual([['org-a', [fingerprint(key('a', 1)), fingerprint(key('a', 2))]]]);
    expect(fake.asked.filter((q) => q.path === 'me')).toHaveLength(2);
    await pool.close();
  });
});

describe('Msh-Org-Id merges two configured accounts that are one', () => {
  it('into the one with the smaller id, enforced as one from then on', async () => {
    const clock = new ManualClock();
    const fake = new FakeKimi(clock, { windowMs: WINDOW, accounts: [{ id: 'org-a', keys: [key('a', 1), key('a', 2)], limits: { ...ROOMY, concurrency: 2 } }] });
    const pool = new KimiPool({
      keys: [{ key: key('a', 2), account: 'y' }, { key: key('a', 1), account: 'x' }],
      accounts: { x: { ...ROOMY, concurrency: 2 }, y: { ...ROOMY, concurrency: 3 } },
      windowMs: WINDOW, safetyMarginMs: 0, clock, random: () => 0.5, clientOptions: { fetch: fake.fetch }, estimatePromptTokens: (p) => promptTokens(p.messages),
    });
    const merged: AccountMergedEvent[] = [];
    pool.on('account-merged', (e) => merged.push(e));
    // One each first (no 429 possible: 2 in flight), then a burst.
    await settleAll(clock, [track(ask(pool, 'a'), clock), track(ask(pool, 'b'), clock)]);
    expect(merged).toEqual([{ account: 'y', into: 'x', org: 'org-a', keys: [fingerprint(key('a', 1)), fingerprint(key('a', 2))], limits: { ...ROOMY, concurrency: 2 } }]);
    const refusedBefore = fake.refused.length;
    const ts = Array.from({ length: 30 }, (_, i) => track(ask(pool, `r${i}`), clock));
    await settleAll(clock, ts);
    expect(ts.every((t) => t.error === undefined)).toBe(true);
    expect(fake.refused.length).toBe(refusedBefore);
    expect(pool.stats().accounts.map((a) => [a.id, a.keys.length, a.org])).toEqual([['x', 2, 'org-a']]);
    await pool.close();
  });
});

describe('Msh-Org-Id on a 429', () => {
  it('merges as a success would', async () => {
    const clock = new ManualClock();
    const seen = new Set<string>();
    const fake = new FakeKimi(clock, {
      windowMs: WINDOW,
      accounts: [{ id: 'org-a', keys: [key('a', 1), key('a', 2)], limits: ROOMY }],
      // The first request of each key meets a 429 that names the organisation.
      script: ({ key: k }) => {
        if (seen.has(k)) return undefined;
        seen.add(k);
        return { status: 429, type: 'rate_limit_reached_error', message: 'Your account org-a<ak-1> request reached organization max concurrency: 10, please try again after 1 seconds', headers: { 'msh-org-id': 'org-a' } };
      },
    });
    const pool = new KimiPool({
      keys: [{ key: key('a', 1), account: 'x' }, { key: key('a', 2), account: 'y' }],
      accounts: { x: ROOMY, y: ROOMY },
      windowMs: WINDOW, safetyMarginMs: 0, clock, random: () => 0.5, clientOptions: { fetch: fake.fetch }, estimatePromptTokens: (p) => promptTokens(p.messages),
    });
    const merged: AccountMergedEvent[] = [];
    pool.on('account-merged', (e) => merged.push(e));
    const ts = [track(ask(pool, 'a'), clock), track(ask(pool, 'b'), clock)];
    await clock.advance(0);
    // Both answered 429 and nothing succeeded yet: merged all the same.
    expect(ts.some((t) => t.settled)).toBe(false);
    expect(merged.map((m) => [m.account, m.into, m.org])).toEqual([['y', 'x', 'org-a']]);
    await settleAll(clock, ts);
    expect(ts.every((t) => t.error === undefined)).toBe(true);
    expect(pool.stats().accounts.map((a) => a.id)).toEqual(['x']);
    await pool.close();
  });
});

describe('parsing Kimi answers', () => {
  it.each([
    [{ data: { organization: { id: 'o1', max_concurrency: 50, max_request_per_minute: 200, max_token_per_minute: 2e6, max_token_quota: 1e7 } } }, { ok: true, value: { org: 'o1', limits: { concurrency: 50, rpm: 200, tpm: 2e6, tpd: 1e7 } } }],
    [{ data: { organization: { id: 'o1', max_concurrency: 0, max_request_per_minute: 'x' } } }, { ok: true, value: { org: 'o1', limits: { tpd: Infinity } } }],
    [{ data: {} }, { ok: false, reason: '/users/me: no data.organization in the answer' }],
    [{ data: { organization: { id: '' } } }, { ok: false, reason: '/users/me: no data.organization.id in the answer' }],
    [null, { ok: false, reason: '/users/me: no data.organization in the answer' }],
  ])('parseMe(%j)', (body, expected) => expect(parseMe(body)).toEqual(expected));

  it.each([
    [{ code: 0, data: { available_balance: 12.5, voucher_balance: 0, cash_balance: 12.5 } }, { ok: true, value: 12.5 }],
    [{ data: { available_balance: -3 } }, { ok: true, value: -3 }],
    [{ data: {} }, { ok: false, reason: '/users/me/balance: no data.available_balance in the answer' }],
  ])('parseBalance(%j)', (body, expected) => expect(parseBalance(body)).toEqual(expected));
});
