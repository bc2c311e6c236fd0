/**
 * Regressions found in review: slot bookkeeping with an async store, the
 * waiting heap after an early wake, held slots given back early, listeners
 * that throw, limits changed by another pool.
 */
import { describe, expect, it } from 'vitest';
import { KimiPool, type LimitStore, type StoreEvent } from '../../src/index.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { settleAll, track } from '../helpers/pool.js';

const A = 'sk-review-aaaaaaaa';
const B = 'sk-review-bbbbbbbb';
const rateLimited = (): Error =>
  Object.assign(new Error('429'), {
    status: 429,
    error: { type: 'rate_limit_reached_error', message: 'Your account x<y> request reached organization max RPM: 100, please try again after 1 seconds' },
  });
const serverError = (): Error => Object.assign(new Error('500'), { status: 500, error: { type: 'server_error', message: 'boom' } });

describe('a rate-limit bounce with a store whose pause() is async', () => {
  it('frees the slot of the account that answered 429, not the one the request moved to', async () => {
    const clock = new ManualClock();
    class SlowPause extends MemoryStore {
      // Async where MemoryStore is sync: the LimitStore interface allows it.
      override pause(account: string, ms: number): Promise<void> {
        super.pause(account, ms);
        return new Promise<void>((resolve) => clock.setTimeout(resolve, 20));
      }
    }
    const pool = new KimiPool({
      keys: [
        { key: A, account: 'A' },
        { key: B, account: 'B' },
      ],
      accounts: { A: { concurrency: 1, rpm: 100 }, B: { concurrency: 1, rpm: 100 } },
      store: new SlowPause(),
      clock,
    });
    let running = 0;
    let maxOnB = 0;
    const task = async ({ account }: { account: string }): Promise<string> => {
      if (account === 'A') throw rateLimited();
      running++;
      maxOnB = Math.max(maxOnB, running);
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 100));
      running--;
      return account;
    };
    const first = track(pool.schedule(task));
    await clock.advance(50); // the slow pause settled while the request runs on B
    const second = track(pool.schedule(task));
    await settleAll(clock, [first, second]);
    expect([first.value, second.value]).toEqual(['B', 'B']);
    expect(maxOnB).toBe(1);
    const s = pool.stats();
    expect(s.accounts.map((a) => a.inFlight)).toEqual([0, 0]);
    expect(s.inFlight).toBe(0);
    const closed = track(pool.close());
    await clock.advance(0);
    expect(closed.settled).toBe(true);
  });
});

describe('an account woken early by a shared store', () => {
  it('does not hide the wake-up of another account', async () => {
    const clock = new ManualClock();
    let emit: (e: StoreEvent) => void = () => undefined;
    const answers: Record<string, number[]> = { A: [50, 10_000], B: [100, 0] };
    const store: LimitStore = {
      listen(listener) {
        emit = listener;
      },
      init() {},
      acquire: (account) => Promise.resolve(answers[account]?.shift() ?? 0),
      release() {},
      pause() {},
      setLimits() {},
      usage: () => ({ inFlight: 0, startsInWindow: 0, tokensInWindow: 0, pausedUntil: null, nextFreeInMs: 0 }),
      close() {},
    };
    const pool = new KimiPool({ keys: [{ key: A, account: 'A' }, { key: B, account: 'B' }], clock, store });
    const job = track(pool.schedule(async () => 'ok'));
    await clock.advance(0); // A: wait 50, B: wait 100
    emit({ type: 'wake', account: 'A' }); // another worker released a slot on A
    await clock.advance(0); // A asked again: wait 10,000
    await clock.advance(200); // B was due at 100 and answers 0
    expect(job.value).toBe('ok');
  });
});

describe('holdSlot', () => {
  it('works destructured, and a release before the task settles neither counts a success nor drops the timeout', async () => {
    const clock = new ManualClock();
    const pool = new KimiPool({ keys: A, retryBaseMs: 10, retryMaxMs: 10, clock, random: () => 0.5 });
    const successes: unknown[] = [];
    pool.on('success', (e) => successes.push(e));
    const job = track(
      pool.schedule(
        async ({ attempt, signal, holdSlot }) => {
          const done = holdSlot();
          try {
            if (attempt === 1) throw serverError();
            await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
          } finally {
            done();
          }
        },
        { timeout: 300 },
      ),
    );
    await settleAll(clock, [job]);
    expect(job.error).toMatchObject({ code: 'ERR_REQUEST_TIMEOUT' });
    expect(clock.now()).toBe(300);
    expect(successes).toEqual([]);
    expect(pool.stats()).toMatchObject({ inFlight: 0, succeeded: 0, failed: 1 });
    expect(pool.stats().accounts[0]?.succeeded).toBe(0);
  });
});

