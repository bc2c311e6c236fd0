/**
 * Streams hold their concurrency slot until read to the end, broken, left with
 * `break` or `abort()`-ed. A stream cut after data reached the caller rejects
 * with StreamError and is not retried; one that fails before its first chunk is.
 */
import { describe, expect, it } from 'vitest';
import { RequestAbortedError, RequestTimeoutError, StreamError } from '../../src/errors.js';
import type { ChatCompletionChunk } from '../../src/chat.js';
import type { PooledStream } from '../../src/pooled-stream.js';
import type { RequestOptions } from '../../src/options.js';
import { ask, rig, ROOMY, settleAll, track, type Rig } from '../helpers/pool.js';

const ONE = { ...ROOMY, concurrency: 1 };

function streamRig(fake: Parameters<typeof rig>[0] extends infer O ? (O extends { fake?: infer F } ? F : never) : never = {}) {
  return rig({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE }], pool: { retryBaseMs: 10 }, fake: { latencyMs: () => 100, streamChunks: 3, ...fake } });
}

const stream = (r: Rig, content: string, options?: RequestOptions) =>
  r.pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content }], max_tokens: 10, stream: true }, options);

/** Reads a stream in the background, `stopAfter` chunks at most; the result is readable synchronously. */
function read(s: PooledStream<ChatCompletionChunk>, stopAfter = Infinity) {
  const out = { text: '', chunks: 0, done: false, error: undefined as unknown };
  void (async () => {
    try {
      for await (const c of s) {
        out.text += c.choices[0]?.delta.content ?? '';
        if (++out.chunks >= stopAfter) break;
      }
    } catch (error) {
      out.error = error;
    }
    out.done = true;
  })();
  return out;
}

