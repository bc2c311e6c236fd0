/**
 * Every attempt has a deadline over the whole response: an idle limit while
 * the body is read (keep-alive comments are not data) and an overall one. A
 * stall before data is retried; after data it is a StreamError; the slot is
 * freed at once. A stream ends at `[DONE]` whatever the connection does next.
 * Real HTTP on 127.0.0.1, the real openai SDK inside the pool.
 */
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError, StreamError } from '../../src/errors.js';
import type { KimiPool } from '../../src/kimi-pool.js';
import type { RetryEvent } from '../../src/events.js';
import { closeAll, chunk, completion, loopback, params, poolOn, sendJson, sse, type Hit, type Loopback } from '../helpers/loopback.js';

let server: Loopback;
let pool: KimiPool;
afterEach(closeAll);

/** Short limits for the stalls: they never end by themselves, so no timing decides the outcome. */
const LIMITS = { idleTimeoutMs: 300, attemptTimeoutMs: 60_000 };

/** A misbehaviour for the first attempt; the second attempt gets a proper answer. */
type Stall = (res: ServerResponse, hit: Hit) => void;

const beforeData: [string, Stall][] = [
  ['JSON body stalls after the headers', (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"id":"x",');
  }],
  ['stream sends only keep-alive comments', (res) => {
    const s = sse(res);
    const t = setInterval(() => s.write(': keep-alive\n\n'), 50);
    res.on('close', () => clearInterval(t));
  }],
  ['stream sends headers and nothing', (res) => {
    sse(res);
  }],
];

function answer(hit: Hit, res: ServerResponse): void {
  if (hit.body.stream === true) {
    const s = sse(res);
    s.data(chunk('ok'));
    s.data('[DONE]');
    s.end();
  } else sendJson(res, 200, completion('ok'));
}

describe('a stall before data is a retryable timeout', () => {
  for (const stream of [false, true]) {
    it.each(beforeData)(`%s (${stream ? 'stream' : 'not streamed'} request)`, async (_, stall) => {
      server = await loopback((hit, res) => (hit.n === 1 ? stall(res, hit) : answer(hit, res)));
      pool = poolOn(server.url, LIMITS);
      const retries: RetryEvent[] = [];
      pool.on('retry', (e) => retries.push(e));
      if (stream) {
        const s = await pool.chat.completions.create({ ...params(), stream: true });
        let text = '';
        for await (const c of s) text += c.choices[0]?.delta.content ?? '';
        expect(text).toBe('ok');
      } else {
        const r = await pool.chat.completions.create(params());
        expect(r.choices[0]?.message.content).toBe('ok');
      }
      expect(server.hits).toHaveLength(2);
      expect(retries).toHaveLength(1);
      expect(retries[0]?.error).toBeInstanceOf(ConnectionError);
      expect(retries[0]?.error.message).toMatch(/idleTimeoutMs/);
      expect(retries[0]?.error.errno).toBe('ETIMEDOUT');
      expect(pool.stats().inFlight).toBe(0);
      expect(pool.stats().succeeded).toBe(1);
    });
  }
});

/** A chunk every 20 ms, never idle, never done. */
const dataForever: Stall = (res) => {
  const s = sse(res);
  const t = setInterval(() => s.data(chunk('a')), 20);
  res.on('close', () => clearInterval(t));
};

describe('a stall after data is a StreamError, and the slot is freed at once', () => {
  const afterData: [string, Partial<typeof LIMITS>, Stall][] = [
    ['silence after the first chunk', {}, (res) => {
      const s = sse(res);
      s.data(chunk('a'));
    }],
    ['keep-alive comments after the first chunk', {}, (res) => {
      const s = sse(res);
      s.data(chunk('a'));
      const t = setInterval(() => s.write(': keep-alive\n\n'), 50);
      res.on('close', () => clearInterval(t));
    }],
    ['data for ever, past the overall limit', { attemptTimeoutMs: 500, idleTimeoutMs: 60_000 }, dataForever],
    ['data for ever, past the overall limit, no idle limit', { attemptTimeoutMs: 500, idleTimeoutMs: Infinity }, dataForever],
  ];
  it.each(afterData)('%s', async (_, limits, stall) => {
    server = await loopback((hit, res) => stall(res, hit));
    pool = poolOn(server.url, { ...LIMITS, ...limits });
    const s = await pool.chat.completions.create({ ...params(), stream: true });
    let chunks = 0;
    let error: unknown;
    try {
      for await (const c of s) if (c.choices.length > 0) chunks++;
    } catch (e) {
      error = e;
    }
    expect(chunks).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(StreamError);
    expect((error as StreamError).message).toMatch(limits.attemptTimeoutMs !== undefined ? /attemptTimeoutMs/ : /idleTimeoutMs/);
    // Freed when the error reached the reader, not later.
    expect(pool.stats().inFlight).toBe(0);
    expect(pool.stats().keys[0]?.failed).toBe(1);
    expect(server.hits).toHaveLength(1);
  });
});

describe('a stream ends at [DONE] whatever the connection does next', () => {
  const after: [string, Stall][] = [
    ['the body is left open', (res) => {
      const s = sse(res);
      s.data(chunk('a'));
      s.data(chunk('b'));
      s.data('[DONE]');
    }],
    ['keep-alives follow', (res) => {
      const s = sse(res);
      s.data(chunk('a'));
      s.data(chunk('b'));
      s.data('[DONE]');
      const t = setInterval(() => s.write(': keep-alive\n\n'), 20);
      res.on('close', () => clearInterval(t));
    }],
    ['more data follows', (res) => {
      const s = sse(res);
      s.data(chunk('a'));
      s.data(chunk('b'));
      s.write('data: [DONE]\n\ndata: {"junk":true}\n\n');
    }],
    // Gateways that label the stream otherwise: the SDK reads it as SSE all the same, and so does the cut.
    ...(['application/json', 'TEXT/EVENT-STREAM', 'text/plain'] as const).map((type): [string, Stall] => [`the body is left open, labelled ${type}`, (res) => {
      const s = sse(res, { 'content-type': type });
      s.data(chunk('a'));
      s.data(chunk('b'));
      s.data('[DONE]');
    }]),
  ];
  it.each(after)('%s', async (_, serve) => {
    server = await loopback((hit, res) => serve(res, hit));
    // A request timeout far beyond the answer, and an idle limit the open body would pass.
    pool = poolOn(server.url, { idleTimeoutMs: 200 });
    const s = await pool.chat.completions.create({ ...params(), stream: true }, { timeout: 30_000 });
    let text = '';
    for await (const c of s) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('ab');
    expect(pool.stats().inFlight).toBe(0);
    expect(pool.stats().succeeded).toBe(1);
    expect(pool.stats().failed).toBe(0);
    expect(pool.stats().retries).toBe(0);
    await pool.onIdle();
  });
});
