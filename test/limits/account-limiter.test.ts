import { describe, expect, it } from 'vitest';
import { AccountLimiter, NEVER } from '../../src/limits/account-limiter.js';
import { StartLog } from '../../src/limits/start-log.js';
import { TokenWindow } from '../../src/limits/token-window.js';
import type { Limits } from '../../src/tiers.js';

const W = 1000;
const L = (l: Partial<Limits>): Limits => ({ concurrency: 100, rpm: 100, tpm: 1e9, tpd: Infinity, ...l });

describe('AccountLimiter.check', () => {
  // [name, limits, starts before (t, tokens), now, tokens, expected wait]
  const cases: [string, Partial<Limits>, [number, number][], number, number, number][] = [
    ['empty: starts now', {}, [], 0, 10, 0],
    ['over TPM: never', { tpm: 100 }, [], 0, 101, NEVER],
    ['over TPD: never', { tpd: 100 }, [], 0, 101, NEVER],
    ['exactly TPM fits', { tpm: 100 }, [], 0, 100, 0],
    ['RPM full: waits until the oldest start leaves the window', { rpm: 2 }, [[0, 1], [100, 1]], 300, 1, 700],
    ['RPM full, window passed', { rpm: 2 }, [[0, 1], [100, 1]], 1000, 1, 0],
    ['RPM not full', { rpm: 3 }, [[0, 1], [100, 1]], 300, 1, 0],
    ['TPM: waits until enough tokens expire', { tpm: 100 }, [[0, 60], [200, 30]], 500, 50, 500],
    ['TPM: needs the second entry too', { tpm: 100 }, [[0, 60], [200, 30]], 500, 80, 700],
    ['TPM fits beside the window', { tpm: 100 }, [[0, 60], [200, 30]], 500, 10, 0],
    ['TPD: a day of windows', { tpd: 100 }, [[0, 100]], 5000, 1, W * 1440 - 5000],
  ];
  it.each(cases)('%s', (_, limits, starts, now, tokens, expected) => {
    const l = new AccountLimiter(L(limits), W, 0);
    for (const [t, n] of starts) {
      expect(l.check(t, n)).toBe(0);
      start(l, t, n);
      l.release();
    }
    expect(l.check(now, tokens)).toBe(expected);
  });

  it('concurrency: Infinity (wait for a release) while full', () => {
    const l = new AccountLimiter(L({ concurrency: 2 }), W, 0);
    start(l, 0, 1);
    start(l, 0, 1);
    expect(l.check(0, 1)).toBe(Infinity);
    l.release();
    expect(l.check(0, 1)).toBe(0);
    l.release();
    l.release(); // never below 0
    expect(l.inFlight).toBe(0);
  });

  it('widens every window by the safety margin', () => {
    const l = new AccountLimiter(L({ rpm: 1 }), W, 75);
    start(l, 0, 1);
    l.release();
    expect(l.check(999, 1)).toBe(76);
    expect(l.check(1075, 1)).toBe(0);
  });

  it('a pause holds starts until it ends and never shortens', () => {
    const l = new AccountLimiter(L({}), W, 0);
    l.pause(500);
    expect(l.check(100, 1)).toBe(400);
    l.pause(200);
    expect(l.check(100, 1)).toBe(400);
    expect(l.check(500, 1)).toBe(0);
  });

  it('setLimits lowers RPM keeping the latest starts', () => {
    const l = new AccountLimiter(L({ rpm: 5 }), W, 0);
    for (const t of [0, 100, 200, 300]) {
      start(l, t, 1);
      l.release();
    }
    expect(l.check(400, 1)).toBe(0);
    l.setLimits(L({ rpm: 2 }));
    expect(l.limits.rpm).toBe(2);
    // the last two starts were at 200 and 300
    expect(l.check(400, 1)).toBe(800);
    l.setLimits(L({ rpm: 10 }));
    expect(l.check(400, 1)).toBe(0);
  });

  it('setLimits lowering TPM makes a big request NEVER', () => {
    const l = new AccountLimiter(L({ tpm: 1000 }), W, 0);
    expect(l.check(0, 800)).toBe(0);
    l.setLimits(L({ tpm: 500 }));
    expect(l.check(0, 800)).toBe(NEVER);
  });

  it('reports starts and tokens in the window', () => {
    const l = new AccountLimiter(L({}), W, 0);
    start(l, 0, 10);
    start(l, 400, 20);
    expect(l.startsInWindow(500)).toBe(2);
    expect(l.tokensInWindow(500)).toBe(30);
    expect(l.startsInWindow(1200)).toBe(1);
    expect(l.tokensInWindow(1200)).toBe(20);
  });

  it('never lets more than the limits into any sliding window (random schedule)', () => {
    const limits = L({ rpm: 7, tpm: 500, concurrency: 3 });
    const l = new AccountLimiter(limits, W, 0);
    const starts: { t: number; n: number; end: number }[] = [];
    let seed = 42;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let t = 0;
    for (let i = 0; i < 500; i++) {
      t += Math.floor(rnd() * 60);
      for (const s of starts) if (s.end <= t && s.end >= 0) {
        l.release();
        s.end = -1;
      }
      const n = 1 + Math.floor(rnd() * 150);
      if (l.check(t, n) === 0) {
        start(l, t, n);
        starts.push({ t, n, end: t + Math.floor(rnd() * 300) });
      }
    }
    expect(starts.length).toBeGreaterThan(50);
    for (const s of starts) {
      const win = starts.filter((x) => x.t > s.t - W && x.t <= s.t);
      expect(win.length).toBeLessThanOrEqual(7);
      expect(win.reduce((a, x) => a + x.n, 0)).toBeLessThanOrEqual(500);
    }
  });
});

