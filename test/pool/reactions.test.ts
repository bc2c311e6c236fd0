import { describe, expect, it } from 'vitest';
import * as E from '../../src/errors.js';
import type { Fault, FaultKind, RateLimitInfo } from '../../src/kimi-errors.js';
import { boundedHints, errorFor, learnedLimits, rateLimitPauseMs, reactionTo, type Reaction } from '../../src/pool/reactions.js';
import type { Limits } from '../../src/tiers.js';

const LIMITS: Limits = { concurrency: 50, rpm: 200, tpm: 2_000_000, tpd: Infinity };
const W = 60_000;

describe('reactionTo', () => {
  const cases: [FaultKind, Reaction['type']][] = [
    ['rate_limit', 'bounce'],
    ['auth', 'disable-key'],
    ['quota', 'disable-account'],
    ['overloaded', 'retry'],
    ['server', 'retry'],
    ['malformed', 'retry'],
    ['connection', 'retry'],
    ['bad_request', 'fail'],
    ['content_filter', 'fail'],
    ['permission', 'fail'],
    ['not_found', 'fail'],
    ['other', 'fail'],
  ];
  it.each(cases)('%s -> %s', (kind, type) => {
    expect(reactionTo({ kind, message: 'x' }, W, 0, LIMITS).type).toBe(type);
  });

  it('a rate limit bounces with the pause the message says and the limit it names', () => {
    const fault: Fault = { kind: 'rate_limit', status: 429, message: 'x', rateLimit: { dimension: 'rpm', limit: 100, retryAfterMs: 3000 } };
    expect(reactionTo(fault, W, 0, LIMITS)).toEqual({ type: 'bounce', pauseMs: 3000, learned: { ...LIMITS, rpm: 100 } });
  });

  it('a rate limit without parsed info still bounces', () => {
    expect(reactionTo({ kind: 'rate_limit', message: 'x' }, W, 0, LIMITS)).toEqual({ type: 'bounce', pauseMs: 1000, learned: undefined });
  });
});

describe('rateLimitPauseMs', () => {
  const cases: [string, RateLimitInfo, number | undefined, number, number][] = [
    ['message wait', { dimension: 'rpm', retryAfterMs: 2000 }, undefined, 0, 2000],
    ['header longer than message', { dimension: 'rpm', retryAfterMs: 2000 }, 5000, 0, 5000],
    ['message longer than header', { dimension: 'concurrency', retryAfterMs: 9000 }, 5000, 0, 9000],
    ['header only', { dimension: 'tpm' }, 4000, 3, 4000],
    ['TPM first guess: 1/8 window', { dimension: 'tpm' }, undefined, 0, W / 8],
    ['TPM doubles per 429 in a row', { dimension: 'tpm' }, undefined, 2, W / 2],
    ['TPM at most a window', { dimension: 'tpm' }, undefined, 10, W],
    ['TPD first guess: a window', { dimension: 'tpd' }, undefined, 0, W],
    ['TPD grows', { dimension: 'tpd' }, undefined, 3, 8 * W],
    ['TPD at most 60 windows', { dimension: 'tpd' }, undefined, 30, 60 * W],
    ['unknown: 1 s', { dimension: 'unknown' }, undefined, 0, 1000],
    ['unknown grows', { dimension: 'unknown' }, undefined, 4, 16_000],
    ['unknown at most a window', { dimension: 'unknown' }, undefined, 12, W],
  ];
  it.each(cases)('%s', (_, info, header, streak, expected) => {
    expect(rateLimitPauseMs(info, header, W, streak)).toBe(expected);
  });
});

describe('learnedLimits', () => {
  const cases: [string, RateLimitInfo, Limits | undefined][] = [
    ['lower RPM', { dimension: 'rpm', limit: 100 }, { ...LIMITS, rpm: 100 }],
    ['lower concurrency', { dimension: 'concurrency', limit: 15 }, { ...LIMITS, concurrency: 15 }],
    ['lower TPM', { dimension: 'tpm', limit: 1_000_000, current: 1_000_100 }, { ...LIMITS, tpm: 1_000_000 }],
    ['TPD below unlimited', { dimension: 'tpd', limit: 1_500_000 }, { ...LIMITS, tpd: 1_500_000 }],
    ['same as configured: nothing new', { dimension: 'rpm', limit: 200 }, undefined],
    ['higher than configured: keep ours', { dimension: 'rpm', limit: 500 }, undefined],
    ['no limit in message', { dimension: 'rpm' }, undefined],
    ['unknown dimension', { dimension: 'unknown', limit: 3 }, undefined],
    ['zero is not a limit', { dimension: 'rpm', limit: 0 }, undefined],
  ];
  it.each(cases)('%s', (_, info, expected) => {
    expect(learnedLimits(info, LIMITS)).toEqual(expected);
  });
});

