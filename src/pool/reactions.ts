/**
 * What the pool does about each kind of failure (the facts sheet's table), as
 * pure functions: the pool applies the answer.
 */
import {
  APIError,
  AuthenticationError,
  BadRequestError,
  ConnectionError,
  ContentFilterError,
  type ErrorDetails,
  type KimiPoolError,
  NotFoundError,
  OverloadedError,
  PermissionDeniedError,
  QuotaExceededError,
  RateLimitError,
  ServerError,
} from '../errors.js';
import type { Fault, RateLimitInfo } from '../kimi-errors.js';
import type { Limits } from '../tiers.js';

/** The pool's reaction to a failed attempt. */
export type Reaction =
  /** Pause the account, put the request back at its place; uses no retry. */
  | { readonly type: 'bounce'; readonly pauseMs: number; readonly learned: Limits | undefined }
  /** Disable the key (401), run the request on another. */
  | { readonly type: 'disable-key' }
  /** Disable the account (quota/suspended), run the request elsewhere. */
  | { readonly type: 'disable-account' }
  /** Transient: back off, then retry on any key. */
  | { readonly type: 'retry' }
  /** Fail the request now. */
  | { readonly type: 'fail' };

/** The reaction to a classified fault. */
export function reactionTo(fault: Fault, windowMs: number, streak: number, limits: Limits): Reaction {
  switch (fault.kind) {
    case 'rate_limit': {
      const info = fault.rateLimit ?? { dimension: 'unknown' };
      return { type: 'bounce', pauseMs: rateLimitPauseMs(info, fault.retryAfterMs, windowMs, streak), learned: learnedLimits(info, limits) };
    }
    case 'auth':
      return { type: 'disable-key' };
    case 'quota':
      return { type: 'disable-account' };
    case 'overloaded':
    case 'server':
    case 'malformed':
    case 'connection':
      return { type: 'retry' };
    default:
      return { type: 'fail' };
  }
}

/**
 * How long to pause an account after a 429 rate_limit_reached_error: what the
 * message or a header says, else a guess that doubles with each 429 in a row
 * (TPM: from 1/8 window up to a window; TPD: from a window up to 60).
 */
export function rateLimitPauseMs(info: RateLimitInfo, headerMs: number | undefined, windowMs: number, streak: number): number {
  const told = info.retryAfterMs ?? headerMs;
  if (told !== undefined) return Math.max(told, headerMs ?? 0);
  const grow = 2 ** Math.min(streak, 16);
  switch (info.dimension) {
    case 'tpm':
      return Math.min(windowMs, (windowMs / 8) * grow);
    case 'tpd':
      return Math.min(60 * windowMs, windowMs * grow);
    default:
      return Math.min(windowMs, 1000 * grow);
  }
}

/** The account's limits lowered to what a 429 message says they are, or undefined if it says nothing new. */
export function learnedLimits(info: RateLimitInfo, limits: Limits): Limits | undefined {
  const { dimension, limit } = info;
  if (limit === undefined || dimension === 'unknown' || !(limit > 0)) return undefined;
  if (limit >= limits[dimension]) return undefined;
  return { ...limits, [dimension]: limit };
}

/**
 * The fault without any server-asked wait (`retryAfterMs` from headers, a 429
 * message's "try again after N seconds") above `maxMs`: a wait that long is
 * ignored, as openai-node ignores `retry-after` above 60 s, so the pool's own
 * backoff or pause applies and no request is parked for hours. `ignoredMs` is
 * the largest wait dropped.
 */
export function boundedHints(fault: Fault, maxMs: number): { fault: Fault; ignoredMs: number | undefined } {
  const header = fault.retryAfterMs;
  const told = fault.rateLimit?.retryAfterMs;
  const dropHeader = header !== undefined && header > maxMs;
  const dropTold = told !== undefined && told > maxMs;
  if (!dropHeader && !dropTold) return { fault, ignoredMs: undefined };
  const { retryAfterMs: _h, rateLimit, ...rest } = fault;
  let kept: Fault = dropHeader ? rest : { ...rest, retryAfterMs: header as number };
  if (rateLimit !== undefined) {
    const { retryAfterMs: _t, ...info } = rateLimit;
    kept = { ...kept, rateLimit: dropTold ? info : rateLimit };
  }
  return { fault: kept, ignoredMs: Math.max(dropHeader ? (header as number) : 0, dropTold ? (told as number) : 0) };
}

/** The typed error a fault fails a request with. */
export function errorFor(fault: Fault, details: ErrorDetails): KimiPoolError {
  const d: ErrorDetails = {
    ...details,
    status: fault.status,
    kimiType: fault.kimiType,
    errno: fault.errno,
    headers: fault.headers,
    requestId: fault.requestId,
    body: fault.body,
    cause: fault.cause,
  };
  const place = [details.key !== undefined ? `key ${details.key}, account ${details.account ?? '?'}` : undefined, details.host !== undefined ? `host ${details.host}` : undefined, fault.errno, fault.requestId !== undefined ? `request ${fault.requestId}` : undefined].filter((x) => x !== undefined);
  const where = place.length > 0 ? ` (${place.join(', ')})` : '';
  const msg = `${fault.status !== undefined ? `${fault.status} ` : ''}${fault.kimiType !== undefined ? `${fault.kimiType}: ` : ''}${fault.message}${where}`;
  switch (fault.kind) {
    case 'bad_request':
      return new BadRequestError(msg, d);
    case 'content_filter':
      return new ContentFilterError(msg, d);
    case 'permission':
      return new PermissionDeniedError(msg, d);
    case 'not_found':
      return new NotFoundError(msg, d);
    case 'auth':
      return new AuthenticationError(msg, d);
    case 'quota':
      return new QuotaExceededError(msg, d);
    case 'rate_limit':
      return new RateLimitError(msg, d);
    case 'overloaded':
      return new OverloadedError(msg, d);
    case 'server':
    case 'malformed':
      return new ServerError(msg, d);
    case 'connection':
      return new ConnectionError(msg, d);
    default:
      return new APIError(msg, d);
  }
}
