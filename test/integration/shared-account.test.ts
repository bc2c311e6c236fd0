/** Keys configured as separate accounts that Kimi answers for as one (Msh-Org-Id). */
import { afterEach, describe, expect, it } from 'vitest';
import { KimiPool, type KimiPoolEvents, type WarningEvent } from '../../src/index.js';
import { startKimiSimulator, type KimiSimulator } from '../../src/testing/index.js';

let sim: KimiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('Msh-Org-Id', () => {
  it('merges two keys configured as different accounts that belong to one Kimi account, once, without a warning', async () => {
    sim = await startKimiSimulator({ accounts: [{ id: 'org-shared', keys: ['sk-shared-key-0001', 'sk-shared-key-0002'], tier: 'tier1' }] });
    // No `account`: each key is taken for an account of its own.
    const pool = new KimiPool({ baseURL: sim.url, tier: 'tier1', keys: [{ key: 'sk-shared-key-0001', id: 'k1' }, { key: 'sk-shared-key-0002', id: 'k2' }] });
    const warnings: WarningEvent[] = [];
    pool.on('warning', (w) => warnings.push(w));
    const merged: Parameters<KimiPoolEvents['account-merged']>[0][] = [];
    pool.on('account-merged', (e) => merged.push(e));
    const ask = (i: number) => pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 8 });
    await Promise.all([0, 1, 2, 3].map(ask));
    const stream = await pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 's' }], max_tokens: 8, stream: true });
    for await (const _ of stream) void _;
    expect(merged).toHaveLength(1);
    expect(merged[0]?.org).toBe('org-shared');
    // Enforced as one account from then on: one account holds both keys.
    const accounts = pool.stats().accounts.filter((a) => !a.disabled || a.keys.length > 0);
    expect(accounts.filter((a) => a.keys.length > 0).map((a) => [...a.keys].sort())).toEqual([['k1', 'k2']]);
    expect(warnings).toEqual([]);
    await pool.close();
  });
});