describe('a listener that throws', () => {
  it('is reported as a warning and breaks nothing', async () => {
    const clock = new ManualClock();
    const pool = new KimiPool({ keys: A, tier: 'tier1', clock });
    const warnings: { code: string; message: string }[] = [];
    pool.on('warning', (w) => warnings.push(w));
    pool.on('start', () => {
      throw new Error('bug in my logger');
    });
    const job = track(pool.schedule(async () => 'a'));
    await settleAll(clock, [job]);
    expect(job.value).toBe('a');
    expect(warnings).toEqual([expect.objectContaining({ code: 'listener_error', message: expect.stringContaining('bug in my logger') })]);
    expect(pool.stats().inFlight).toBe(0);
    const closed = track(pool.close());
    await clock.advance(0);
    expect(closed.settled).toBe(true);
  });
});

describe('limits changed by another pool sharing the store', () => {
  it('re-decides a queued request that no longer fits anywhere', async () => {
    const clock = new ManualClock();
    let emit: (e: StoreEvent) => void = () => undefined;
    const inner = new MemoryStore();
    const store: LimitStore = {
      listen(listener) {
        emit = listener;
      },
      init: (c) => inner.init(c),
      acquire: (account, tokens, lease) => Promise.resolve(inner.acquire(account, tokens, lease)),
      release: (a, l) => inner.release(a, l),
      pause: (a, ms) => inner.pause(a, ms),
      setLimits: (a, l) => inner.setLimits(a, l),
      usage: (a) => inner.usage(a),
      close: () => inner.close(),
    };
    const pool = new KimiPool({ keys: A, tier: 'tier1', clock, store });
    const id = pool.stats().accounts[0]?.id as string;
    // Another pool installed a lower TPM in the shared store: it answers NEVER,
    // while this pool still believes the request fits (tier1: 2,000,000 TPM).
    const limits = { concurrency: 50, rpm: 200, tpm: 1_000, tpd: Infinity };
    inner.setLimits(id, limits);
    const big = track(pool.schedule(async () => 'big', { tokens: 5_000 }));
    await clock.advance(0);
    expect(big.settled).toBe(false);
    // The store's news arrives: the request is decided again and fits nowhere.
    emit({ type: 'limits', account: id, limits });
    await clock.advance(0);
    expect(big.error).toMatchObject({ code: 'ERR_REQUEST_TOO_LARGE' });
  });
});

describe('a TPD 429 on an account configured without a TPD limit', () => {
  it('learns the limit and the usage the message reports, and sends nothing more that day', async () => {
    const clock = new ManualClock();
    const pool = new KimiPool({ keys: A, tier: 'tier1', windowMs: 1_000, clock, maxRateLimitBounces: 3 });
    const starts: number[] = [];
    pool.on('start', () => starts.push(clock.now()));
    const tpd429 = Object.assign(new Error('429'), {
      status: 429,
      error: { type: 'rate_limit_reached_error', message: 'Your account o<a> request reached organization TPD rate limit, current:1000200, limit:1000000' },
    });
    const job = track(pool.schedule(() => Promise.reject(tpd429), { tokens: 500 }));
    await clock.advance(20_000);
    // One start, then the pool holds the request itself instead of sending it into an exhausted day.
    expect(starts).toEqual([0]);
    expect(job.settled).toBe(false);
    expect(pool.stats().accounts[0]?.limits.tpd).toBe(1_000_000);
    await pool.close();
    await clock.advance(0);
    expect(job.error).toMatchObject({ code: 'ERR_POOL_CLOSED' });
  });
});

describe('a stream that breaks with the key in its error', () => {
  it('names the key by its id in the StreamError and its cause', async () => {
    const enc = new TextEncoder();
    const fetch = async (): Promise<Response> => {
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent) return controller.error(new Error(`upstream closed for ${A}`));
          sent = true;
          const chunk = { id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] };
          controller.enqueue(enc.encode(`data: ${JSON.stringify(chunk)}\n\n`));
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    };
    const pool = new KimiPool({ keys: [{ key: A, id: 'key-a' }], tier: 'tier1', clientOptions: { fetch } });
    const stream = await pool.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 5, stream: true });
    let caught: unknown;
    try {
      for await (const _ of stream) void _;
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'ERR_STREAM', key: 'key-a' });
    const text = `${(caught as Error).message} ${String(((caught as Error).cause as Error | undefined)?.message)}`;
    expect(text).toContain('upstream closed for key-a');
    expect(text).not.toContain(A);
    await pool.close();
  });
});

