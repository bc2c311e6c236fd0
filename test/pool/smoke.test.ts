import { describe, expect, it } from 'vitest';
import { KimiPool } from '../../src/index.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { FakeKimi } from '../helpers/fake-kimi.js';

describe('smoke', () => {
  it('runs requests through the real SDK over a fake fetch within limits', async () => {
    const clock = new ManualClock();
    const fake = new FakeKimi(clock, { windowMs: 1000, accounts: [{ id: 'a', keys: ['sk-aaaaaaaa1'] }, { id: 'b', keys: ['sk-bbbbbbbb1'] }] });
    const pool = new KimiPool({ keys: ['sk-aaaaaaaa1', 'sk-bbbbbbbb1'], windowMs: 1000, clock, clientOptions: { fetch: fake.fetch } });
    const ps = Array.from({ length: 12 }, (_, i) => pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 10 }));
    let done = 0;
    for (const p of ps) void p.then(() => done++);
    await clock.runUntil(() => done === 12);
    const replies = await Promise.all(ps);
    expect(replies.map((r) => r.choices[0]?.message.content)).toEqual(ps.map((_, i) => `echo: q${i}`));
    expect(fake.refused).toEqual([]);
    expect(fake.violations()).toEqual([]);
    console.log(clock.now(), pool.stats().accounts.map((a) => a.started));
  });
});