describe('StartLog', () => {
  it('allows `limit` starts per span', () => {
    const s = new StartLog(2);
    expect(s.freeAt(100)).toBe(-Infinity);
    s.record(10);
    s.record(20);
    expect(s.freeAt(100)).toBe(110);
    s.record(110);
    expect(s.freeAt(100)).toBe(120);
    expect(s.countSince(15)).toBe(2);
  });
  it('unlimited and resize', () => {
    const s = new StartLog(Infinity);
    s.record(1);
    expect(s.freeAt(100)).toBe(-Infinity);
    s.resize(1);
    expect(s.freeAt(100)).toBe(-Infinity);
    s.record(5);
    expect(s.freeAt(100)).toBe(105);
  });
});

describe('TokenWindow', () => {
  it('sums, evicts and tells when tokens free', () => {
    const w = new TokenWindow();
    w.record(0, 50);
    w.record(100, 30);
    expect(w.sum(150, 1000)).toBe(80);
    expect(w.freeAt(150, 1000, 30, 100)).toBe(1000);
    expect(w.freeAt(150, 1000, 20, 100)).toBe(-Infinity);
    expect(w.freeAt(150, 1000, 101, 100)).toBe(Infinity);
    expect(w.sum(1000, 1000)).toBe(30);
    expect(w.sum(1100, 1000)).toBe(0);
  });
  it('merges reservations within the granularity, stamped with the later time', () => {
    const w = new TokenWindow(100);
    w.record(0, 10);
    w.record(50, 10);
    w.record(150, 10);
    // the merged entry (0 and 50) expires at 50 + span, not 0 + span
    expect(w.sum(1000, 1000)).toBe(30);
    expect(w.sum(1050, 1000)).toBe(10);
  });
});

/** A start whose request leaves at once (commit, then leave at the same time). */
function start(l: AccountLimiter, t: number, tokens: number): void {
  l.commit(t, tokens);
  l.leave(t, tokens);
}

describe('AccountLimiter: starts count from when their request leaves', () => {
  it('a granted start that has not left holds its RPM place as if it left now or later', () => {
    const l = new AccountLimiter(L({ rpm: 2 }), W, 0);
    start(l, 0, 1);
    l.commit(100, 1); // granted at 100, not left yet
    // Two starts in the window (one pending): full until the recorded one is a window old.
    expect(l.check(500, 1)).toBe(500);
    // It leaves at 900: the window it opens runs from 900, not from 100.
    l.leave(900, 1);
    expect(l.check(1000, 1)).toBe(0);
    start(l, 1000, 1);
    expect(l.check(1000, 1)).toBe(900);
  });

  it('answers Infinity while pending starts alone fill RPM or TPM: ask again when one leaves', () => {
    const l = new AccountLimiter(L({ rpm: 2, tpm: 100 }), W, 0);
    l.commit(0, 10);
    l.commit(0, 10);
    expect(l.check(5000, 1)).toBe(Infinity);
    l.leave(10, 10);
    l.leave(20, 10);
    expect(l.check(20, 1)).toBe(990);
    const t = new AccountLimiter(L({ tpm: 100 }), W, 0);
    t.commit(0, 70);
    expect(t.check(5000, 40)).toBe(Infinity);
    t.leave(300, 70);
    expect(t.check(300, 40)).toBe(1000);
    expect(t.check(300, 30)).toBe(0);
  });

  it('a pending start moved late spaces the next window from its departure, not its grant', () => {
    // Grant at 0, request leaves 150 ms later (a new connection): the next start waits a window from 150.
    const l = new AccountLimiter(L({ rpm: 1 }), W, 50);
    l.commit(0, 1);
    l.leave(150, 1);
    l.release();
    expect(l.check(1000, 1)).toBe(200);
  });

  it('setMargin widens every window from then on', () => {
    const l = new AccountLimiter(L({ rpm: 1 }), W, 0);
    start(l, 0, 1);
    expect(l.check(500, 1)).toBe(500);
    l.setMargin(300);
    expect(l.check(500, 1)).toBe(800);
  });

  it('stats count pending starts and tokens', () => {
    const l = new AccountLimiter(L({ rpm: 5, tpm: 1000 }), W, 0);
    start(l, 0, 10);
    l.commit(5, 20);
    expect(l.startsInWindow(10)).toBe(2);
    expect(l.tokensInWindow(10)).toBe(30);
  });
});

describe('StartLog: a limit lowered for a moment, then raised again', () => {
  it('still sees every start of the window (a merge with a placeholder account, setLimits down and up)', () => {
    const log = new StartLog(5);
    for (const t of [0, 10, 20, 30, 40]) log.record(t);
    log.resize(3);
    log.resize(5);
    // Five starts in the window: full until the oldest (0) is a window old.
    expect(log.freeAt(1000)).toBe(1000);
    expect(log.countSince(-1)).toBe(5);
  });
});
