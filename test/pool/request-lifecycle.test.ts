/**
 * Every request is answered exactly once and frees its slot exactly once:
 * every transition of the lifecycle table (src/pool/lifecycle.ts) driven
 * through the public pool, each request's path traced (RequestLifecycle.trace),
 * every lease counted by the store. Listeners and late calls that move a
 * request meanwhile: request-lifecycle-races.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { ChatCompletionChunk } from '../../src/chat.js';
import { NoUsableKeyError, PoolClosedError, QueueClearedError, RateLimitError, RequestAbortedError, RequestTimeoutError, RequestTooLargeError, ServerError, StreamError, type PooledStream } from '../../src/index.js';
import { TRANSITIONS, type Transition } from '../../src/pool/lifecycle.js';
import { ONE, TWO_ACCOUNTS, apiError, serverError, resolvesAfter, streamOf, readAll, expectLife, expectSlotsFree, tracedRig, type TracedRig } from '../helpers/lifecycle-trace.js';
import { ask, kimi429, ROOMY, settleAll, track, type RigOptions } from '../helpers/pool.js';

/** Every transition traced by the scenarios of this file. */
const covered = new Set<Transition>();
const traced = (options: RigOptions = {}): TracedRig => tracedRig(options, covered);

describe('each request answered once, its slot freed once', () => {
  it('success: start, succeed', async () => {
    const r = traced();
    const a = track(ask(r.pool, 'a'), r.clock);
    await settleAll(r.clock, [a]);
    expectLife(r, 1, a, ['start', 'succeed'], { value: a.value });
    expect(a.value).toMatchObject({ choices: [{ message: { content: 'echo: a' } }] });
    expectSlotsFree(r);
  });

  it('a stream read to its end: start, stream, finish (one success, counted at the end)', async () => {
    const r = traced({ fake: { streamChunks: 3 } });
    const a = track(streamOf(r, 'abc'), r.clock);
    await settleAll(r.clock, [a]);
    expect(r.paths.get(1)).toEqual(['start', 'stream']);
    expect(r.pool.stats().inFlight).toBe(1);
    expect(r.of('success')).toEqual([]);
    const read = readAll(a.value as PooledStream<ChatCompletionChunk>);
    await r.clock.advance(1_000);
    expect(await read).toEqual({ chunks: 3, error: undefined });
    expectLife(r, 1, a, ['start', 'stream', 'finish'], { value: a.value });
    expect(r.of('success')[0]?.usedTokens).toBeGreaterThan(0);
    expectSlotsFree(r);
  });

  it('a stream released with { error }: start, stream, finish, counted failed, no success', async () => {
    const r = traced({ fake: { streamChunks: 5, cutStreamAfter: () => 2 } });
    const a = track(streamOf(r, 'abcde'), r.clock);
    await settleAll(r.clock, [a]);
    const read = readAll(a.value as PooledStream<ChatCompletionChunk>);
    await r.clock.advance(1_000);
    expect((await read).error).toBeInstanceOf(StreamError);
    expectLife(r, 1, a, ['start', 'stream', 'finish'], { value: a.value, success: 0 });
    expect(r.pool.stats().keys[0]?.failed).toBe(1);
    expectSlotsFree(r);
  });

  it('an abort while streaming stops the stream and frees its slot; its release later frees nothing', async () => {
    const r = traced();
    const ac = new AbortController();
    let release: ((result?: { usedTokens?: number }) => void) | undefined;
    let signal: AbortSignal | undefined;
    const value = { stream: true };
    const a = track(r.pool.schedule((ctx) => ((signal = ctx.signal), (release = ctx.holdSlot()), value), { signal: ac.signal }), r.clock);
    await settleAll(r.clock, [a]);
    expect(r.pool.stats().inFlight).toBe(1);
    ac.abort('stop');
    expect(signal?.reason).toBeInstanceOf(RequestAbortedError);
    release?.({ usedTokens: 5 });
    expectLife(r, 1, a, ['start', 'stream', 'finish'], { value, success: 0 });
    expect(r.pool.stats()).toMatchObject({ succeeded: 1, failed: 0 });
    expectSlotsFree(r);
  });

  it('a 429 rate-limit bounces, then succeeds: start, bounce, start, succeed', async () => {
    const r = traced({ fake: { script: ({ n }) => (n === 0 ? { status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(1_000, 1) } : undefined) } });
    const a = track(ask(r.pool, 'a'), r.clock);
    await settleAll(r.clock, [a]);
    expectLife(r, 1, a, ['start', 'bounce', 'start', 'succeed'], { value: a.value });
    expect(r.of('ratelimited')).toHaveLength(1);
    // Run again once the 1 s pause the message asked for is over.
    expect(r.events.filter((e) => e.name === 'start').map((e) => e.t)).toEqual([0, 1_000]);
    expect(r.pool.stats()).toMatchObject({ bounces: 1, retries: 0 });
    expectSlotsFree(r);
  });

  it('a revoked key (401) bounces onto the account\'s second key', async () => {
    const r = traced({
      accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1', 'sk-aaaaaaaaaaaa2'], limits: ROOMY }],
      fake: { script: ({ key }) => (key === 'sk-aaaaaaaaaaaa1' ? { status: 401, type: 'invalid_authentication_error', message: 'Invalid Authentication' } : undefined) },
    });
    const a = track(ask(r.pool, 'a'), r.clock);
    await settleAll(r.clock, [a]);
    expectLife(r, 1, a, ['start', 'bounce', 'start', 'succeed'], { value: a.value });
    const [first, second] = r.of('start').map((s) => s.key);
    expect(first).not.toBe(second);
    expect(r.of('key-disabled').map((e) => e.key)).toEqual([first]);
    expect(r.of('success').map((e) => e.key)).toEqual([second]);
    expectSlotsFree(r);
  });

  it('a quota error disables the account and the request runs on another', async () => {
    const r = traced({
      accounts: TWO_ACCOUNTS,
      fake: { script: ({ account }) => (account === 'org-a' ? { status: 429, type: 'exceeded_current_quota_error', message: 'You exceeded your current token quota' } : undefined) },
    });
    const a = track(ask(r.pool, 'a'), r.clock);
    await settleAll(r.clock, [a]);
    expectLife(r, 1, a, ['start', 'bounce', 'start', 'succeed'], { value: a.value });
    expect(r.of('account-disabled').map((e) => e.account)).toEqual(['org-a']);
    expect(r.of('success')[0]?.account).toBe('org-b');
    expectSlotsFree(r);
  });

  it('a 500 backs off and runs again: start, retry, due, start, succeed', async () => {
    const r = traced({ pool: { retryBaseMs: 100 }, fake: { script: ({ n }) => (n === 0 ? { status: 500, message: 'boom' } : undefined) } });
    const a = track(ask(r.pool, 'a'), r.clock);
    await settleAll(r.clock, [a]);
    expectLife(r, 1, a, ['start', 'retry', 'due', 'start', 'succeed'], { value: a.value });
    expect(r.of('start').map((s) => s.attempt)).toEqual([1, 2]);
    expectSlotsFree(r);
  });

  it('retries exhausted: start, retry, due, start, fail', async () => {
    const r = traced({ pool: { retries: 1, retryBaseMs: 100 }, fake: { script: () => ({ status: 500, message: 'boom' }) } });
    const a = track(ask(r.pool, 'a'), r.clock);
    await settleAll(r.clock, [a]);
    expectLife(r, 1, a, ['start', 'retry', 'due', 'start', 'fail'], { error: ServerError });
    expectSlotsFree(r);
  });

  it('maxRateLimitBounces exceeded: start, bounce, start, fail', async () => {
    const r = traced({ pool: { maxRateLimitBounces: 1 }, fake: { script: () => ({ status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(1_000, 1) }) } });
    const a = track(ask(r.pool, 'a'), r.clock);
    await settleAll(r.clock, [a]);
    expectLife(r, 1, a, ['start', 'bounce', 'start', 'fail'], { error: RateLimitError });
    expect((a.error as Error).message).toContain('maxRateLimitBounces: 1');
    expectSlotsFree(r);
  });

  it('an abort while queued drops it; the request ahead runs on', async () => {
    const r = traced({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE }] });
    const ac = new AbortController();
    const a = track(ask(r.pool, 'a'), r.clock);
    const b = track(ask(r.pool, 'b', { signal: ac.signal }), r.clock);
    await r.clock.advance(10);
    ac.abort();
    await settleAll(r.clock, [a, b]);
    expectLife(r, 1, a, ['start', 'succeed'], { value: a.value });
    expectLife(r, 2, b, ['drop'], { error: RequestAbortedError });
    expect(r.fake.arrivals).toHaveLength(1);
    expectSlotsFree(r);
  });

  it('an abort while backing off drops it: start, retry, drop', async () => {
    const r = traced({ pool: { retryBaseMs: 1_000 } });
    const ac = new AbortController();
    let calls = 0;
    const a = track(r.pool.schedule(() => (calls++, Promise.reject(serverError())), { signal: ac.signal }), r.clock);
    await r.clock.advance(10);
    expect(r.paths.get(1)).toEqual(['start', 'retry']);
    ac.abort();
    await settleAll(r.clock, [a]);
    await r.clock.advance(5_000);
    expectLife(r, 1, a, ['start', 'retry', 'drop'], { error: RequestAbortedError });
    expect(calls).toBe(1);
    expectSlotsFree(r);
  });

  describe('an abort while running: start, abandon, end (the slot is freed when the task ends)', () => {
    it('the task rejects with the abort', async () => {
      const r = traced();
      const ac = new AbortController();
      const a = track(ask(r.pool, 'a', { signal: ac.signal }), r.clock);
      await r.clock.advance(10);
      ac.abort('stop');
      await settleAll(r.clock, [a]);
      await r.clock.advance(0);
      expectLife(r, 1, a, ['start', 'abandon', 'end'], { error: RequestAbortedError });
      expectSlotsFree(r);
    });

    it('the task resolves anyway: the value is dropped, no success', async () => {
      const r = traced();
      const ac = new AbortController();
      const a = track(r.pool.schedule(() => resolvesAfter(r, 100, 'late'), { signal: ac.signal }), r.clock);
      await r.clock.advance(10);
      ac.abort('stop');
      await r.clock.advance(50);
      expect(a.error).toBeInstanceOf(RequestAbortedError);
      expect(r.paths.get(1)).toEqual(['start', 'abandon']);
      expect(r.pool.stats().inFlight).toBe(1);
      await r.clock.advance(100);
      expectLife(r, 1, a, ['start', 'abandon', 'end'], { error: RequestAbortedError });
      expectSlotsFree(r);
    });

    it('the task resolves holding a stream: the stream is aborted, the slot freed once', async () => {
      const r = traced();
      const ac = new AbortController();
      let aborts = 0;
      let release: (() => void) | undefined;
      const a = track(r.pool.schedule(async (ctx) => ((release = ctx.holdSlot()), resolvesAfter(r, 100, { abort: () => aborts++ })), { signal: ac.signal }), r.clock);
      await r.clock.advance(10);
      ac.abort('stop');
      await r.clock.advance(200);
      expect(aborts).toBe(1);
      release?.();
      expectLife(r, 1, a, ['start', 'abandon', 'end'], { error: RequestAbortedError });
      expect(r.pool.stats().keys[0]?.failed).toBe(1);
      expectSlotsFree(r);
    });
  });

  it('a timeout while running: abandoned at the timeout, the slot held until the task ends', async () => {
    const r = traced();
    const a = track(r.pool.schedule(() => resolvesAfter(r, 200, 'late'), { timeout: 100 }), r.clock);
    await r.clock.advance(150);
    expect(a.error).toBeInstanceOf(RequestTimeoutError);
    expect(a.at).toBe(100);
    expect(r.pool.stats().inFlight).toBe(1);
    await r.clock.advance(100);
    expectLife(r, 1, a, ['start', 'abandon', 'end'], { error: RequestTimeoutError });
    expectSlotsFree(r);
  });

  it('an abort while queued again after a bounce drops it: start, bounce, drop', async () => {
    const r = traced({ fake: { script: () => ({ status: 429, type: 'rate_limit_reached_error', message: kimi429.rpm(1_000, 30) }) } });
    const ac = new AbortController();
    const a = track(ask(r.pool, 'a', { signal: ac.signal }), r.clock);
    await r.clock.advance(1_000);
    expect(r.pool.stats().queued).toBe(1);
    ac.abort();
    await settleAll(r.clock, [a]);
    expectLife(r, 1, a, ['start', 'bounce', 'drop'], { error: RequestAbortedError });
    expect(r.pool.stats().queued).toBe(0);
    expectSlotsFree(r);
  });

  it('the last key revoked: the bounced request is dropped with NoUsableKeyError, and so is one backing off', async () => {
    const r = traced({ pool: { retryBaseMs: 1_000 } });
    const b = track(r.pool.schedule(() => Promise.reject(serverError())), r.clock);
    await r.clock.advance(10);
    const a = track(r.pool.schedule(() => Promise.reject(apiError(401, 'invalid_authentication_error', 'Invalid Authentication'))), r.clock);
    await settleAll(r.clock, [a, b]);
    expectLife(r, 1, b, ['start', 'retry', 'drop'], { error: NoUsableKeyError });
    expectLife(r, 2, a, ['start', 'bounce', 'drop'], { error: NoUsableKeyError });
    expectSlotsFree(r);
  });

  it('a task that throws synchronously: start, fail with its own error', async () => {
    const r = traced();
    const mine = new TypeError('my bug');
    const a = track(
      r.pool.schedule(() => {
        throw mine;
      }),
      r.clock,
    );
    await settleAll(r.clock, [a]);
    expectLife(r, 1, a, ['start', 'fail'], { error: TypeError });
    expect(a.error).toBe(mine);
    expectSlotsFree(r);
  });

  it('a request that fits no account once a 429 taught a lower TPM is dropped as too large', async () => {
    const tpm429 = apiError(429, 'rate_limit_reached_error', kimi429.tpm(900, 1_000));
    const r = traced({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ONE, tpm: 10_000 } }] });
    let calls = 0;
    const a = track(r.pool.schedule(() => (calls++ === 0 ? Promise.reject(tpm429) : 'small'), { tokens: 100 }), r.clock);
    const b = track(r.pool.schedule(() => 'big', { tokens: 5_000 }), r.clock);
    await settleAll(r.clock, [a, b]);
    expectLife(r, 1, a, ['start', 'bounce', 'start', 'succeed'], { value: 'small' });
    expectLife(r, 2, b, ['drop'], { error: RequestTooLargeError });
    expect(r.pool.stats().accounts[0]?.limits.tpm).toBe(1_000);
    expectSlotsFree(r);
  });

  it('clear() drops what is queued and what backs off; close() drops what is left', async () => {
    const r = traced({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE }], pool: { retryBaseMs: 1_000 } });
    let n = 0;
    const fail1st = (): Promise<string> => (n++ === 0 ? Promise.reject(serverError()) : resolvesAfter(r, 100, 'ok'));
    const a = track(r.pool.schedule(fail1st), r.clock); // backs off
    const b = track(r.pool.schedule(fail1st), r.clock); // runs
    const c = track(r.pool.schedule(fail1st), r.clock); // queued behind b
    await r.clock.advance(10);
    expect([r.paths.get(1), r.paths.get(2), r.paths.get(3)]).toEqual([['start', 'retry'], ['start'], undefined]);
    expect(r.pool.clear()).toBe(2);
    const d = track(r.pool.schedule(fail1st), r.clock); // queued behind b again
    const closed = track(r.pool.close());
    await settleAll(r.clock, [a, b, c, d, closed]);
    expectLife(r, 1, a, ['start', 'retry', 'drop'], { error: QueueClearedError });
    expectLife(r, 2, b, ['start', 'succeed'], { value: 'ok' });
    expectLife(r, 3, c, ['drop'], { error: QueueClearedError });
    expectLife(r, 4, d, ['drop'], { error: PoolClosedError });
    expectSlotsFree(r);
  });

  it('close() while a request backs off drops it: start, retry, drop', async () => {
    const r = traced({ pool: { retryBaseMs: 1_000 } });
    const a = track(r.pool.schedule(() => Promise.reject(serverError())), r.clock);
    await r.clock.advance(10);
    const closed = track(r.pool.close());
    await settleAll(r.clock, [a, closed]);
    expectLife(r, 1, a, ['start', 'retry', 'drop'], { error: PoolClosedError });
    expect(r.clock.pending).toBe(0);
    expectSlotsFree(r);
  });
});

// Runs last (tests of a file run in order): the scenarios above drove every transition of the table.
it('the scenarios cover every transition of the table', () => {
  expect([...covered].sort()).toEqual(Object.keys(TRANSITIONS).sort());
});
