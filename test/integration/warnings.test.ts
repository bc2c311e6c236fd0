/**
 * Accounts are learned from `Msh-Org-Id` on every response, 429s included; a
 * warning nobody listens to is written once per kind through
 * `process.emitWarning`, as is a disabled key nobody listens for.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WarningEvent } from '../../src/events.js';
import type { KimiPool } from '../../src/kimi-pool.js';
import { closeAll, completion, loopback, params, poolOn, sendJson, type Loopback } from '../helpers/loopback.js';

let server: Loopback;
let pool: KimiPool;
afterEach(async () => {
  vi.restoreAllMocks();
  await closeAll();
});

const rpm = { error: { type: 'rate_limit_reached_error', message: 'Your account org-1<ak-1> request reached organization max RPM: 3, please try again after 1 seconds' } };

describe('Msh-Org-Id on every answer', () => {
  const answers: [string, number, unknown][] = [
    ['every answer a 429', 429, rpm],
    ['every answer a 500', 500, { error: { type: 'server_error', message: 'boom' } }],
    ['every answer a success', 200, completion('ok')],
  ];
  it.each(answers)('merges the two accounts of one Kimi account when %s', async (_, status, body) => {
    server = await loopback((_, res) => sendJson(res, status, body, { 'msh-org-id': 'org-shared' }));
    pool = poolOn(server.url, { retries: 0, maxRateLimitBounces: 0 }, ['a', 'b']);
    const merged: string[] = [];
    pool.on('account-merged', (e) => merged.push(e.org ?? ''));
    await Promise.allSettled([pool.chat.completions.create(params()), pool.chat.completions.create(params())]);
    expect(new Set(server.hits.map((h) => h.auth)).size).toBe(2);
    expect(merged).toEqual(['org-shared']);
    expect(pool.stats().accounts.filter((a) => a.keys.length > 0)).toHaveLength(1);
  });
});

describe('with no warning listener', () => {
  function capture() {
    const written: { message: string; code: string | undefined }[] = [];
    vi.spyOn(process, 'emitWarning').mockImplementation(((message: string | Error, options?: { code?: string }) => {
      written.push({ message: String(message), code: options?.code });
    }) as typeof process.emitWarning);
    return written;
  }

  it('writes a request without max_tokens once, through process.emitWarning', async () => {
    const written = capture();
    server = await loopback((_, res) => sendJson(res, 200, completion('ok')));
    pool = poolOn(server.url);
    const { max_tokens: _m, ...noMax } = params();
    await pool.chat.completions.create(noMax);
    await pool.chat.completions.create(noMax);
    expect(written.map((w) => w.code)).toEqual(['KIMI_POOL_NO_MAX_TOKENS']);
  });

  it('writes each key disabled by a 401, once', async () => {
    const written = capture();
    server = await loopback((hit, res) =>
      hit.auth?.includes('secret-2') === true ? sendJson(res, 200, completion('ok')) : sendJson(res, 401, { error: { type: 'invalid_authentication_error', message: 'Invalid Authentication' } }),
    );
    pool = poolOn(server.url, {}, ['a', 'b', 'c']);
    await Promise.all([0, 1, 2, 3].map(() => pool.chat.completions.create(params())));
    expect(written.map((w) => w.code)).toEqual(['KIMI_POOL_KEY_DISABLED', 'KIMI_POOL_KEY_DISABLED']);
    expect(written.map((w) => w.message.match(/key-[ab]/)?.[0]).sort()).toEqual(['key-a', 'key-b']);
    expect(written.map((w) => w.message).join('')).not.toContain('sk-loopback');
  });

  it('writes a listener that throws once', async () => {
    const written = capture();
    server = await loopback((_, res) => sendJson(res, 200, completion('ok')));
    pool = poolOn(server.url);
    pool.on('success', () => {
      throw new Error('listener bug');
    });
    await pool.chat.completions.create(params());
    await pool.chat.completions.create(params());
    expect(written.map((w) => w.code)).toEqual(['KIMI_POOL_LISTENER_ERROR']);
    expect(written[0]?.message).toContain('listener bug');
  });

  it('writes nothing when a warning listener is there', async () => {
    const written = capture();
    server = await loopback((_, res) => sendJson(res, 200, completion('ok')));
    pool = poolOn(server.url);
    const heard: string[] = [];
    pool.on('warning', (w) => heard.push(w.code));
    const { max_tokens: _m, ...noMax } = params();
    await pool.chat.completions.create(noMax);
    expect(heard).toEqual(['no_max_tokens']);
    expect(written).toEqual([]);
  });
});
