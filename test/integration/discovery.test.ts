/**
 * Discovery over real HTTP: the simulator answers /v1/users/me and
 * /v1/users/me/balance in Kimi's shapes; 6 plain key strings, pairs of one
 * account, run grouped with the accounts' real limits, zero 429s. Two keys
 * configured apart that Kimi answers for as one are merged (Msh-Org-Id).
 */
import { channel } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/fingerprint.js';
import { KimiPool, type AccountMergedEvent, type DiscoveredEvent } from '../../src/index.js';
import { startKimiSimulator, type KimiSimulator } from '../../src/testing/index.js';

let sim: KimiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const key = (org: string, n: number) => `sk-${org}-integration-000${n}`;

describe('discover: true on the simulator', () => {
  it('6 plain keys of 3 accounts: grouped, their limits in force, zero 429s', async () => {
    const orgs = ['a', 'b', 'c'];
    // Concurrency binds (RPM is far above what runs): counted as 6 accounts the pool would send 12 at once.
    sim = await startKimiSimulator({ latencyMs: 40, accounts: orgs.map((o) => ({ id: `org-${o}`, keys: [key(o, 1), key(o, 2)], tier: 'tier2' as const, limits: { concurrency: 2 } })) });
    const pool = new KimiPool({ keys: orgs.flatMap((o) => [key(o, 1), key(o, 2)]).join(','), discover: true, baseURL: sim.url });
    const discovered: DiscoveredEvent[] = [];
    pool.on('discovered', (e) => discovered.push(e));
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 8 })));
    expect(results).toHaveLength(60);
    const s = sim.stats();
    expect(s.totals.rateLimited).toBe(0);
    expect(s.totals.served).toBe(60);
    for (const o of orgs) expect(s.accounts[`org-${o}`]?.maxInFlight).toBe(2);
    expect(pool.stats().accounts.map((a) => [a.id, a.keys, a.limits])).toEqual(
      orgs.map((o) => [`org-${o}`, [fingerprint(key(o, 1)), fingerprint(key(o, 2))], { concurrency: 2, rpm: 500, tpm: 3_000_000, tpd: null }]),
    );
    expect(discovered.map((d) => [d.account, d.balance, d.fallback])).toEqual(orgs.flatMap((o) => [[`org-${o}`, 100, undefined], [`org-${o}`, 100, undefined]]));
    await pool.close();
  });

  it('without discovery, Msh-Org-Id merges two accounts configured apart that are one', async () => {
    sim = await startKimiSimulator({ latencyMs: 20, accounts: [{ id: 'org-s', keys: [key('s', 1), key('s', 2)], tier: 'tier1', limits: { concurrency: 2 } }] });
    const pool = new KimiPool({ baseURL: sim.url, tier: 'tier1', keys: [{ key: key('s', 1), account: 'one', concurrency: 2 }, { key: key('s', 2), account: 'two', concurrency: 2 }] });
    const merged: AccountMergedEvent[] = [];
    pool.on('account-merged', (e) => merged.push(e));
    const ask = (i: number) => pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 8 });
    // One request on each key first: no 429 is possible with one in flight per key.
    await ask(0);
    await ask(1);
    expect(merged).toEqual([{ account: 'two', into: 'one', org: 'org-s', keys: [fingerprint(key('s', 1)), fingerprint(key('s', 2))], limits: expect.objectContaining({ concurrency: 2 }) }]);
    await Promise.all(Array.from({ length: 30 }, (_, i) => ask(i + 2)));
    expect(sim.stats().totals.rateLimited).toBe(0);
    expect(pool.stats().accounts.map((a) => a.id)).toEqual(['one']);
    await pool.close();
  });
});

describe('removeKey on real HTTP', () => {
  it('stops the removed keys\' wire watch, and a key added later is watched again', async () => {
    sim = await startKimiSimulator({ accounts: [{ id: 'org-w', keys: [key('w', 1), key('w', 2)], tier: 'tier1' }] });
    const bodySent = channel('undici:request:bodySent');
    const pool = new KimiPool({ baseURL: sim.url, tier: 'tier1', keys: [{ key: key('w', 1), account: 'org-w' }] });
    const ask = (i: number) => pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 8 });
    await ask(0);
    expect(bodySent.hasSubscribers).toBe(true);
    await pool.addKeys([{ key: key('w', 2), account: 'org-w' }]);
    await pool.removeKey(fingerprint(key('w', 1)));
    expect(bodySent.hasSubscribers).toBe(true);
    await pool.removeKey(fingerprint(key('w', 2)));
    // No key left: nothing watches the wire any more.
    expect(bodySent.hasSubscribers).toBe(false);
    await pool.addKeys([{ key: key('w', 1), account: 'org-w' }]);
    expect(bodySent.hasSubscribers).toBe(true);
    await ask(1);
    expect(pool.stats().keys.map((k) => k.id)).toEqual([fingerprint(key('w', 1))]);
    await pool.close();
  });
});
