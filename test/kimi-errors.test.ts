import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { classifyError, MalformedResponseError, parseRateLimitMessage, type FaultKind, type RateLimitInfo } from '../src/kimi-errors.js';
import { kimi429 } from './helpers/pool.js';

describe('parseRateLimitMessage', () => {
  const cases: [string, string, RateLimitInfo][] = [
    ['concurrency', kimi429.concurrency(50, 1), { dimension: 'concurrency', limit: 50, retryAfterMs: 1000 }],
    ['RPM', kimi429.rpm(200, 7), { dimension: 'rpm', limit: 200, retryAfterMs: 7000 }],
    ['TPM', kimi429.tpm(2_000_123, 2_000_000), { dimension: 'tpm', limit: 2_000_000, current: 2_000_123 }],
    ['TPD', kimi429.tpd(1_500_010, 1_500_000), { dimension: 'tpd', limit: 1_500_000, current: 1_500_010 }],
    ['project TPM', 'Your account org<ak> request reached project TPM rate limit, current:900, limit:800', { dimension: 'tpm', limit: 800, current: 900 }],
    ['old max request', kimi429.old(3, 1), { dimension: 'rpm', limit: 3, retryAfterMs: 1000 }],
    ['fractional seconds', 'request reached organization max RPM: 3, please try again after 1.5 seconds', { dimension: 'rpm', limit: 3, retryAfterMs: 1500 }],
    ['unknown text', 'slow down', { dimension: 'unknown' }],
    ['unknown text with a wait', 'busy, please try again after 2 seconds', { dimension: 'unknown', retryAfterMs: 2000 }],
  ];
  it.each(cases)('%s', (_, message, expected) => {
    expect(parseRateLimitMessage(message)).toEqual(expected);
  });
});

function apiError(status: number, body: { type?: string; message?: string } | undefined, headers: Record<string, string> = {}): ReturnType<typeof OpenAI.APIError.generate> {
  return OpenAI.APIError.generate(status, body === undefined ? undefined : { error: body }, undefined, new Headers(headers));
}

