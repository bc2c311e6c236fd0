/** Every error shape a server or a gateway sends is read as that error; a success must look like one. */
import { describe, expect, it } from 'vitest';
import { errorInBody, headerRecord, statusOfBody, type ErrorBody } from '../src/error-body.js';
import { classifyError, MalformedResponseError, type FaultKind } from '../src/kimi-errors.js';
import { checkShape, InBandError } from '../src/response-shape.js';

describe('errorInBody', () => {
  const cases: [string, unknown, ErrorBody | undefined][] = [
    ['Kimi / OpenAI', { error: { type: 'engine_overloaded_error', message: 'busy' } }, { type: 'engine_overloaded_error', message: 'busy' }],
    ['a string (gateway SSE error)', { error: 'Stream error: upstream reset' }, { message: 'Stream error: upstream reset' }],
    ['code, message, type at the top (proxy SSE error)', { code: 500, message: 'boom', type: 'server_error' }, { status: 500, type: 'server_error', message: 'boom' }],
    ['status and response', { status: 400, response: 'bad prompt' }, { status: 400, message: 'bad prompt' }],
    ['status as a string and detail', { status: '502', detail: 'bad gateway' }, { status: 502, message: 'bad gateway' }],
    ['a code inside the error', { error: { code: 429, message: 'slow down' } }, { status: 429, message: 'slow down' }],
    ['an error object without a message', { error: { type: 'server_error' } }, { type: 'server_error', message: '{"type":"server_error"}' }],
    ['a completion', { id: 'x', choices: [] }, undefined],
    ['a message alone is no error', { message: 'hello' }, undefined],
    ['Kimi balance (code 0)', { code: 0, data: {}, status: true }, undefined],
    ['null', null, undefined],
    ['an array', [1], undefined],
  ];
  it.each(cases)('%s', (_, body, expected) => {
    expect(errorInBody(body)).toEqual(expected);
  });

  it('takes the status the body names, else the one of Kimi type, else 500', () => {
    expect(statusOfBody({ status: 400, type: 'engine_overloaded_error', message: '' })).toBe(400);
    expect(statusOfBody({ type: 'engine_overloaded_error', message: '' })).toBe(429);
    expect(statusOfBody({ message: 'Stream error' })).toBe(500);
  });
});

describe('checkShape: a 200 is read like the error it carries', () => {
  const h = new Headers({ 'msh-request-id': 'r-7' });
  const cases: [string, unknown, FaultKind, number | undefined][] = [
    ['overloaded in a 200', { error: { type: 'engine_overloaded_error', message: 'The engine is currently overloaded' } }, 'overloaded', 429],
    ['rate limit in a 200', { error: { type: 'rate_limit_reached_error', message: 'request reached organization max RPM: 3, please try again after 1 seconds' } }, 'rate_limit', 429],
    ['status 400 and response', { status: 400, response: 'invalid' }, 'bad_request', 400],
    ['proxy error event', { code: 500, message: 'boom', type: 'server_error' }, 'server', 500],
    ['gateway string', { error: 'Stream error: reset' }, 'server', 500],
    ['no choices, no error', { id: 'c-1', object: 'chat.completion' }, 'malformed', undefined],
    ['not an object', 'OK', 'malformed', undefined],
  ];
  it.each(cases)('%s', (_, body, kind, status) => {
    let thrown: unknown;
    try {
      checkShape(body, h, 'completion');
    } catch (error) {
      thrown = error;
    }
    expect(thrown instanceof InBandError || thrown instanceof MalformedResponseError).toBe(true);
    const fault = classifyError(thrown);
    expect(fault?.kind).toBe(kind);
    expect(fault?.status).toBe(status);
    if (thrown instanceof InBandError) expect(fault?.requestId).toBe('r-7');
  });

  it('passes a completion and a usage chunk (choices: [])', () => {
    const c = { id: 'c', choices: [{ index: 0 }] };
    expect(checkShape(c, undefined, 'completion')).toBe(c);
    const u = { id: 'c', choices: [], usage: { total_tokens: 3 } };
    expect(checkShape(u, undefined, 'chunk')).toBe(u);
  });
});

describe('headerRecord', () => {
  it('keeps headers with lower-case names and redacts secrets', () => {
    expect(headerRecord(new Headers({ 'Msh-Org-Id': 'org-1', Authorization: 'Bearer sk-x' }))).toEqual({ 'msh-org-id': 'org-1', authorization: '[redacted]' });
    expect(headerRecord({ 'X-Api-Key': 'sk-x', 'Retry-After': '3' })).toEqual({ 'x-api-key': '[redacted]', 'retry-after': '3' });
  });
});
