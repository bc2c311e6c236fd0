/**
 * The pool's errors: one base class, one class per failure kind, each with a
 * stable `code`. API errors carry the HTTP status, the Kimi error type, the
 * response headers (secrets redacted), Kimi's request id, the body and the
 * key's fingerprint — never the key.
 */
import * as SDK from 'openai/error';
import { OpenAIError } from 'openai/error';

/** Stable codes, one per error class. */
export type KimiPoolErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_INVALID_REQUEST'
  | 'ERR_REQUEST_TOO_LARGE'
  | 'ERR_BAD_REQUEST'
  | 'ERR_CONTENT_FILTER'
  | 'ERR_PERMISSION_DENIED'
  | 'ERR_NOT_FOUND'
  | 'ERR_AUTHENTICATION'
  | 'ERR_QUOTA_EXCEEDED'
  | 'ERR_RATE_LIMITED'
  | 'ERR_OVERLOADED'
  | 'ERR_SERVER'
  | 'ERR_CONNECTION'
  | 'ERR_STREAM'
  | 'ERR_API'
  | 'ERR_ABORTED'
  | 'ERR_REQUEST_TIMEOUT'
  | 'ERR_POOL_CLOSED'
  | 'ERR_QUEUE_CLEARED'
  | 'ERR_NO_USABLE_KEY'
  | 'ERR_STORE';

/** Where and how an API call failed. */
export interface ErrorDetails {
  /** HTTP status, when the server answered (or the status an error body sent with 200 names). */
  readonly status?: number | undefined;
  /** Kimi's `error.type`, e.g. `rate_limit_reached_error`. */
  readonly kimiType?: string | undefined;
  /** Fingerprint or id of the key the request last ran on. */
  readonly key?: string | undefined;
  /** Account the request last ran on. */
  readonly account?: string | undefined;
  /** Attempts made (retries + 1), not counting rate-limit bounces. */
  readonly attempts?: number | undefined;
  /** Host of the base URL the request went to, e.g. `api.moonshot.cn`. */
  readonly host?: string | undefined;
  /** For connection faults: the system error code, e.g. `ECONNREFUSED`. */
  readonly errno?: string | undefined;
  /** Response headers, secrets redacted. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Kimi's `Msh-Request-Id` (else `x-request-id`). */
  readonly requestId?: string | undefined;
  /** The error body as the server sent it. */
  readonly body?: unknown;
  readonly cause?: unknown;
}

const BRAND = Symbol.for('kimi-pool.error');

/** Sets the pool's fields on an error built by any base class. */
function brand(target: Error, code: KimiPoolErrorCode, message: string, details: ErrorDetails, ctor: abstract new (...args: never[]) => unknown): void {
  Object.defineProperty(target, BRAND, { value: true });
  const t = target as unknown as Record<string, unknown>;
  t.name = ctor.name;
  t.message = message;
  t.code = code;
  t.status = details.status ?? t.status;
  t.kimiType = details.kimiType;
  t.key = details.key;
  t.account = details.account;
  t.attempts = details.attempts;
  t.host = details.host;
  t.errno = details.errno;
  t.requestID = details.requestId ?? t.requestID ?? undefined;
  t.body = details.body;
  if (details.kimiType !== undefined) t.type = details.kimiType;
  // As `new Error(message, { cause })` would: an own, non-enumerable property.
  if (details.cause !== undefined) Object.defineProperty(target, 'cause', { value: details.cause, writable: true, configurable: true });
  // The SDK's constructor wrote its own message into the stack: write ours.
  Error.captureStackTrace?.(target, ctor);
}

/** The response headers an SDK error class expects, from the redacted record. */
const headersOf = (d: ErrorDetails): Headers => new Headers(d.headers ?? {});

/**
 * Base class of every error the pool throws or rejects with. Errors of API
 * calls extend the matching class of the `openai` SDK instead (so
 * `catch (e) { if (e instanceof OpenAI.RateLimitError) ... }` keeps working
 * for code written against the SDK); `instanceof KimiPoolError` is true for
 * all of them.
 */
