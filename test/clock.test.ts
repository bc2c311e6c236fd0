import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../src/clock.js';
import { ManualClock } from '../src/testing/manual-clock.js';

describe('systemClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires after the delay, and not after clearTimeout', () => {
    vi.useFakeTimers();
    const fired: string[] = [];
    systemClock.setTimeout(() => fired.push('a'), 100);
    const b = systemClock.setTimeout(() => fired.push('b'), 100);
    systemClock.clearTimeout(b);
    vi.advanceTimersByTime(99);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['a']);
  });

  it('unrefs its timers unless asked to keep the process alive', () => {
    vi.useFakeTimers();
    const t = systemClock.setTimeout(() => undefined, 10) as NodeJS.Timeout;
    const k = systemClock.setTimeout(() => undefined, 10, true) as NodeJS.Timeout;
    expect(t.hasRef()).toBe(false);
    expect(k.hasRef()).toBe(true);
    systemClock.clearTimeout(t);
    systemClock.clearTimeout(k);
  });

  it('a delay beyond what Node timers hold (2^31-1 ms, e.g. timeout: Infinity) does not fire at once', () => {
    vi.useFakeTimers();
    const fired: number[] = [];
    systemClock.setTimeout(() => fired.push(1), Infinity);
    systemClock.setTimeout(() => fired.push(2), 2 ** 32);
    vi.advanceTimersByTime(60_000);
    expect(fired).toEqual([]);
  });
});

describe('ManualClock', () => {
  it('runs due timers in order and counts pending ones', async () => {
    const c = new ManualClock(10);
    const seen: [string, number][] = [];
    c.setTimeout(() => seen.push(['b', c.now()]), 20);
    c.setTimeout(() => seen.push(['a', c.now()]), 5);
    const x = c.setTimeout(() => seen.push(['x', c.now()]), 7);
    c.setTimeout(() => seen.push(['a2', c.now()]), 5);
    c.clearTimeout(x);
    expect(c.pending).toBe(3);
    await c.advance(10);
    expect(seen).toEqual([
      ['a', 15],
      ['a2', 15],
    ]);
    expect(c.now()).toBe(20);
    await c.runUntil(() => seen.length === 3);
    expect(c.now()).toBe(30);
    expect(c.pending).toBe(0);
    await expect(c.runUntil(() => false)).rejects.toThrow(/no timer left/);
  });
});
