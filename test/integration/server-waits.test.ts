/**
 * A wait the server asks for is bounded: one above `maxRetryAfterMs` is
 * ignored (as openai-node ignores retry-after above 60 s), the pool's own
 * backoff or pause applies, the request runs on another account meanwhile, and
 * a `retry_after_ignored` warning tells the caller once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RateLimitedEvent, RetryEvent, WarningEvent } from '../../src/events.js';
import type { KimiPool } from '../../src/kimi-pool.js';
import { closeAll, completion, loopback, params, poolOn, sendJson, type Loopback } from '../helpers/loopback.js';

let server: Loopback;
let pool: KimiPool;
afterEach(closeAll);

const overloaded = { error: { type: 'engine_overloaded_error', message: 'The engine is currently overloaded, please try again later' } };
const unavailable = { error: { type: 'server_error', message: 'unavailable' } };

describe('retry-after on a transient fault', () => {
  const cases: [string, number, Record<string, string>, unknown, number | undefined, boolean][] = [
    // name, status, headers, body, expected retry delay (undefined: the pool's own backoff), warned
    ['503 asking for a day', 503, { 'retry-after': '86400' }, unavailable, undefined, true],
    ['429 overloaded asking for a day in ms', 429, { 'retry-after-ms': '86400000' }, overloaded, undefined, true],
    ['503 asking for an HTTP date a day ahead', 503, { 'retry-after': new Date(Date.now() + 86_400_000).toUTCString() }, unavailable, undefined, true],
    ['429 overloaded asking for 40 ms: honoured', 429, { 'retry-after-ms': '40' }, overloaded, 40, false],
  ];
  it.each(cases)('%s', async (_, status, headers, body, delay, warned) => {
    server = await loopback((hit, res) => (hit.n === 1 ? sendJson(res, status, body, headers) : sendJson(res, 200, completion('ok'))));
    pool = poolOn(server.url);
    const retries: RetryEvent[] = [];
    const warnings: WarningEvent[] = [];
    pool.on('retry', (e) => retries.push(e));
    pool.on('warning', (e) => warnings.push(e));
    const r = await pool.chat.completions.create(params());
    expect(r.choices[0]?.message.content).toBe('ok');
    expect(retries).toHaveLength(1);
    // retryBaseMs 1, retryMaxMs 2, no jitter: the pool's own backoff is 1 ms.
    expect(retries[0]?.delayMs).toBe(delay ?? 1);
    expect(warnings.map((w) => w.code)).toEqual(warned ? ['retry_after_ignored'] : []);
  });

  it('says it once per pool', async () => {
    server = await loopback((hit, res) => (hit.n % 2 === 1 ? sendJson(res, 503, unavailable, { 'retry-after': '86400' }) : sendJson(res, 200, completion('ok'))));
    pool = poolOn(server.url);
    const warnings: WarningEvent[] = [];
    pool.on('warning', (e) => warnings.push(e));
    await pool.chat.completions.create(params());
    await pool.chat.completions.create(params());
    expect(server.hits).toHaveLength(4);
    expect(warnings.filter((w) => w.code === 'retry_after_ignored')).toHaveLength(1);
  });
});

describe('a rate limit asking for hours', () => {
  const cases: [string, Record<string, string>, string][] = [
    ['in retry-after', { 'retry-after': '7200' }, 'Your account org-1<ak-1> request reached organization max RPM: 3'],
    ['in the message', {}, 'Your account org-1<ak-1> request reached organization max RPM: 3, please try again after 7200 seconds'],
  ];
  it.each(cases)('%s: the pause is the pool\'s own and the request runs on the idle account', async (_, headers, message) => {
    server = await loopback((hit, res) => {
      if (hit.auth?.includes('secret-0') === true) sendJson(res, 429, { error: { type: 'rate_limit_reached_error', message } }, headers);
      else sendJson(res, 200, completion('from b'));
    });
    pool = poolOn(server.url, {}, ['a', 'b']);
    const limited: RateLimitedEvent[] = [];
    pool.on('ratelimited', (e) => limited.push(e));
    pool.on('warning', () => undefined);
    // Two at once: the first starts on a, the second on b.
    const [x, y] = await Promise.all([pool.chat.completions.create(params()), pool.chat.completions.create(params())]);
    expect([x.choices[0]?.message.content, y.choices[0]?.message.content]).toEqual(['from b', 'from b']);
    expect(limited).toHaveLength(1);
    expect(limited[0]?.account).toBe('a');
    // The pool's own guess for an RPM 429 (at most a window), not two hours.
    expect(limited[0]?.pausedMs).toBeLessThanOrEqual(60_000);
  });
});
