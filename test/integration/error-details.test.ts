/**
 * Errors keep their cause chain, say where (host, errno), carry status,
 * headers (secrets redacted), Kimi's request id and the body, and are
 * instances of the openai SDK's error classes that code written for it catches.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import * as E from '../../src/errors.js';
import type { KimiPool } from '../../src/kimi-pool.js';
import { closeAll, loopback, params, poolOn, sendJson, type Loopback } from '../helpers/loopback.js';

let server: Loopback;
let pool: KimiPool;
afterEach(closeAll);

/** A port nothing listens on: bound, read, closed. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function failure(p: Promise<unknown>): Promise<E.KimiPoolError> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(r).toBeInstanceOf(E.KimiPoolError);
  return r as E.KimiPoolError;
}

describe('a refused connection', () => {
  it('says the host and the errno, keeps the cause chain, and is an APIConnectionError', async () => {
    const port = await closedPort();
    pool = poolOn(`http://127.0.0.1:${port}/v1`, { retries: 1 });
    const e = await failure(pool.chat.completions.create(params()));
    expect(e).toBeInstanceOf(E.ConnectionError);
    expect(e).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(e.errno).toBe('ECONNREFUSED');
    expect(e.host).toBe(`127.0.0.1:${port}`);
    expect(e.message).toContain(`host 127.0.0.1:${port}`);
    expect(e.message).toContain('ECONNREFUSED');
    // The chain: the SDK's error, then fetch's, then the socket's.
    const chain: unknown[] = [];
    for (let c: unknown = e.cause; c !== undefined && chain.length < 6; c = (c as { cause?: unknown }).cause) chain.push(c);
    expect(chain[0]).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(JSON.stringify(chain.map((c) => (c as { code?: unknown }).code ?? (c as { errors?: { code?: unknown }[] }).errors?.map((x) => x.code)))).toContain('ECONNREFUSED');
  });
});

describe('an API error', () => {
  const cases: [string, number, Record<string, unknown>, new (...a: never[]) => Error, new (...a: never[]) => Error][] = [
    ['400', 400, { error: { type: 'invalid_request_error', message: 'Invalid request: too long' } }, E.BadRequestError, OpenAI.BadRequestError],
    ['400 content_filter', 400, { error: { type: 'content_filter', message: 'high risk' } }, E.ContentFilterError, OpenAI.BadRequestError],
    ['403', 403, { error: { type: 'permission_denied_error', message: 'not open' } }, E.PermissionDeniedError, OpenAI.PermissionDeniedError],
    ['404', 404, { error: { type: 'resource_not_found_error', message: 'no such model' } }, E.NotFoundError, OpenAI.NotFoundError],
    ['500 every time', 500, { error: { type: 'server_error', message: 'boom' } }, E.ServerError, OpenAI.InternalServerError],
    ['429 overloaded every time', 429, { error: { type: 'engine_overloaded_error', message: 'overloaded' } }, E.OverloadedError, OpenAI.RateLimitError],
  ];
  it.each(cases)('%s carries status, redacted headers, request id and body', async (_, status, body, ours, sdks) => {
    server = await loopback((_, res) =>
      // A gateway's debug header echoing the key under another name.
      sendJson(res, status, body, { 'msh-request-id': 'req-42', 'msh-org-id': 'org-1', 'set-cookie': 'sid=abc', 'x-echo-auth': "Bearer sk-loopback-secret-0-0123456789" }),
    );
    pool = poolOn(server.url, { retries: 1 });
    const e = await failure(pool.chat.completions.create(params()));
    expect(e).toBeInstanceOf(ours);
    expect(e).toBeInstanceOf(sdks);
    expect(e).toBeInstanceOf(OpenAI.APIError);
    expect(e.status).toBe(status);
    expect(e.requestID).toBe('req-42');
    expect(e.headers?.get('msh-org-id')).toBe('org-1');
    expect(e.headers?.get('set-cookie')).toBe('[redacted]');
    expect(e.headers?.get('x-echo-auth')).toBe('[redacted]');
    expect(e.body).toEqual(body.error);
    expect(e.host).toBe(new URL(server.url).host);
    expect(e.message).toContain('request req-42');
    expect(e.cause).toBeInstanceOf(OpenAI.APIError);
  });

  it('never carries the key, even when the server echoes it', async () => {
    server = await loopback((hit, res) => {
      const key = hit.auth?.replace('Bearer ', '') ?? '';
      sendJson(res, 400, { error: { type: 'invalid_request_error', message: `bad request for key ${key}` } }, { 'msh-request-id': 'r' });
    });
    pool = poolOn(server.url);
    const e = await failure(pool.chat.completions.create(params()));
    const secret = 'sk-loopback-secret-0-0123456789';
    const seen = [e.message, JSON.stringify(e.body), String((e.cause as Error | undefined)?.message), JSON.stringify([...(e.headers?.entries() ?? [])])].join('\n');
    expect(seen).not.toContain(secret);
    expect(e.message).toContain('key-a');
  });
});