describe('errorFor', () => {
  const cases: [FaultKind, new (...a: never[]) => E.KimiPoolError, E.KimiPoolErrorCode][] = [
    ['bad_request', E.BadRequestError, 'ERR_BAD_REQUEST'],
    ['content_filter', E.ContentFilterError, 'ERR_CONTENT_FILTER'],
    ['permission', E.PermissionDeniedError, 'ERR_PERMISSION_DENIED'],
    ['not_found', E.NotFoundError, 'ERR_NOT_FOUND'],
    ['auth', E.AuthenticationError, 'ERR_AUTHENTICATION'],
    ['quota', E.QuotaExceededError, 'ERR_QUOTA_EXCEEDED'],
    ['rate_limit', E.RateLimitError, 'ERR_RATE_LIMITED'],
    ['overloaded', E.OverloadedError, 'ERR_OVERLOADED'],
    ['server', E.ServerError, 'ERR_SERVER'],
    ['malformed', E.ServerError, 'ERR_SERVER'],
    ['connection', E.ConnectionError, 'ERR_CONNECTION'],
    ['other', E.APIError, 'ERR_API'],
  ];
  it.each(cases)('%s -> %o', (kind, cls, code) => {
    const e = errorFor({ kind, status: 418, kimiType: 'some_type', message: 'it broke' }, { key: 'sk-…abc123', account: 'org-1', attempts: 2 });
    expect(e).toBeInstanceOf(cls);
    expect(e).toBeInstanceOf(E.KimiPoolError);
    expect(E.isKimiPoolError(e)).toBe(true);
    expect(e).toMatchObject({ code, status: 418, kimiType: 'some_type', key: 'sk-…abc123', account: 'org-1', attempts: 2, name: cls.name });
    expect(e.message).toBe('418 some_type: it broke (key sk-…abc123, account org-1)');
  });
});

describe('boundedHints: a wait the server asks for is bounded', () => {
  const cases: [string, Fault, number, number | undefined, number | undefined, number | undefined][] = [
    // name, fault, cap, kept header, kept message wait, ignored
    ['a day in retry-after is ignored', { kind: 'server', status: 503, message: 'x', retryAfterMs: 86_400_000 }, 60_000, undefined, undefined, 86_400_000],
    ['a wait within the cap is kept', { kind: 'overloaded', status: 429, message: 'x', retryAfterMs: 2_000 }, 60_000, 2_000, undefined, undefined],
    ['exactly the cap is kept', { kind: 'server', status: 503, message: 'x', retryAfterMs: 60_000 }, 60_000, 60_000, undefined, undefined],
    ['"try again after 3600 seconds" is ignored, the header kept', { kind: 'rate_limit', status: 429, message: 'x', retryAfterMs: 1_000, rateLimit: { dimension: 'rpm', limit: 3, retryAfterMs: 3_600_000 } }, 60_000, 1_000, undefined, 3_600_000],
    ['a cap of Infinity keeps everything', { kind: 'server', status: 503, message: 'x', retryAfterMs: 86_400_000 }, Infinity, 86_400_000, undefined, undefined],
  ];
  it.each(cases)('%s', (_, fault, cap, header, told, ignored) => {
    const r = boundedHints(fault, cap);
    expect(r.fault.retryAfterMs).toBe(header);
    expect(r.fault.rateLimit?.retryAfterMs).toBe(told);
    expect(r.ignoredMs).toBe(ignored);
    expect(r.fault.kind).toBe(fault.kind);
    if (fault.rateLimit !== undefined) expect(r.fault.rateLimit?.limit).toBe(fault.rateLimit.limit);
  });
});
