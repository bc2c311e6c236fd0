/**
 * How long this process could not run: a simulator here reads a request that
 * much late and counts it that much late, which no margin of the pool's can
 * promise to cover on a machine busy enough. Tests that promise zero
 * rate-limit 429s promise them while the stalls stay within the margin; beyond
 * it they check what the pool learned instead.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { expect } from 'vitest';
import type { PoolStats } from '../../src/index.js';
import type { KimiSimulator } from '../../src/testing/index.js';

/** Starts watching; the returned function stops and answers the longest stall (ms). */
export function watchStalls(): () => number {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  return () => {
    h.disable();
    return h.max / 1e6;
  };
}

/**
 * Zero rate-limit 429s from `sim` while `stallMs` stayed within `marginMs`;
 * beyond it, every one of them unpredicted by the pools (their limits were
 * right) and each pool that got one widened that account's margin.
 */
export function expectNoRateLimits(sim: KimiSimulator, stallMs: number, marginMs: number, pools: readonly Pick<PoolStats, 'accounts'>[]): void {
  const limited = sim.stats().totals.rateLimited;
  if (stallMs <= marginMs) {
    expect(limited).toBe(0);
    return;
  }
  console.warn(`this process stalled ${stallMs.toFixed(0)} ms (margin ${marginMs} ms): checking what the pool learned instead of zero 429s`);
  const accounts = pools.flatMap((p) => p.accounts);
  expect(accounts.reduce((n, a) => n + a.unpredicted429s, 0)).toBe(limited);
  for (const a of accounts) if (a.unpredicted429s > 0) expect(a.safetyMarginMs, a.id).toBeGreaterThan(marginMs);
}