export class KimiPoolError extends pooled(OpenAIError) {
  /** HTTP status, when the server answered. */
  declare readonly status: number | undefined;
  /** Response headers (secrets redacted), as the SDK's errors carry them. */
  declare readonly headers: Headers | undefined;
  /** Kimi's `Msh-Request-Id` (else `x-request-id`): quote it to Kimi's support. */
  declare readonly requestID: string | null | undefined;

  constructor(code: KimiPoolErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    brand(this, code, message, details, new.target);
    (this as { headers: Headers | undefined }).headers = details.headers === undefined ? undefined : headersOf(details);
  }

  /** True for every pool error, whichever SDK class it extends. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== KimiPoolError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }
}

type ErrorClass = abstract new (...args: any[]) => Error;

/** An SDK error class with the pool's fields (status, headers and requestID come from the SDK class). */
function pooled<B extends ErrorClass>(Base: B) {
  abstract class Pooled extends Base {
    declare readonly code: KimiPoolErrorCode;
    /** Kimi's `error.type`. */
    declare readonly kimiType: string | undefined;
    /** Id or fingerprint of the key the request last ran on (never the key). */
    declare readonly key: string | undefined;
    declare readonly account: string | undefined;
    declare attempts: number | undefined;
    /** Host of the base URL the request went to. */
    declare readonly host: string | undefined;
    /** For connection faults: the system error code, e.g. `ECONNREFUSED`. */
    declare readonly errno: string | undefined;
    /** The error body as the server sent it. */
    declare readonly body: unknown;
  }
  return Pooled;
}

/** Invalid pool options: the message names the field and what to fix. */
export class ConfigError extends KimiPoolError {
  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/** Invalid per-request input (params or request options). */
export class InvalidRequestError extends KimiPoolError {
  constructor(message: string) {
    super('ERR_INVALID_REQUEST', message);
  }
}

/** The request reserves more tokens than any usable account allows in a window or a day. */
export class RequestTooLargeError extends KimiPoolError {
  constructor(message: string, readonly tokens: number) {
    super('ERR_REQUEST_TOO_LARGE', message);
  }
}

/** 400 `invalid_request_error`: not retried. */
export class BadRequestError extends pooled(SDK.BadRequestError) {
  constructor(message: string, details: ErrorDetails) {
    super(400, details.body as object | undefined, message, headersOf(details));
    brand(this, 'ERR_BAD_REQUEST', message, details, new.target);
  }
}

/** 400 `content_filter`: high-risk content, not retried. */
export class ContentFilterError extends pooled(SDK.BadRequestError) {
  constructor(message: string, details: ErrorDetails) {
    super(400, details.body as object | undefined, message, headersOf(details));
    brand(this, 'ERR_CONTENT_FILTER', message, details, new.target);
  }
}

/** 403 `permission_denied_error`: the API is not open for this account. */
export class PermissionDeniedError extends pooled(SDK.PermissionDeniedError) {
  constructor(message: string, details: ErrorDetails) {
    super(403, details.body as object | undefined, message, headersOf(details));
    brand(this, 'ERR_PERMISSION_DENIED', message, details, new.target);
  }
}

/** 404 `resource_not_found_error`: unknown model or no permission. */
export class NotFoundError extends pooled(SDK.NotFoundError) {
  constructor(message: string, details: ErrorDetails) {
    super(404, details.body as object | undefined, message, headersOf(details));
    brand(this, 'ERR_NOT_FOUND', message, details, new.target);
  }
}

/** 401: the key is invalid or revoked. The pool disables it and reroutes. */
export class AuthenticationError extends pooled(SDK.AuthenticationError) {
  constructor(message: string, details: ErrorDetails) {
    super(401, details.body as object | undefined, message, headersOf(details));
    brand(this, 'ERR_AUTHENTICATION', message, details, new.target);
  }
}

/** `exceeded_current_quota_error`: account suspended or out of balance. */
export class QuotaExceededError extends pooled(SDK.APIError) {
  constructor(message: string, details: ErrorDetails) {
    super(details.status, details.body as object | undefined, message, headersOf(details));
    brand(this, 'ERR_QUOTA_EXCEEDED', message, details, new.target);
  }
}

/** 429 `rate_limit_reached_error` more often than `maxRateLimitBounces` allows. */
export class RateLimitError extends pooled(SDK.RateLimitError) {
  constructor(message: string, details: ErrorDetails) {
    super(429, details.body as object | undefined, message, headersOf(details));
    brand(this, 'ERR_RATE_LIMITED', message, details, new.target);
  }
}

/** 429 `engine_overloaded_error` on every attempt. */
export class OverloadedError extends pooled(SDK.RateLimitError) {
  constructor(message: string, details: ErrorDetails) {
    super(429, details.body as object | undefined, message, headersOf(details));
    brand(this, 'ERR_OVERLOADED', message, details, new.target);
  }
}

/** 5xx or a malformed response on every attempt. */
export class ServerError extends pooled(SDK.InternalServerError) {
  constructor(message: string, details: ErrorDetails) {
    // A malformed 200 has no error status: none is made up.
    super(details.status as number, details.body as object | undefined, message, headersOf(details));
    brand(this, 'ERR_SERVER', message, details, new.target);
  }
}

/** Connection refused, reset or timed out, or a response that went silent, on every attempt. */
export class ConnectionError extends pooled(SDK.APIConnectionError) {
  constructor(message: string, details: ErrorDetails) {
    super({ message });
    brand(this, 'ERR_CONNECTION', message, details, new.target);
  }
}

/** A stream broke after data reached the caller; not retried. */
export class StreamError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_STREAM', message, details);
  }
}

