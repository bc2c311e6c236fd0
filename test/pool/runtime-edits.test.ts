/**
 * Runtime edits on the injected clock: keys added and removed mid-run lose
 * nothing, a tier upgrade lets more requests start per window, pause/resume,
 * clear, size and pending as p-queue users know them.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, QueueClearedError } from '../../src/errors.js';
import { fingerprint } from '../../src/fingerprint.js';
import type { KeyAddedEvent, KeyRemovedEvent, LimitsChangedEvent } from '../../src/index.js';
import { ask, rig, ROOMY, settleAll, track, WINDOW } from '../helpers/pool.js';

const A1 = 'sk-aaaaaaaaaaaa1';
const A2 = 'sk-aaaaaaaaaaaa2';
const B1 = 'sk-bbbbbbbbbbbb1';

describe('a key added and one removed mid-run', () => {
  it('lose no request; the removed key takes nothing once removed, the added one takes work', async () => {
    // The server knows both keys; the pool starts with A1 only.
    const r = rig({ accounts: [{ id: 'org-a', keys: [A1, A2], limits: { ...ROOMY, concurrency: 2 } }], pool: { keys: [{ key: A1, account: 'org-a' }] } });
    const added: KeyAddedEvent[] = [];
    const removed: KeyRemovedEvent[] = [];
    r.pool.on('key-added', (e) => added.push(e));
    r.pool.on('key-removed', (e) => removed.push(e));
    const ts = Array.from({ length: 30 }, (_, i) => track(ask(r.pool, `r${i}`), r.clock));
    await r.clock.advance(250);
    expect(r.pool.pending).toBe(2);
    const ids = await r.pool.addKeys([{ key: A2, account: 'org-a' }]);
    expect(ids).toEqual([fingerprint(A2)]);
    let removedAt = NaN;
    const removal = r.pool.removeKey(fingerprint(A1)).then(() => (removedAt = r.clock.now()));
    await settleAll(r.clock, ts);
    await removal;
    expect(ts.every((t) => t.error === undefined)).toBe(true);
    const s = r.pool.stats();
    expect(s.succeeded).toBe(30);
    expect(s.failed).toBe(0);
    expect(s.keys.map((k) => k.id)).toEqual([fingerprint(A2)]);
    expect(added).toEqual([{ key: fingerprint(A2), account: 'org-a' }]);
    expect(removed).toEqual([{ key: fingerprint(A1), account: 'org-a' }]);
    // A1's requests in flight ended on it (drain), then nothing more went there.
    expect(removedAt).toBeLessThanOrEqual(250 + 100);
    const starts = r.of('start');
    const lastA1 = Math.max(...r.events.filter((e) => e.name === 'start' && (e.payload as { key: string }).key === fingerprint(A1)).map((e) => e.t));
    expect(lastA1).toBeLessThan(250);
    expect(starts.filter((e) => e.key === fingerprint(A2)).length).toBeGreaterThan(20);
    expect(r.fake.refused).toEqual([]);
    await r.pool.close();
  });

  it('rejects a key already in the pool and an unknown id, naming them', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: [A1], limits: ROOMY }] });
    await expect(r.pool.addKeys([A1])).rejects.toThrow(ConfigError);
    await expect(r.pool.addKeys([A1])).rejects.toThrow(/already in the pool/);
    await expect(r.pool.addKeys([A1])).rejects.not.toThrow(A1);
    await expect(r.pool.removeKey('nope')).rejects.toThrow(/no key with id "nope"/);
    expect(() => r.pool.setLimits('org-z', { rpm: 5 })).toThrow(/no account "org-z"/);
    expect(() => r.pool.setLimits('org-a', { rpm: -1 })).toThrow(/limits\.rpm/);
    expect(() => r.pool.setLimits('org-a', 'tier9' as never)).toThrow(/unknown tier/);
    await r.pool.close();
  });

  it('a key of a new account makes a new account that takes work', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: [A1], limits: { ...ROOMY, concurrency: 1 } }, { id: 'org-b', keys: [B1], limits: { ...ROOMY, concurrency: 1 } }] });
    // The pool starts without org-b's key.
    const pool = r.pool;
    await pool.removeKey(fingerprint(B1));
    expect(pool.stats().accounts.map((a) => a.id)).toEqual(['org-a']);
    const ts = Array.from({ length: 10 }, (_, i) => track(ask(pool, `r${i}`), r.clock));
    await r.clock.advance(150);
    await pool.addKeys([{ key: B1, account: 'org-b', concurrency: 1 }]);
    await settleAll(r.clock, ts);
    expect(ts.every((t) => t.error === undefined)).toBe(true);
    expect(r.of('start').filter((e) => e.account === 'org-b').length).toBeGreaterThan(0);
    expect(pool.stats().accounts.map((a) => a.id)).toEqual(['org-a', 'org-b']);
    await pool.close();
  });
});

describe('setLimits (a tier upgrade) mid-run', () => {
  it('lets the account start more requests per window from then on', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: [A1], limits: { ...ROOMY, rpm: 2 } }] });
    const changed: LimitsChangedEvent[] = [];
    r.pool.on('limits-changed', (e) => changed.push(e));
    const ts = Array.from({ length: 20 }, (_, i) => track(ask(r.pool, `r${i}`), r.clock));
    await r.clock.advance(2 * WINDOW + 500);
    const upgradeAt = r.clock.now();
    r.fake.setAccount('org-a', { limits: { rpm: 6 } });
    r.pool.setLimits('org-a', { rpm: 6 });
    await settleAll(r.clock, ts);
    expect(ts.every((t) => t.error === undefined)).toBe(true);
    const starts = r.events.filter((e) => e.name === 'start').map((e) => e.t);
    const inWindow = (from: number) => starts.filter((t) => t >= from && t < from + WINDOW).length;
    // Before: never more than 2 in any window; after: up to 6 in one window.
    for (const t of starts.filter((x) => x < upgradeAt)) expect(inWindow(t)).toBeLessThanOrEqual(2);
    const after = starts.filter((t) => t >= upgradeAt);
    expect(Math.max(...after.map(inWindow))).toBe(6);
    expect(r.fake.refused).toEqual([]);
    expect(changed).toEqual([{ account: 'org-a', reason: 'set', previous: { ...ROOMY, rpm: 2 }, limits: { ...ROOMY, rpm: 6 } }]);
    expect(r.pool.stats().accounts[0]?.configuredLimits.rpm).toBe(6);
    await r.pool.close();
  });

  it('takes a tier name', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: [A1], limits: ROOMY }] });
    r.pool.setLimits('org-a', 'tier2');
    expect(r.pool.stats().accounts[0]?.limits).toEqual({ concurrency: 100, rpm: 500, tpm: 3_000_000, tpd: null });
    await r.pool.close();
  });
});

describe('pause, resume, clear, size, pending', () => {
  it('holds new starts while paused, and clear() rejects only what waits', async () => {
    const r = rig({ accounts: [{ id: 'org-a', keys: [A1], limits: { ...ROOMY, concurrency: 2 } }] });
    const first = [track(ask(r.pool, 'a'), r.clock), track(ask(r.pool, 'b'), r.clock)];
    await r.clock.advance(10);
    expect(r.pool.pending).toBe(2);
    r.pool.pause();
    expect(r.pool.isPaused).toBe(true);
    const later = Array.from({ length: 3 }, (_, i) => track(ask(r.pool, `w${i}`), r.clock));
    await r.clock.advance(WINDOW);
    // The running ones finished; nothing new started.
    expect(first.every((t) => t.settled && t.error === undefined)).toBe(true);
    expect(r.pool.size).toBe(3);
    expect(r.pool.pending).toBe(0);
    expect(r.pool.stats().paused).toBe(true);
    r.pool.resume();
    await r.clock.advance(0);
    expect(r.pool.pending).toBe(2);
    expect(r.pool.size).toBe(1);
    expect(r.pool.clear()).toBe(1);
    await settleAll(r.clock, later);
    expect(later.filter((t) => t.error === undefined)).toHaveLength(2);
    expect(later[2]?.error).toBeInstanceOf(QueueClearedError);
    expect(r.pool.stats()).toMatchObject({ succeeded: 4, failed: 1, queued: 0, inFlight: 0 });
    await r.pool.close();
  });
});
