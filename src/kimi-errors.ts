/**
 * Reading Kimi's errors: what kind of failure it is and what the message says
 * about when to retry. Pure functions, no I/O.
 *
 * Kimi sends no Retry-After on its 429s; the message carries the limit and,
 * for RPM and concurrency, "please try again after N seconds".
 */
import { errorInBody, headerRecord, requestIdOf, statusOfBody } from './error-body.js';
import { headerValue, retryAfterFromHeaders } from './retry-timing.js';

/** What went wrong, as far as the pool's reaction is concerned. */
export type FaultKind =
  | 'rate_limit' // 429 rate_limit_reached_error: pause the account, requeue
  | 'quota' // exceeded_current_quota_error: disable the account, reroute
  | 'auth' // 401: disable the key, reroute
  | 'overloaded' // 429 engine_overloaded_error: backoff and retry
  | 'server' // 5xx: backoff and retry
  | 'malformed' // unparsable response body: backoff and retry
  | 'connection' // refused, reset, dropped, timed out: backoff and retry
  | 'bad_request' // 400: fail
  | 'content_filter' // 400 content_filter: fail
  | 'permission' // 403 permission_denied_error: fail
  | 'not_found' // 404: fail
  | 'aborted' // our own signal aborted the HTTP call
  | 'other'; // other HTTP status: fail

/** Which limit a 429 `rate_limit_reached_error` names. */
export type LimitDimension = 'concurrency' | 'rpm' | 'tpm' | 'tpd' | 'unknown';

/** What a rate-limit message says. */
export interface RateLimitInfo {
  readonly dimension: LimitDimension;
  /** The account's real limit, when the message names it. */
  readonly limit?: number;
  /** Usage the server counted, for TPM/TPD. */
  readonly current?: number;
  /** "please try again after N seconds", in ms. */
  readonly retryAfterMs?: number;
}

/** A classified failure. */
export interface Fault {
  readonly kind: FaultKind;
  readonly status?: number;
  readonly kimiType?: string;
  readonly message: string;
  /** From `retry-after-ms` / `retry-after` headers, when present. */
  readonly retryAfterMs?: number;
  /** For `rate_limit`: what the message says. */
  readonly rateLimit?: RateLimitInfo;
  /** `Msh-Org-Id`: the account the server charged, when present. */
  readonly orgId?: string;
  /** `Msh-Request-Id` (else `x-request-id`): quote it to Kimi's support. */
  readonly requestId?: string;
  /** The response's headers, secrets redacted. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The error body as the server sent it. */
  readonly body?: unknown;
  /** For `connection`: the system error code found in the cause chain, e.g. `ECONNREFUSED`. */
  readonly errno?: string;
  /** The error classified. */
  readonly cause?: unknown;
}

const AFTER = /try again after\s+(\d+(?:\.\d+)?)\s*s/i;
const MAX_CONCURRENCY = /max concurrency:\s*(\d+)/i;
const MAX_RPM = /max RPM:\s*(\d+)/i;
const MAX_REQUEST = /max request:\s*(\d+)/i;
const CURRENT = /current:\s*(\d+)/i;
const LIMIT = /limit:\s*(\d+)/i;

/** Parses the message of a 429 `rate_limit_reached_error` (every known template). */
export function parseRateLimitMessage(message: string): RateLimitInfo {
  const after = AFTER.exec(message);
  const retryAfterMs = after ? Number(after[1]) * 1000 : undefined;
  const withAfter = (info: { dimension: LimitDimension; limit?: number; current?: number }): RateLimitInfo =>
    retryAfterMs === undefined ? info : { ...info, retryAfterMs };
  let m = MAX_CONCURRENCY.exec(message);
  if (m) return withAfter({ dimension: 'concurrency', limit: Number(m[1]) });
  m = MAX_RPM.exec(message) ?? MAX_REQUEST.exec(message);
  if (m) return withAfter({ dimension: 'rpm', limit: Number(m[1]) });
  const dim: LimitDimension | undefined = /\bTPM\b/.test(message) ? 'tpm' : /\bTPD\b/.test(message) ? 'tpd' : undefined;
  if (dim) {
    const current = CURRENT.exec(message);
    const limit = LIMIT.exec(message);
    return withAfter({
      dimension: dim,
      ...(limit ? { limit: Number(limit[1]) } : {}),
      ...(current ? { current: Number(current[1]) } : {}),
    });
  }
  return withAfter({ dimension: 'unknown' });
}

interface ApiErrorLike {
  status?: unknown;
  error?: unknown;
  headers?: unknown;
  message?: unknown;
  name?: unknown;
  code?: unknown;
  cause?: unknown;
}

const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * A response body that could not be parsed. The chat front wraps the SDK's
 * `SyntaxError` in it, so that a task's own `SyntaxError` (in `schedule()`) is
 * not mistaken for a malformed response and retried.
 */