describe('classifyError', () => {
  const kinds: [string, unknown, FaultKind][] = [
    ['400 invalid_request_error', apiError(400, { type: 'invalid_request_error', message: 'too long' }), 'bad_request'],
    ['400 content_filter', apiError(400, { type: 'content_filter', message: 'high risk' }), 'content_filter'],
    ['401 invalid_authentication_error', apiError(401, { type: 'invalid_authentication_error', message: 'Invalid Authentication' }), 'auth'],
    ['401 incorrect_api_key_error', apiError(401, { type: 'incorrect_api_key_error', message: 'bad key' }), 'auth'],
    ['403 permission_denied_error', apiError(403, { type: 'permission_denied_error', message: 'not open' }), 'permission'],
    ['403 exceeded_current_quota_error', apiError(403, { type: 'exceeded_current_quota_error', message: 'suspended' }), 'quota'],
    ['404 resource_not_found_error', apiError(404, { type: 'resource_not_found_error', message: 'no model' }), 'not_found'],
    ['429 rate_limit_reached_error', apiError(429, { type: 'rate_limit_reached_error', message: kimi429.rpm(3) }), 'rate_limit'],
    ['429 exceeded_current_quota_error', apiError(429, { type: 'exceeded_current_quota_error', message: 'You exceeded your current token quota' }), 'quota'],
    ['429 quota without a type', apiError(429, { message: 'Your account is suspended due to insufficient balance' }), 'quota'],
    ['429 engine_overloaded_error', apiError(429, { type: 'engine_overloaded_error', message: 'The engine is currently overloaded' }), 'overloaded'],
    ['500 server_error', apiError(500, { type: 'server_error', message: 'boom' }), 'server'],
    ['500 unexpected_output', apiError(500, { type: 'unexpected_output', message: 'odd' }), 'server'],
    ['502 without body', apiError(502, undefined), 'server'],
    ['503', apiError(503, { message: 'unavailable' }), 'server'],
    ['504', apiError(504, undefined), 'server'],
    ['408', apiError(408, undefined), 'server'],
    ['402 (other)', apiError(402, { message: 'pay' }), 'other'],
    ['SDK connection error (ECONNRESET cause)', new OpenAI.APIConnectionError({ cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) }), 'connection'],
    ['SDK connection error without cause', new OpenAI.APIConnectionError({ message: 'Connection error.' }), 'connection'],
    ['SDK connection timeout', new OpenAI.APIConnectionTimeoutError(), 'connection'],
    ['raw ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'connection'],
    ['undici socket error deep in causes', new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) }), 'connection'],
    ['malformed JSON body (wrapped by the chat front)', new MalformedResponseError(new SyntaxError('Unexpected token < in JSON')), 'malformed'],
    ['error event inside a stream: overloaded', Object.assign(new Error('x'), { error: { type: 'engine_overloaded_error', message: 'busy' } }), 'overloaded'],
    ['error event inside a stream: rate limit', Object.assign(new Error('x'), { error: { type: 'rate_limit_reached_error', message: 'max RPM: 3, please try again after 2 seconds' } }), 'rate_limit'],
    // No status and a type Kimi does not use: a server fault, as a 500 would be.
    ['error event inside a stream: unknown type', Object.assign(new Error('x'), { error: { type: 'weird_error', message: '?' } }), 'server'],
    ['error event inside a stream: a string (a gateway)', new OpenAI.APIError(undefined, 'Stream error: upstream closed' as unknown as object, undefined, undefined), 'server'],
    ['error event inside a stream: a status in the body', new OpenAI.APIError(undefined, { code: 400, message: 'bad' }, undefined, undefined), 'bad_request'],
    ['SDK user abort', new OpenAI.APIUserAbortError(), 'aborted'],
    ['DOM AbortError', new DOMException('aborted', 'AbortError'), 'aborted'],
  ];
  it.each(kinds)('%s', (_, error, kind) => {
    expect(classifyError(error)?.kind).toBe(kind);
  });

  it('keeps status, Kimi type and message, and parses the rate limit', () => {
    const f = classifyError(apiError(429, { type: 'rate_limit_reached_error', message: kimi429.tpm(10, 5) }, { 'msh-org-id': 'org-9' }));
    expect(f).toMatchObject({
      kind: 'rate_limit',
      status: 429,
      kimiType: 'rate_limit_reached_error',
      message: kimi429.tpm(10, 5),
      rateLimit: { dimension: 'tpm', current: 10, limit: 5 },
      orgId: 'org-9',
      headers: { 'msh-org-id': 'org-9' },
      body: { type: 'rate_limit_reached_error', message: kimi429.tpm(10, 5) },
    });
  });

  it('keeps the error, the request id, redacted headers, and the errno of a connection fault', () => {
    const e = apiError(500, { type: 'server_error', message: 'boom' }, { 'msh-request-id': 'req-1', 'set-cookie': 'session=secret' });
    const f = classifyError(e);
    expect(f?.cause).toBe(e);
    expect(f?.requestId).toBe('req-1');
    expect(f?.headers).toEqual({ 'msh-request-id': 'req-1', 'set-cookie': '[redacted]' });
    const refused = new OpenAI.APIConnectionError({ cause: new TypeError('fetch failed', { cause: new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:9'), { code: 'ECONNREFUSED' })]) }) });
    expect(classifyError(refused)).toMatchObject({ kind: 'connection', errno: 'ECONNREFUSED', cause: refused });
  });

  it('reads retry-after-ms, then retry-after (seconds or HTTP date)', () => {
    expect(classifyError(apiError(503, undefined, { 'retry-after-ms': '1500', 'retry-after': '9' }))?.retryAfterMs).toBe(1500);
    expect(classifyError(apiError(503, undefined, { 'retry-after': '3' }))?.retryAfterMs).toBe(3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(classifyError(apiError(503, undefined, { 'retry-after': 'Thu, 01 Jan 2026 00:00:10 GMT' }), now)?.retryAfterMs).toBe(10_000);
    expect(classifyError(apiError(503, undefined))?.retryAfterMs).toBeUndefined();
  });

  it('works on plain objects of the same shape (another copy of the SDK)', () => {
    expect(classifyError({ status: 401, error: { type: 'invalid_authentication_error', message: 'x' }, headers: {} })?.kind).toBe('auth');
    expect(classifyError({ status: 429, error: { type: 'rate_limit_reached_error', message: 'x' }, headers: { 'Retry-After': '2' } })?.retryAfterMs).toBe(2000);
  });

  it('returns undefined for errors that are not from the API or the network', () => {
    expect(classifyError(new Error('my own bug'))).toBeUndefined();
    expect(classifyError(new TypeError('x is not a function'))).toBeUndefined();
    expect(classifyError('a string')).toBeUndefined();
    expect(classifyError(null)).toBeUndefined();
    expect(classifyError(undefined)).toBeUndefined();
    expect(classifyError(42)).toBeUndefined();
  });
});
