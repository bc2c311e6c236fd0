import { describe, expect, it } from 'vitest';
import { WakeTimer } from '../../src/pool/wake-timer.js';
import { ManualClock } from '../../src/testing/manual-clock.js';

describe('WakeTimer', () => {
  it('wakes once, at the earliest time it was set to; a later time does not move it', async () => {
    const clock = new ManualClock();
    const woke: number[] = [];
    const timer = new WakeTimer(clock, () => woke.push(clock.now()));
    timer.set(300);
    timer.set(100);
    timer.set(200);
    expect(clock.pending).toBe(1);
    await clock.advance(1_000);
    expect(woke).toEqual([100]);
    expect(clock.pending).toBe(0);
  });

  it('after it fired, or was cleared, takes any time again; cleared, it leaves no timer', async () => {
    const clock = new ManualClock();
    const woke: number[] = [];
    const timer = new WakeTimer(clock, () => woke.push(clock.now()));
    timer.set(100);
    await clock.advance(100);
    timer.set(500);
    timer.clear();
    expect(clock.pending).toBe(0);
    timer.set(400);
    await clock.advance(1_000);
    expect(woke).toEqual([100, 400]);
  });
});
