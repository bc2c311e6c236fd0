import { describe, expect, it } from 'vitest';
import { expectedReply, simulatedCompletionTokens, simulatedPromptTokens, startKimiSimulator } from '../../../src/testing/index.js';
import { splitText } from '../../../src/testing/simulator/content.js';
import { akId } from '../../../src/testing/simulator/errors.js';
import { planFaults } from '../../../src/testing/simulator/faults.js';
import { validateFaults } from '../../../src/testing/simulator/options.js';
import { createRandom } from '../../../src/testing/simulator/random.js';
import { SlidingWindow } from '../../../src/testing/simulator/sliding-window.js';
import { fingerprint } from '../../../src/fingerprint.js';

describe('SlidingWindow', () => {
  it('keeps arrivals in (now - length, now] and sums their weights', () => {
    const w = new SlidingWindow(1000);
    w.add(0, 10);
    w.add(900, 5);
    expect(w.count(999)).toBe(2);
    expect(w.total(999)).toBe(15);
    expect(w.oldest(999)).toBe(0);
    // At exactly t + length the arrival has left the window.
    expect(w.count(1000)).toBe(1);
    expect(w.total(1000)).toBe(5);
    expect(w.oldest(1000)).toBe(900);
    expect(w.count(1900)).toBe(0);
    expect(w.oldest(1900)).toBeUndefined();
  });

  it('stays exact over many arrivals (compaction keeps live entries)', () => {
    const w = new SlidingWindow(100);
    for (let t = 0; t < 10_000; t += 1) w.add(t, 2);
    expect(w.count(9_999)).toBe(100);
    expect(w.total(9_999)).toBe(200);
    expect(w.oldest(9_999)).toBe(9_900);
  });
});

describe('content', () => {
  it('counts prompt tokens as sum of 3 + ceil(utf8 bytes / 4)', () => {
    expect(simulatedPromptTokens([{ role: 'user', content: 'hi' }])).toBe(4);
    expect(simulatedPromptTokens([{ role: 'user', content: '' }])).toBe(3);
    // 'é' is 2 bytes, '你' 3 bytes: 5 bytes -> 2 tokens.
    expect(simulatedPromptTokens([{ role: 'system', content: 'é你' }, { role: 'user', content: '12345678' }])).toBe(3 + 2 + 3 + 2);
    const parts = [{ type: 'text', text: 'abc' }];
    const json = JSON.stringify(parts);
    expect(simulatedPromptTokens([{ role: 'user', content: parts }])).toBe(3 + Math.ceil(json.length / 4));
    expect(simulatedPromptTokens([{ role: 'assistant' }])).toBe(3);
  });

  it('echoes the last user message', () => {
    expect(expectedReply([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'x' },
      { role: 'user', content: 'second' },
      { role: 'assistant', content: 'y' },
    ])).toBe('echo: second');
    expect(expectedReply([{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }])).toBe('echo: ab');
    expect(expectedReply([{ role: 'system', content: 'only system' }])).toBe('echo: ');
    expect(simulatedCompletionTokens('echo: hi')).toBe(2);
  });

  it('splits text on code points', () => {
    expect(splitText('echo: hello', 4).join('')).toBe('echo: hello');
    expect(splitText('echo: hello', 4)).toHaveLength(4);
    expect(splitText('😀😀', 4)).toEqual(['😀', '😀']);
  });

  it('derives ak ids from the same hash as fingerprints', () => {
    expect(akId('sk-a1')).toMatch(/^ak-[0-9a-f]{8}$/);
    expect(fingerprint('sk-a1').endsWith(akId('sk-a1').slice(3))).toBe(true);
  });
});

describe('faults', () => {
  it('replays the same plan for the same seed and honours precedence', () => {
    const faults = validateFaults({ overloadRate: 0.5, serverErrorRate: 0.3, slowRate: 0.5, slowMs: 100 });
    const a = createRandom(42);
    const b = createRandom(42);
    const runA = Array.from({ length: 50 }, () => planFaults(faults, [10, 20], a, false));
    const runB = Array.from({ length: 50 }, () => planFaults(faults, [10, 20], b, false));
    expect(runA).toEqual(runB);
    expect(new Set(runA.map((p) => p.fault))).toEqual(new Set([null, 'overloaded', 'server']));
    for (const p of runA) expect(p.latencyMs >= 10 && p.latencyMs < 120).toBe(true);
    const all = validateFaults({ dropRate: 1, overloadRate: 1, streamCutRate: 1 });
    expect(planFaults(all, [0, 0], createRandom(1), false).fault).toBe('dropped');
    expect(planFaults(validateFaults({ streamCutRate: 1 }), [0, 0], createRandom(1), false).fault).toBeNull();
    expect(planFaults(validateFaults({ streamCutRate: 1 }), [0, 0], createRandom(1), true).fault).toBe('streamCut');
  });
});

describe('options validation', () => {
  const ok = { id: 'org-a', keys: ['sk-a'] };
  const cases: [string, unknown, RegExp][] = [
    ['no accounts', { accounts: [] }, /`accounts`/],
    ['unknown tier', { accounts: [{ ...ok, tier: 'tier9' }] }, /`accounts\[0\]\.tier`.*tier9/],
    ['duplicate key', { accounts: [ok, { id: 'org-b', keys: ['sk-a'] }] }, /Duplicate key in `accounts\[1\]\.keys\[0\]`/],
    ['duplicate id', { accounts: [ok, { id: 'org-a', keys: ['sk-b'] }] }, /Duplicate account id `org-a`/],
    ['negative limit', { accounts: [{ ...ok, limits: { rpm: -1 } }] }, /`accounts\[0\]\.limits\.rpm`/],
    ['unknown limit', { accounts: [{ ...ok, limits: { rps: 1 } }] }, /`accounts\[0\]\.limits\.rps`/],
    ['empty keys', { accounts: [{ id: 'org-a', keys: [] }] }, /`accounts\[0\]\.keys`/],
    ['bad window', { accounts: [ok], windowMs: 0 }, /`windowMs`/],
    ['bad latency', { accounts: [ok], latencyMs: [50, 10] }, /`latencyMs\[1\]`/],
    ['bad rate', { accounts: [ok], faults: { dropRate: 2 } }, /`faults\.dropRate`/],
    ['unknown fault', { accounts: [ok], faults: { dropp: 1 } }, /`faults\.dropp`/],
    ['bad port', { accounts: [ok], port: 70_000 }, /`port`/],
    ['unknown option', { accounts: [ok], windowMS: 10 }, /`windowMS`/],
    ['bad balance', { accounts: [{ ...ok, balance: 'x' }] }, /`accounts\[0\]\.balance`/],
  ];
  it.each(cases)('throws a TypeError naming the field: %s', async (_name, options, pattern) => {
    const error = await startKimiSimulator(options as never).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(pattern);
    expect((error as Error).message).not.toContain('sk-a');
  });

  it('rejects bad run-time changes', async () => {
    const sim = await startKimiSimulator({ accounts: [ok] });
    try {
      expect(() => sim.setAccount('nope', { suspended: true })).toThrow(TypeError);
      expect(() => sim.setAccount('org-a', { tier: 'tier7' as never })).toThrow(/`patch\.tier`/);
      expect(() => sim.setAccount('org-a', { limits: { tpm: -5 } })).toThrow(/`patch\.limits\.tpm`/);
      expect(() => sim.setFaults({ overloadRate: -0.1 })).toThrow(/`faults\.overloadRate`/);
      expect(() => sim.revokeKey('sk-unknown')).toThrow(TypeError);
    } finally {
      await sim.close();
    }
  });
});