describe('a store that can never work', () => {
  it('fails what waits and what comes with one StoreError instead of retrying forever', async () => {
    const clock = new ManualClock();
    const broken = Object.assign(new Error('kimi-pool/redis needs the ioredis package'), { permanent: true });
    const inner = new MemoryStore();
    const store: LimitStore = {
      init: (c) => {
        inner.init(c);
        return Promise.reject(broken);
      },
      acquire: () => Promise.reject(broken),
      release: () => undefined,
      pause: () => undefined,
      setLimits: () => undefined,
      usage: (a) => inner.usage(a),
      close: () => undefined,
    };
    const pool = new KimiPool({ keys: A, clock, store });
    const warnings: string[] = [];
    pool.on('warning', (w) => warnings.push(w.code));
    const queued = track(pool.schedule(async () => 'never'));
    await clock.advance(0);
    expect(queued.error).toMatchObject({ code: 'ERR_STORE', message: expect.stringContaining('needs the ioredis package'), cause: broken });
    await expect(pool.schedule(async () => 'later')).rejects.toMatchObject({ code: 'ERR_STORE' });
    expect(warnings).toEqual([]);
  });
});

describe('a task of an earlier run (bounced or failed over) that holds or releases late', () => {
  it('cannot free the slot of the run that replaced it', async () => {
    const clock = new ManualClock();
    const pool = new KimiPool({
      keys: [
        { key: A, account: 'A' },
        { key: B, account: 'B' },
      ],
      accounts: { A: { concurrency: 1, rpm: 100 }, B: { concurrency: 1, rpm: 100 } },
      clock,
    });
    let onB = 0;
    let maxOnB = 0;
    let successes = 0;
    pool.on('success', () => successes++);
    const first = track(
      pool.schedule(async ({ account, holdSlot }) => {
        const release = holdSlot();
        if (account === 'A') {
          clock.setTimeout(() => release({ usedTokens: 1 }), 50); // a reader started before the 429
          throw rateLimited();
        }
        onB++;
        maxOnB = Math.max(maxOnB, onB);
        clock.setTimeout(() => {
          onB--;
          release({ usedTokens: 1 });
        }, 200); // a "stream" read for 200 ms
        return 'stream on B';
      }),
    );
    await clock.advance(60); // the stale release has fired
    expect(pool.stats().accounts.map((a) => a.inFlight)).toEqual([0, 1]);
    const second = track(
      pool.schedule(async ({ account }) => {
        onB++;
        maxOnB = Math.max(maxOnB, onB);
        await new Promise<void>((resolve) => clock.setTimeout(resolve, 100));
        onB--;
        return account;
      }),
    );
    await settleAll(clock, [first, second]);
    await clock.advance(1_000);
    expect([first.value, second.value]).toEqual(['stream on B', 'B']);
    expect(maxOnB).toBe(1);
    expect(successes).toBe(2);
    expect(pool.stats().inFlight).toBe(0);
  });

  it('cannot take a slot that nothing will free', async () => {
    const clock = new ManualClock();
    const unauthorized = (): Error => Object.assign(new Error('401'), { status: 401, error: { type: 'invalid_authentication_error', message: 'Invalid Authentication' } });
    const pool = new KimiPool({ keys: [{ key: A, account: 'A', id: 'a1' }, { key: B, account: 'A', id: 'a2' }], accounts: { A: { concurrency: 2 } }, clock });
    const job = track(
      pool.schedule(async (ctx) => {
        if (ctx.key === 'a1') {
          clock.setTimeout(() => void ctx.holdSlot(), 10); // a stale context holds late
          throw unauthorized();
        }
        await new Promise<void>((resolve) => clock.setTimeout(resolve, 50));
        return 'done';
      }),
    );
    await clock.advance(200);
    expect(job.value).toBe('done');
    expect(pool.stats().inFlight).toBe(0);
    const closed = track(pool.close());
    await clock.advance(0);
    expect(closed.settled).toBe(true);
  });
});

describe('a store write that rejects in the background', () => {
  it('neither crashes the process nor strands the request', async () => {
    const clock = new ManualClock();
    class FlakyObserve extends MemoryStore {
      // An async store whose write fails (its backend briefly down).
      override observe(): Promise<void> {
        return Promise.reject(new Error('backend down'));
      }
    }
    const store = new FlakyObserve();
    const tpm429 = Object.assign(new Error('429'), {
      status: 429,
      error: { type: 'rate_limit_reached_error', message: 'Your account o<a> request reached organization TPM rate limit, current:1200, limit:5000' },
    });
    const pool = new KimiPool({ keys: [{ key: A, account: 'A' }], accounts: { A: { tpm: 5_000 } }, windowMs: 200, safetyMarginMs: 0, store, clock });
    let n = 0;
    const job = track(pool.schedule(async () => (n++ === 0 ? Promise.reject(tpm429) : 'ok'), { tokens: 100 }));
    await settleAll(clock, [job]);
    expect(job.value).toBe('ok');
  });
});