/** Any other HTTP error from the API. */
export class APIError extends pooled(SDK.APIError) {
  constructor(message: string, details: ErrorDetails) {
    super(details.status, details.body as object | undefined, message, headersOf(details));
    brand(this, 'ERR_API', message, details, new.target);
  }
}

/** The caller's AbortSignal fired. `reason` is the signal's reason. An `APIUserAbortError` of the SDK. */
export class RequestAbortedError extends pooled(SDK.APIUserAbortError) {
  constructor(
    readonly reason: unknown,
    details: ErrorDetails = {},
  ) {
    const message = 'The request was aborted by its signal';
    super({ message });
    brand(this, 'ERR_ABORTED', message, details, new.target);
  }
}

/** The request's own `timeout` passed, queued or in flight. An `APIConnectionTimeoutError` of the SDK. */
export class RequestTimeoutError extends pooled(SDK.APIConnectionTimeoutError) {
  constructor(timeoutMs: number, details: ErrorDetails = {}) {
    const message = `The request did not complete within its timeout of ${timeoutMs} ms`;
    super({ message });
    brand(this, 'ERR_REQUEST_TIMEOUT', message, details, new.target);
  }
}

/** The pool was closed before the request could run. */
export class PoolClosedError extends KimiPoolError {
  constructor(message = 'The pool is closed') {
    super('ERR_POOL_CLOSED', message);
  }
}

/** Every key is disabled (revoked, or its account suspended): nothing can run. */
export class NoUsableKeyError extends KimiPoolError {
  constructor(message: string) {
    super('ERR_NO_USABLE_KEY', message);
  }
}

/** The limit store failed in a way retrying cannot mend (e.g. `kimi-pool/redis` without ioredis). */
export class StoreError extends KimiPoolError {
  constructor(message: string, cause: unknown) {
    super('ERR_STORE', message, { cause });
  }
}

/** True for any error thrown by kimi-pool. */
export function isKimiPoolError(value: unknown): value is KimiPoolError {
  return value instanceof KimiPoolError;
}

/** pool.clear() rejected the request before it started. */
export class QueueClearedError extends KimiPoolError {
  constructor(message = 'The request was cleared from the queue (pool.clear()) before it started') {
    super('ERR_QUEUE_CLEARED', message);
  }
}
