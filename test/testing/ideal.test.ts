import { describe, expect, it } from 'vitest';
import { idealMakespan } from '../../src/testing/ideal.js';

const tier0 = { rpm: 3, concurrency: 1 };

describe('idealMakespan', () => {
  it.each([
    // n, expected: starts 0, 50, 100 | 2000, 2050, 2100 | 4000
    [0, 0],
    [1, 50],
    [3, 150],
    [4, 2050],
    [6, 2150],
    [7, 4050],
  ])('one tier0 account (rpm 3, concurrency 1), n = %i -> %i ms', (n, expected) => {
    expect(idealMakespan([tier0], n, 2000, 50)).toBe(expected);
  });

  it('is bound by concurrency when rpm is unlimited', () => {
    // starts 0, 0, 100, 100, 200
    expect(idealMakespan([{ rpm: Infinity, concurrency: 2 }], 5, 1000, 100)).toBe(300);
  });

  it('is bound by rpm when concurrency is unlimited', () => {
    // starts 0 x4 | 1000 x4 | 2000
    expect(idealMakespan([{ rpm: 4, concurrency: Infinity }], 9, 1000, 10)).toBe(2010);
  });

  it('takes the earliest starts over all accounts', () => {
    // paid (rpm 30, concurrency 4): 4 starts at each of 0, 50, ..., 350 (30 in all, last 2 at 350), then 3000.
    const paid = { rpm: 30, concurrency: 4 };
    const accounts = [tier0, tier0, paid];
    expect(idealMakespan(accounts, 36, 3000, 50)).toBe(400); // one full window: 3 + 3 + 30
    expect(idealMakespan(accounts, 37, 3000, 50)).toBe(3050); // the 37th waits for the window
    expect(idealMakespan(accounts, 108, 3000, 50)).toBe(6400); // three full windows
  });

  it('lets a start come exactly one window after the one it replaces', () => {
    // rpm 1: starts 0, 1000, 2000 (the simulator's window is (now - w, now]).
    expect(idealMakespan([{ rpm: 1, concurrency: 1 }], 3, 1000, 10)).toBe(2010);
  });

  it('waits for a slot when latency exceeds the window', () => {
    // rpm 2, concurrency 1, latency 700 > window 500: starts 0, 700, 1400
    expect(idealMakespan([{ rpm: 2, concurrency: 1 }], 3, 500, 700)).toBe(2100);
  });

  it('handles unlimited and unusable accounts', () => {
    expect(idealMakespan([{ rpm: Infinity, concurrency: Infinity }], 1_000, 1000, 42)).toBe(42);
    expect(idealMakespan([{ rpm: 0, concurrency: 1 }], 1, 1000, 42)).toBe(Infinity);
    expect(idealMakespan([], 0, 1000, 42)).toBe(0);
  });

  it('rejects bad input with the field name', () => {
    expect(() => idealMakespan([tier0], -1, 1000, 1)).toThrow(/`n`/);
    expect(() => idealMakespan([tier0], 1.5, 1000, 1)).toThrow(/`n`/);
    expect(() => idealMakespan([tier0], 1, Infinity, 1)).toThrow(/`windowMs`/);
    expect(() => idealMakespan([{ rpm: -1, concurrency: 1 }], 1, 1000, 1)).toThrow(/accounts\[0\]\.rpm/);
  });
});
