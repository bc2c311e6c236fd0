/**
 * Any error shape in a 200 body or an SSE error event is read like the same
 * error with a real status; a success must look like one, anything else is a
 * malformed response and retried. Real HTTP on 127.0.0.1, the real openai SDK.
 */
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { BadRequestError, OverloadedError, ServerError, StreamError, type KimiPoolError } from '../../src/errors.js';
import type { KimiPool } from '../../src/kimi-pool.js';
import { closeAll, chunk, completion, loopback, params, poolOn, sendJson, sse, type Loopback } from '../helpers/loopback.js';

let server: Loopback;
let pool: KimiPool;
afterEach(closeAll);

const rpm429 = 'Your account org-1<ak-1> request reached organization max RPM: 3, please try again after 1 seconds';

/** What the pool must do with the first answer: retry it, bounce it (429 rate limit), or fail with a class. */
type Outcome = { readonly then: 'retry'; readonly error: new (...a: never[]) => KimiPoolError } | { readonly then: 'bounce' } | { readonly then: 'fail'; readonly error: new (...a: never[]) => KimiPoolError; readonly status: number };

const bodies: [string, unknown, Outcome][] = [
  ['200 with engine_overloaded_error', { error: { type: 'engine_overloaded_error', message: 'The engine is currently overloaded' } }, { then: 'retry', error: OverloadedError }],
  ['200 with rate_limit_reached_error', { error: { type: 'rate_limit_reached_error', message: rpm429 } }, { then: 'bounce' }],
  ['200 with {status: 400, response}', { status: 400, response: 'prompt rejected' }, { then: 'fail', error: BadRequestError, status: 400 }],
  ['200 with an error string', { error: 'upstream timed out' }, { then: 'retry', error: ServerError }],
  ['200 without choices', { id: 'chatcmpl-1', object: 'chat.completion' }, { then: 'retry', error: ServerError }],
  ['200 with no choice in choices', { id: 'chatcmpl-1', object: 'chat.completion', choices: [] }, { then: 'retry', error: ServerError }],
];

/** SSE answers before any data. */
const events: [string, (res: ServerResponse) => void, Outcome][] = [
  ['event: error with a string error', (res) => sse(res).write('event: error\ndata: {"error":"Stream error: upstream reset"}\n\n'), { then: 'retry', error: ServerError }],
  ['event: error with code, message, type', (res) => sse(res).write('event: error\ndata: {"code":500,"message":"boom","type":"server_error"}\n\n'), { then: 'retry', error: ServerError }],
  ['a data event with Kimi overload', (res) => sse(res).data({ error: { type: 'engine_overloaded_error', message: 'overloaded' } }), { then: 'retry', error: OverloadedError }],
  ['a data event with a 400', (res) => sse(res).data({ status: 400, response: 'bad' }), { then: 'fail', error: BadRequestError, status: 400 }],
  ['a chunk without choices', (res) => sse(res).data({ id: 'x', object: 'chat.completion.chunk' }), { then: 'retry', error: ServerError }],
  // A stream that delivered nothing is no success.
  ['an empty stream', (res) => sse(res).end(), { then: 'retry', error: ServerError }],
  ['a stream of only [DONE]', (res) => {
    const s = sse(res);
    s.data('[DONE]');
    s.end();
  }, { then: 'retry', error: ServerError }],
  ['a JSON completion for a stream (a gateway that ignores stream: true)', (res) => sendJson(res, 200, completion('ok')), { then: 'retry', error: ServerError }],
];

function good(stream: boolean, res: ServerResponse): void {
  if (!stream) return sendJson(res, 200, completion('ok'));
  const s = sse(res);
  s.data(chunk('ok'));
  s.data('[DONE]');
  s.end();
}

async function run(p: KimiPool, stream: boolean): Promise<string> {
  if (!stream) return (await p.chat.completions.create(params())).choices[0]?.message.content ?? '';
  const s = await p.chat.completions.create({ ...params(), stream: true });
  let text = '';
  for await (const c of s) text += c.choices[0]?.delta.content ?? '';
  return text;
}

async function expectOutcome(first: (res: ServerResponse) => void, stream: boolean, outcome: Outcome): Promise<void> {
  server = await loopback((hit, res) => (hit.n === 1 ? first(res) : good(stream, res)));
  pool = poolOn(server.url, { idleTimeoutMs: 5_000 });
  const retries: KimiPoolError[] = [];
  const bounces: string[] = [];
  pool.on('retry', (e) => retries.push(e.error));
  pool.on('ratelimited', (e) => bounces.push(e.dimension));
  const settled = run(pool, stream).then(
    (text) => ({ text }),
    (error: unknown) => ({ error }),
  );
  if (outcome.then === 'bounce') {
    // The account pauses for the second the message names, then the request runs again.
    expect(await settled).toEqual({ text: 'ok' });
    expect(bounces).toEqual(['rpm']);
    expect(retries).toHaveLength(0);
  } else if (outcome.then === 'retry') {
    expect(await settled).toEqual({ text: 'ok' });
    expect(retries).toHaveLength(1);
    expect(retries[0]).toBeInstanceOf(outcome.error);
  } else {
    const r = (await settled) as { error?: KimiPoolError };
    expect(r.error).toBeInstanceOf(outcome.error);
    expect(r.error?.status).toBe(outcome.status);
    expect(server.hits).toHaveLength(1);
  }
  const stats = pool.stats();
  // A success is counted only for a real one.
  expect(stats.succeeded).toBe(outcome.then === 'fail' ? 0 : 1);
  expect(stats.keys[0]?.succeeded).toBe(outcome.then === 'fail' ? 0 : 1);
  expect(stats.inFlight).toBe(0);
}

describe('an error in a 200 body is that error', () => {
  it.each(bodies)('%s', async (_, body, outcome) => {
    await expectOutcome((res) => sendJson(res, 200, body), false, outcome);
  });
});

describe('an error event before any data is that error', () => {
  it.each(events)('%s', async (_, send, outcome) => {
    await expectOutcome(send, true, outcome);
  });
});

describe('an error event after data', () => {
  it('ends the iteration with a StreamError; nothing is counted a success', async () => {
    server = await loopback((_, res) => {
      const s = sse(res);
      s.data(chunk('a'));
      s.write('event: error\ndata: {"code":500,"message":"boom","type":"server_error"}\n\n');
      s.end();
    });
    pool = poolOn(server.url);
    const s = await pool.chat.completions.create({ ...params(), stream: true });
    let error: unknown;
    let text = '';
    try {
      for await (const c of s) text += c.choices[0]?.delta.content ?? '';
    } catch (e) {
      error = e;
    }
    expect(text).toBe('a');
    expect(error).toBeInstanceOf(StreamError);
    expect((error as Error).message).toMatch(/boom/);
    expect(pool.stats().succeeded).toBe(1); // the request resolved (its stream), as for any stream
    expect(pool.stats().keys[0]?.succeeded).toBe(0);
    expect(pool.stats().keys[0]?.failed).toBe(1);
  });
});