export class MalformedResponseError extends Error {
  constructor(cause: unknown) {
    super(`Malformed response body: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'MalformedResponseError';
  }
}

/** Rethrows a `SyntaxError` (an unparsable body) as {@link MalformedResponseError}. */
export function rethrowMalformed(error: unknown): never {
  throw error instanceof SyntaxError ? new MalformedResponseError(error) : error;
}

function kindFor(status: number, type: string | undefined, message: string): FaultKind {
  if (type === 'exceeded_current_quota_error') return 'quota';
  switch (status) {
    case 400:
      return type === 'content_filter' ? 'content_filter' : 'bad_request';
    case 401:
      return 'auth';
    case 403:
      return 'permission';
    case 404:
      return 'not_found';
    case 408:
    case 409:
      return 'server';
    case 429:
      if (type === 'engine_overloaded_error' || /overload/i.test(message)) return 'overloaded';
      if (type === undefined && /quota|suspended|balance/i.test(message)) return 'quota';
      return 'rate_limit';
    default:
      return status >= 500 ? 'server' : 'other';
  }
}

/** The first system error code (`ECONNREFUSED`, `UND_ERR_SOCKET`, ...) down the cause chain. */
function connectionCode(err: ApiErrorLike, depth = 0): string | undefined {
  if (depth > 6 || err === null || typeof err !== 'object') return undefined;
  if (typeof err.code === 'string' && CONNECTION_CODES.has(err.code)) return err.code;
  // An AggregateError (happy eyeballs: one per address tried) keeps its causes in `errors`.
  const inner = (err as { errors?: unknown }).errors;
  if (Array.isArray(inner)) for (const e of inner) {
    const code = connectionCode(e as ApiErrorLike, depth + 1);
    if (code !== undefined) return code;
  }
  return connectionCode(err.cause as ApiErrorLike, depth + 1);
}

/** A fault read from an error body (a real status, or the one the body implies). */
function faultOf(status: number, type: string | undefined, message: string, headers: unknown, body: unknown, cause: unknown, nowEpochMs: number): Fault {
  const kind = kindFor(status, type, message);
  const retryAfterMs = retryAfterFromHeaders(headers, nowEpochMs);
  const orgId = headerValue(headers, 'msh-org-id');
  const requestId = requestIdOf(headers);
  const record = headerRecord(headers);
  return {
    kind,
    status,
    ...(type !== undefined ? { kimiType: type } : {}),
    message,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(kind === 'rate_limit' ? { rateLimit: parseRateLimitMessage(message) } : {}),
    ...(orgId !== undefined ? { orgId } : {}),
    ...(requestId !== undefined ? { requestId } : {}),
    ...(record !== undefined ? { headers: record } : {}),
    ...(body !== undefined ? { body } : {}),
    cause,
  };
}

/**
 * Classifies anything an attempt threw. Works on the `openai` SDK's errors by
 * shape (status, error body, headers), so any copy of the SDK will do.
 * Returns undefined for errors that did not come from the API or the network
 * (a caller's own exception in `schedule()`).
 */
export function classifyError(error: unknown, nowEpochMs: number = Date.now()): Fault | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const e = error as ApiErrorLike;
  // The openai SDK's error classes keep the inherited `name` 'Error': read the class name too.
  const ownName = typeof e.name === 'string' ? e.name : undefined;
  const name = ownName === undefined || ownName === 'Error' ? ((error as object).constructor?.name ?? ownName) : ownName;
  const text = typeof e.message === 'string' ? e.message : String(error);
  if (name === 'APIUserAbortError' || name === 'AbortError') return { kind: 'aborted', message: text };
  if (typeof e.status === 'number') {
    const body = (e.error ?? {}) as { type?: unknown; message?: unknown };
    const type = typeof body.type === 'string' ? body.type : undefined;
    // The SDK's own message starts with the status, which the pool's errors put first themselves.
    const message = typeof body.message === 'string' ? body.message : text.startsWith(`${e.status} `) ? text.slice(`${e.status} `.length) : text;
    return faultOf(e.status, type, message, e.headers, e.error, error, nowEpochMs);
  }
  const errno = connectionCode(e);
  if (name === 'APIConnectionError' || name === 'APIConnectionTimeoutError' || errno !== undefined) {
    return { kind: 'connection', message: text, ...(errno !== undefined ? { errno } : {}), cause: error };
  }
  if (name === 'MalformedResponseError') return { kind: 'malformed', message: text, cause: error };
  // An error inside a stream, without an HTTP status (the SDK's APIError for a chunk
  // with an `error` field): read like the same error with the status it implies.
  if (e.error !== undefined && e.error !== null) {
    const found = errorInBody({ error: e.error });
    if (found !== undefined) {
      return faultOf(statusOfBody(found), found.type, found.message, e.headers, e.error, error, nowEpochMs);
    }
  }
  return undefined;
}
