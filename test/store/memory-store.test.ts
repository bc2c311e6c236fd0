import { describe, expect, it } from 'vitest';
import { NEVER } from '../../src/store/limit-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract('MemoryStore', () => new MemoryStore());

/** Acquires as the pool does when the request leaves at once. */
function sent(s: MemoryStore, account: string, tokens: number, lease: number): number {
  const wait = s.acquire(account, tokens, lease);
  if (wait === 0) s.sent(account, lease, tokens);
  return wait;
}

describe('MemoryStore on a manual clock (exact times)', () => {
  const limits = { concurrency: 2, rpm: 2, tpm: 100, tpd: 150 };
  function store(): { s: MemoryStore; clock: ManualClock } {
    const clock = new ManualClock();
    const s = new MemoryStore();
    s.init({ accounts: [{ id: 'a', limits }], windowMs: 1000, safetyMarginMs: 50, clock });
    return { s, clock };
  }

  it('answers Infinity at the concurrency limit: in one process a release wakes the pool', () => {
    const { s } = store();
    expect(sent(s, 'a', 1, 1)).toBe(0);
    expect(sent(s, 'a', 1, 2)).toBe(0);
    expect(sent(s, 'a', 1, 3)).toBe(Infinity);
    s.release('a', 1);
    expect(sent(s, 'a', 1, 3)).toBeGreaterThan(0);
  });

  it('RPM and TPM waits are exact: the oldest start plus window plus margin', async () => {
    const { s, clock } = store();
    expect(sent(s, 'a', 10, 1)).toBe(0);
    await clock.advance(100);
    expect(sent(s, 'a', 10, 2)).toBe(0);
    s.release('a', 1);
    s.release('a', 2);
    await clock.advance(100);
    expect(sent(s, 'a', 10, 3)).toBe(850);
    await clock.advance(850);
    // The first start left the window; 95 more tokens do not fit beside the 10 of t=100 until 100 + 1050.
    expect(sent(s, 'a', 95, 3)).toBe(100);
    expect(sent(s, 'a', 90, 3)).toBe(0);
  });

  it('TPD: a reservation leaves the day window after 1,440 windows plus the margin', async () => {
    const { s, clock } = store();
    expect(sent(s, 'a', 100, 1)).toBe(0);
    s.release('a', 1);
    await clock.advance(5000);
    expect(sent(s, 'a', 60, 2)).toBeGreaterThan(1_000 * 1_440 - 5000);
    expect(sent(s, 'a', 160, 2)).toBe(NEVER);
  });
});

describe('MemoryStore: accounts added and merged at run time', () => {
  const limits = { concurrency: 2, rpm: 2, tpm: 100, tpd: 1000 };

  it('an added account has its own limits; a merged one counts on the one kept, with what it recorded', async () => {
    const clock = new ManualClock();
    const s = new MemoryStore();
    s.init({ accounts: [{ id: 'a', limits }], windowMs: 1000, safetyMarginMs: 0, clock });
    s.addAccount({ id: 'b', limits });
    expect(sent(s, 'a', 10, 1)).toBe(0);
    await clock.advance(100);
    expect(sent(s, 'b', 10, 2)).toBe(0);
    expect(sent(s, 'b', 10, 3)).toBe(0);
    s.merge('b', 'a');
    // a holds b's two starts and in-flight leases besides its own: at concurrency and RPM.
    expect(s.usage('a')).toMatchObject({ inFlight: 3, startsInWindow: 2 });
    expect(s.acquire('a', 1, 4)).toBe(Infinity);
    // A release of b's lease frees a's slot (calls for b count on a).
    s.release('b', 2);
    s.release('b', 3);
    s.release('a', 1);
    expect(s.usage('b')).toEqual(s.usage('a'));
    // The RPM window still holds b's starts of t=100 (a's start of t=0 dropped out of the last 2).
    expect(sent(s, 'a', 1, 5)).toBe(1000);
  });
});
