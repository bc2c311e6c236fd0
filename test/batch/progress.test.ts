import { describe, expect, it } from 'vitest';
import { accountRate, etaFromLimits } from '../../src/batch/progress.js';
import type { PoolStats } from '../../src/stats.js';

const limits = (l: Partial<Record<'rpm' | 'tpm' | 'tpd' | 'concurrency', number | null>>) => ({ rpm: null, tpm: null, tpd: null, concurrency: null, ...l });
const stats = (accounts: { limits: ReturnType<typeof limits>; disabled?: boolean }[]) => ({ accounts: accounts.map((a) => ({ disabled: false, ...a })) }) as unknown as PoolStats;

describe('ETA from the accounts limits', () => {
  const r = { windowMs: 60_000, meanTokens: 1_000, meanLatencyMs: 2_000 };
  it.each([
    ['rpm binds', limits({ rpm: 3, concurrency: 1, tpm: 500_000 }), 3 / 60_000],
    ['tpm binds', limits({ rpm: 200, tpm: 60_000 }), 60 / 60_000],
    ['tpd binds', limits({ rpm: 3, tpd: 1_440_000 }), 1_440 / (60_000 * 1_440)],
    ['concurrency over latency binds', limits({ rpm: 5_000, concurrency: 2 }), 2 / 2_000],
    ['nothing binds', limits({}), Infinity],
  ])('%s', (_name, l, perMs) => {
    expect(accountRate(l, r)).toBeCloseTo(perMs, 12);
  });

  it('is the work left over the sum of the usable accounts rates, not a running average', () => {
    const s = stats([{ limits: limits({ rpm: 3 }) }, { limits: limits({ rpm: 3 }) }, { limits: limits({ rpm: 600 }), disabled: true }]);
    expect(etaFromLimits(s, 60, r)).toBe(600_000); // 60 requests at 6 a minute
    expect(etaFromLimits(s, 0, r)).toBe(0);
    expect(etaFromLimits(stats([{ limits: limits({}) }]), 10, { ...r, meanLatencyMs: undefined })).toBeNull();
    expect(etaFromLimits(stats([{ limits: limits({ rpm: 3 }), disabled: true }]), 10, r)).toBeNull();
  });
});
