import { describe, expect, it } from 'vitest';
import { backoffDelay, headerValue, retryAfterFromHeaders } from '../src/retry-timing.js';

describe('backoffDelay', () => {
  const opts = { baseMs: 500, maxMs: 30_000, factor: 2 };
  const cases: [number, number, number][] = [
    // retry, random, expected: half fixed + half random of min(max, base * 2^(retry-1))
    [1, 0, 250],
    [1, 1, 500],
    [1, 0.5, 375],
    [2, 0, 500],
    [3, 0, 1_000],
    [3, 1, 2_000],
    [7, 0, 15_000],
    [7, 1, 30_000],
    [20, 0.5, 22_500],
    [0, 0, 250],
  ];
  it.each(cases)('retry %i with random %f waits %i ms', (retry, random, expected) => {
    expect(backoffDelay(retry, opts, random)).toBe(expected);
  });

  it('never waits 0 when base > 0 and never more than the cap', () => {
    for (let retry = 1; retry < 40; retry++) {
      for (const r of [0, 0.3, 0.999]) {
        const d = backoffDelay(retry, opts, r);
        expect(d).toBeGreaterThan(0);
        expect(d).toBeLessThanOrEqual(30_000);
      }
    }
  });
});

describe('headerValue', () => {
  it('reads fetch Headers and plain records, case-insensitively', () => {
    expect(headerValue(new Headers({ 'Retry-After': '3' }), 'retry-after')).toBe('3');
    expect(headerValue({ 'Retry-After': '3' }, 'retry-after')).toBe('3');
    expect(headerValue({ 'retry-after': ['4', '5'] }, 'retry-after')).toBe('4');
    expect(headerValue({ 'retry-after': 5 }, 'retry-after')).toBeUndefined();
    expect(headerValue(undefined, 'retry-after')).toBeUndefined();
    expect(headerValue(null, 'retry-after')).toBeUndefined();
  });
});

describe('retryAfterFromHeaders', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  const cases: [string, Record<string, string>, number | undefined][] = [
    ['none', {}, undefined],
    ['retry-after-ms', { 'retry-after-ms': '250' }, 250],
    ['retry-after-ms wins over retry-after', { 'retry-after-ms': '250', 'retry-after': '10' }, 250],
    ['bad retry-after-ms falls back to retry-after', { 'retry-after-ms': 'soon', 'retry-after': '2' }, 2000],
    ['negative retry-after-ms falls back', { 'retry-after-ms': '-5', 'retry-after': '1' }, 1000],
    ['retry-after seconds', { 'retry-after': '7' }, 7000],
    ['retry-after fractional seconds', { 'retry-after': '0.5' }, 500],
    ['retry-after zero', { 'retry-after': '0' }, 0],
    ['negative retry-after', { 'retry-after': '-1' }, undefined],
    ['retry-after HTTP date', { 'retry-after': 'Sun, 01 Mar 2026 12:00:30 GMT' }, 30_000],
    ['retry-after date in the past', { 'retry-after': 'Sun, 01 Mar 2026 11:00:00 GMT' }, 0],
    ['retry-after garbage', { 'retry-after': 'later' }, undefined],
    ['retry-after blank', { 'retry-after': '  ' }, undefined],
  ];
  it.each(cases)('%s', (_, headers, expected) => {
    expect(retryAfterFromHeaders(new Headers(headers), now)).toBe(expected);
    expect(retryAfterFromHeaders(headers, now)).toBe(expected);
  });
});