describe('stream slot', () => {
  it('is held until the stream is read to the end', async () => {
    const r = streamRig();
    const a = track(stream(r, 'abc'), r.clock);
    const b = track(ask(r.pool, 'b'), r.clock);
    await r.clock.runUntil(() => a.settled);
    expect(a.at).toBe(100);
    // nobody reads a yet: it keeps the only slot
    await r.clock.advance(1000);
    expect(r.pool.stats().inFlight).toBe(1);
    expect(r.fake.arrivals).toHaveLength(1);
    expect(b.settled).toBe(false);
    const out = read(a.value as PooledStream<ChatCompletionChunk>);
    await r.clock.runUntil(() => out.done);
    expect(out.error).toBeUndefined();
    expect(out.text).toBe('echo: abc');
    expect(out.chunks).toBe(3);
    await settleAll(r.clock, [b]);
    expect(r.fake.arrivals.map((x) => x.account)).toHaveLength(2);
    expect(r.fake.arrivals[1]?.t).toBe(r.fake.arrivals[0]?.done);
    const success = r.of('success').find((s) => s.requestId === 1);
    expect(success?.usedTokens).toBeGreaterThan(0);
    expect(r.pool.stats().accounts[0]?.usedTokens).toBeGreaterThan(success?.usedTokens as number);
    expect(r.fake.violations()).toEqual([]);
  });

  it('is freed by `break`, and the HTTP stream is stopped', async () => {
    const r = streamRig({ streamChunks: 10 });
    const a = track(stream(r, 'abcdefghij'));
    const b = track(ask(r.pool, 'b'), r.clock);
    await r.clock.runUntil(() => a.settled);
    const out = read(a.value as PooledStream<ChatCompletionChunk>, 2);
    await r.clock.runUntil(() => out.done);
    expect(out.chunks).toBe(2);
    expect(out.error).toBeUndefined();
    await settleAll(r.clock, [b]);
    expect(r.fake.arrivals[0]?.done).toBeLessThanOrEqual(r.fake.arrivals[1]?.t as number);
    expect(r.pool.stats().inFlight).toBe(0);
    expect(r.fake.violations()).toEqual([]);
  });

  it('is freed by abort()', async () => {
    const r = streamRig({ streamChunks: 10 });
    const a = track(stream(r, 'abcdefghij'));
    const b = track(ask(r.pool, 'b'), r.clock);
    await r.clock.runUntil(() => a.settled);
    const s = a.value as PooledStream<ChatCompletionChunk>;
    s.abort();
    s.abort();
    // the freed slot went to b at once
    expect(r.of('start').map((x) => x.requestId)).toEqual([1, 2]);
    await settleAll(r.clock, [b]);
    expect(b.error).toBeUndefined();
    expect(r.fake.arrivals[1]?.t).toBe(100);
  });

  it('a stream cut after data reached the caller rejects with StreamError and is not retried', async () => {
    const r = streamRig({ streamChunks: 5, cutStreamAfter: (n) => (n === 0 ? 2 : undefined) });
    const a = track(stream(r, 'abcde'));
    const b = track(ask(r.pool, 'b'), r.clock);
    await r.clock.runUntil(() => a.settled);
    const out = read(a.value as PooledStream<ChatCompletionChunk>);
    await r.clock.runUntil(() => out.done);
    expect(out.chunks).toBe(2);
    expect(out.error).toBeInstanceOf(StreamError);
    expect(out.error).toMatchObject({ code: 'ERR_STREAM', account: 'org-a' });
    expect((out.error as Error).message).not.toContain('sk-aaaaaaaaaaaa1');
    await settleAll(r.clock, [b]);
    expect(r.fake.arrivals).toHaveLength(2);
    expect(r.of('retry')).toEqual([]);
    expect(r.pool.stats().inFlight).toBe(0);
    expect(r.pool.stats().accounts[0]?.failed).toBe(1);
  });

  it('a stream failing before its first chunk is retried', async () => {
    const r = streamRig({ cutStreamAfter: (n) => (n === 0 ? 0 : undefined) });
    const a = track(stream(r, 'abc'));
    await r.clock.runUntil(() => a.settled);
    expect(a.error).toBeUndefined();
    const out = read(a.value as PooledStream<ChatCompletionChunk>);
    await r.clock.runUntil(() => out.done);
    expect(out.text).toBe('echo: abc');
    expect(r.of('retry')).toHaveLength(1);
    expect(r.of('start').map((s) => s.attempt)).toEqual([1, 2]);
    expect(r.pool.stats().accounts[0]?.connectionErrors).toBe(1);
  });

  it('abort() of the signal while the stream is read rejects the iteration and frees the slot', async () => {
    const r = streamRig({ streamChunks: 10 });
    const ac = new AbortController();
    const a = track(stream(r, 'abcdefghij', { signal: ac.signal }));
    const b = track(ask(r.pool, 'b'), r.clock);
    await r.clock.runUntil(() => a.settled);
    const out = read(a.value as PooledStream<ChatCompletionChunk>);
    await r.clock.advance(25);
    ac.abort();
    await r.clock.runUntil(() => out.done);
    expect(out.chunks).toBeLessThan(10);
    expect(out.error).toBeInstanceOf(RequestAbortedError);
    await settleAll(r.clock, [b]);
    expect(r.pool.stats().inFlight).toBe(0);
    expect(r.of('success').map((s) => s.requestId)).toEqual([2]);
  });

  it('a timeout while the stream is read rejects the iteration with RequestTimeoutError', async () => {
    const r = streamRig({ streamChunks: 50 });
    const a = track(stream(r, 'x'.repeat(50), { timeout: 200 }));
    await r.clock.runUntil(() => a.settled);
    const out = read(a.value as PooledStream<ChatCompletionChunk>);
    await r.clock.runUntil(() => out.done);
    expect(out.chunks).toBeLessThan(50);
    expect(out.error).toBeInstanceOf(RequestTimeoutError);
    expect(r.pool.stats().inFlight).toBe(0);
    expect(r.clock.now()).toBeLessThan(300);
  });

  it('a timeout while the stream sits unread frees its slot; reading it then rejects', async () => {
    const r = streamRig();
    const a = track(stream(r, 'abc', { timeout: 300 }));
    const b = track(ask(r.pool, 'b'), r.clock);
    await settleAll(r.clock, [a, b]);
    expect(r.fake.arrivals.map((x) => x.t)).toEqual([0, 300]);
    const out = read(a.value as PooledStream<ChatCompletionChunk>);
    await r.clock.runUntil(() => out.done);
    expect(out.error).toBeInstanceOf(RequestTimeoutError);
    expect(r.pool.stats().inFlight).toBe(0);
    expect(r.of('success').map((x) => x.requestId)).toEqual([2]);
  });

  it('close() waits for a stream being read', async () => {
    const r = streamRig();
    const a = track(stream(r, 'abc'));
    await r.clock.runUntil(() => a.settled);
    let closed = false;
    void r.pool.close().then(() => (closed = true));
    await r.clock.advance(500);
    expect(closed).toBe(false);
    const out = read(a.value as PooledStream<ChatCompletionChunk>);
    await r.clock.runUntil(() => out.done && closed);
    expect(out.text).toBe('echo: abc');
  });
});
