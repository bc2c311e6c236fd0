/**
 * Recovery on the injected clock: a quota-disabled account is checked on a
 * backoff schedule and comes back once topped up; a limit learned from a 429
 * eases back toward the configured one after quiet windows.
 */
import { describe, expect, it } from 'vitest';
import type { AccountCheckEvent, AccountRestoredEvent, LimitsChangedEvent } from '../../src/index.js';
import { CHECK_AFTER_WINDOWS, easeToward, EASE_AFTER_WINDOWS } from '../../src/pool/recovery.js';
import { ask, kimi429, rig, ROOMY, settleAll, track, WINDOW } from '../helpers/pool.js';

const A1 = 'sk-aaaaaaaaaaaa1';
const B1 = 'sk-bbbbbbbbbbbb1';

describe('an account out of balance, then topped up', () => {
  it('is checked on its schedule, sends nothing while out, takes one request on trial, then comes back', async () => {
    const r = rig({
      accounts: [
        { id: 'org-a', keys: [A1], limits: { ...ROOMY, concurrency: 2 } },
        { id: 'org-b', keys: [B1], limits: { ...ROOMY, concurrency: 1 } },
      ],
    });
    const checks: (AccountCheckEvent & { t: number })[] = [];
    const restored: AccountRestoredEvent[] = [];
    r.pool.on('account-check', (e) => checks.push({ ...e, t: r.clock.now() }));
    r.pool.on('account-restored', (e) => restored.push(e));
    r.fake.setAccount('org-a', { balance: 0 });
    // Enough work for org-b alone to outlast the third check.
    const ts = Array.from({ length: 150 }, (_, i) => track(ask(r.pool, `r${i}`), r.clock));
    await r.clock.advance(10);
    const [off] = r.of('account-disabled');
    expect(off).toMatchObject({ account: 'org-a', kimiType: 'exceeded_current_quota_error' });
    const offAt = r.events.find((e) => e.name === 'account-disabled')?.t as number;
    // Two checks find no balance: 1 and then 2 windows later.
    await r.clock.advance(3 * WINDOW + 50);
    expect(checks.map((c) => [c.t - offAt, c.ok, c.balance])).toEqual([
      [CHECK_AFTER_WINDOWS[0]! * WINDOW, false, 0],
      [(CHECK_AFTER_WINDOWS[0]! + CHECK_AFTER_WINDOWS[1]!) * WINDOW, false, 0],
    ]);
    expect(r.pool.stats().accounts[0]).toMatchObject({ id: 'org-a', disabled: true, nextCheckInMs: expect.any(Number) });
    // Nothing was sent to org-a while it was out.
    const aStarts = () => r.of('start').filter((e) => e.account === 'org-a');
    const startsBefore = aStarts().length;
    r.fake.setAccount('org-a', { balance: 50 });
    await settleAll(r.clock, ts);
    expect(ts.every((t) => t.error === undefined)).toBe(true);
    expect(r.pool.stats()).toMatchObject({ succeeded: 150, failed: 0 });
    const third = checks[2] as AccountCheckEvent & { t: number };
    expect(third).toMatchObject({ ok: true, balance: 50 });
    expect(third.t - offAt).toBe((CHECK_AFTER_WINDOWS[0]! + CHECK_AFTER_WINDOWS[1]! + CHECK_AFTER_WINDOWS[2]!) * WINDOW);
    expect(r.events.filter((e) => e.name === 'start' && (e.payload as { account: string }).account === 'org-a' && e.t > offAt && e.t < third.t)).toEqual([]);
    // The trial ran alone; after it succeeded the account ran two at a time again.
    const trial = aStarts()[startsBefore];
    expect(trial).toBeDefined();
    expect(restored).toEqual([{ account: 'org-a', disabledMs: expect.any(Number) }]);
    expect(r.fake.maxInFlight.get('org-a')).toBe(2);
    expect(aStarts().length - startsBefore).toBeGreaterThan(1);
    expect(r.pool.stats().accounts[0]).toMatchObject({ disabled: false, onTrial: false, nextCheckInMs: null });
    await r.pool.close();
  });

  it('a quota error on trial disables it again, checked later', async () => {
    const r = rig({
      accounts: [
        { id: 'org-a', keys: [A1], limits: { ...ROOMY, concurrency: 1 } },
        { id: 'org-b', keys: [B1], limits: { ...ROOMY, concurrency: 1 } },
      ],
      // Suspended with money on it: the balance looks fine, the trial request says otherwise.
      fake: { script: ({ account }) => (account === 'org-a' ? { status: 429, type: 'exceeded_current_quota_error', message: 'Your account org-a<ak-1> is suspended, please check your plan and billing details' } : undefined) },
    });
    const checks: AccountCheckEvent[] = [];
    r.pool.on('account-check', (e) => checks.push(e));
    const ts = Array.from({ length: 60 }, (_, i) => track(ask(r.pool, `r${i}`), r.clock));
    await settleAll(r.clock, ts);
    expect(ts.every((t) => t.error === undefined)).toBe(true);
    // Disabled once; each check puts it on trial and the trial fails (no new account-disabled).
    expect(r.of('account-disabled')).toHaveLength(1);
    const balanceChecks = checks.filter((c) => c.balance !== undefined);
    const trials = checks.filter((c) => c.balance === undefined);
    expect(balanceChecks.length).toBeGreaterThanOrEqual(1);
    expect(balanceChecks.every((c) => c.ok)).toBe(true);
    expect(trials.map((c) => c.ok)).toEqual(balanceChecks.map(() => false));
    expect(trials[0]?.message).toMatch(/^the trial request failed \(Your account org-a<ak-1> is suspended/);
    // One trial request per check, never two at a time.
    const aStarts = r.of('start').filter((e) => e.account === 'org-a');
    expect(aStarts.length).toBe(1 + balanceChecks.length);
    await r.pool.close();
  });
});

describe('a limit learned from a 429 eases back', () => {
  it('halfway toward the configured one after each quiet period, with an event each time', async () => {
    let hit = false;
    const r = rig({
      accounts: [{ id: 'org-a', keys: [A1], limits: { ...ROOMY, rpm: 100 } }],
      fake: {
        script: () => {
          if (hit) return undefined;
          hit = true;
          return { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(20, 1) };
        },
      },
    });
    const changed: (LimitsChangedEvent & { t: number })[] = [];
    r.pool.on('limits-changed', (e) => changed.push({ ...e, t: r.clock.now() }));
    const t = track(ask(r.pool, 'x'), r.clock);
    await settleAll(r.clock, [t]);
    expect(r.pool.stats().accounts[0]?.limits.rpm).toBe(20);
    await r.clock.advance(5 * EASE_AFTER_WINDOWS * WINDOW);
    expect(changed.map((c) => [c.reason, c.previous.rpm, c.limits.rpm, c.t])).toEqual([
      ['eased', 20, 60, EASE_AFTER_WINDOWS * WINDOW],
      ['eased', 60, 80, 2 * EASE_AFTER_WINDOWS * WINDOW],
      ['eased', 80, 90, 3 * EASE_AFTER_WINDOWS * WINDOW],
      ['eased', 90, 95, 4 * EASE_AFTER_WINDOWS * WINDOW],
      ['eased', 95, 98, 5 * EASE_AFTER_WINDOWS * WINDOW],
    ]);
    await r.clock.advance(2 * EASE_AFTER_WINDOWS * WINDOW);
    expect(r.pool.stats().accounts[0]?.limits.rpm).toBe(100);
    await r.pool.close();
  });

  it('easeToward: halfway, doubled toward unlimited, TPD only after a day', () => {
    const configured = { concurrency: 10, rpm: 100, tpm: Infinity, tpd: Infinity };
    expect(easeToward({ concurrency: 2, rpm: 99, tpm: 1000, tpd: 5000 }, configured, false)).toEqual({ concurrency: 6, rpm: 100, tpm: 2000, tpd: 5000 });
    expect(easeToward({ concurrency: 10, rpm: 100, tpm: 6e8, tpd: 5000 }, configured, true)).toEqual({ concurrency: 10, rpm: 100, tpm: Infinity, tpd: 10_000 });
  });
});
