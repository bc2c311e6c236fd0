/** Keys configured as separate accounts that Kimi answers for as one (Msh-Org-Id). */
import { afterEach, describe, expect, it } from 'vitest';
import { KimiPool, type WarningEvent } from '../../src/index.js';
import { startKimiSimulator, type KimiSimulator } from '../../src/testing/index.js';

let sim: KimiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('Msh-Org-Id', () => {
  it('warns once when two keys configured as different accounts belong to one Kimi account', async () => {
    sim = await startKimiSimulator({ accounts: [{ id: 'org-shared', keys: ['sk-shared-key-0001', 'sk-shared-key-0002'], tier: 'tier1' }] });
    // No `account`: each key is taken for an account of its own.
    const pool = new KimiPool({ baseURL: sim.url, tier: 'tier1', keys: [{ key: 'sk-shared-key-0001', id: 'k1' }, { key: 'sk-shared-key-0002', id: 'k2' }] });
    const warnings: WarningEvent[] = [];
    pool.on('warning', (w) => warnings.push(w));
    const ask = (i: number) => pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 8 });
    await Promise.all([0, 1, 2, 3].map(ask));
    const stream = await pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 's' }], max_tokens: 8, stream: true });
    for await (const _ of stream) void _;
    const shared = warnings.filter((w) => w.code === 'shared_account');
    expect(shared).toHaveLength(1);
    expect(shared[0]?.message).toMatch(/k1 \(account "k1"\) and k2 \(account "k2"\)|k2 \(account "k2"\) and k1 \(account "k1"\)/);
    expect(shared[0]?.message).toContain('org-shared');
    await pool.close();
  });
});
