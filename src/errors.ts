/**
 * The pool's errors: one base class, one class per failure kind, each with a
 * stable `code`. API errors carry the HTTP status, the Kimi error type and the
 * key's fingerprint — never the key.
 */

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
  /** HTTP status, when the server answered. */
  readonly status?: number | undefined;
  /** Kimi's `error.type`, e.g. `rate_limit_reached_error`. */
  readonly kimiType?: string | undefined;
  /** Fingerprint or id of the key the request last ran on. */
  readonly key?: string | undefined;
  /** Account the request last ran on. */
  readonly account?: string | undefined;
  /** Attempts made (retries + 1), not counting rate-limit bounces. */
  readonly attempts?: number | undefined;
  readonly cause?: unknown;
}

/** Base class of every error the pool throws or rejects with. */
export class KimiPoolError extends Error {
  readonly code: KimiPoolErrorCode;
  readonly status: number | undefined;
  readonly kimiType: string | undefined;
  readonly key: string | undefined;
  readonly account: string | undefined;
  attempts: number | undefined;

  constructor(code: KimiPoolErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = details.status;
    this.kimiType = details.kimiType;
    this.key = details.key;
    this.account = details.account;
    this.attempts = details.attempts;
  }
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
export class BadRequestError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_BAD_REQUEST', message, details);
  }
}

/** 400 `content_filter`: high-risk content, not retried. */
export class ContentFilterError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_CONTENT_FILTER', message, details);
  }
}

/** 403 `permission_denied_error`: the API is not open for this account. */
export class PermissionDeniedError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_PERMISSION_DENIED', message, details);
  }
}

/** 404 `resource_not_found_error`: unknown model or no permission. */
export class NotFoundError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_NOT_FOUND', message, details);
  }
}

/** 401: the key is invalid or revoked. The pool disables it and reroutes. */
export class AuthenticationError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_AUTHENTICATION', message, details);
  }
}

/** `exceeded_current_quota_error`: account suspended or out of balance. */
export class QuotaExceededError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_QUOTA_EXCEEDED', message, details);
  }
}

/** 429 `rate_limit_reached_error` more often than `maxRateLimitBounces` allows. */
export class RateLimitError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_RATE_LIMITED', message, details);
  }
}

/** 429 `engine_overloaded_error` on every attempt. */
export class OverloadedError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_OVERLOADED', message, details);
  }
}

/** 5xx or a malformed response on every attempt. */
export class ServerError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_SERVER', message, details);
  }
}

/** Connection refused, reset or timed out on every attempt. */
export class ConnectionError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_CONNECTION', message, details);
  }
}

/** A stream broke after data reached the caller; not retried. */
export class StreamError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_STREAM', message, details);
  }
}

/** Any other HTTP error from the API. */
export class APIError extends KimiPoolError {
  constructor(message: string, details: ErrorDetails) {
    super('ERR_API', message, details);
  }
}

/** The caller's AbortSignal fired. `reason` is the signal's reason. */
export class RequestAbortedError extends KimiPoolError {
  constructor(readonly reason: unknown, details: ErrorDetails = {}) {
    super('ERR_ABORTED', 'The request was aborted by its signal', details);
  }
}

/** The request's own `timeout` passed, queued or in flight. */
export class RequestTimeoutError extends KimiPoolError {
  constructor(timeoutMs: number, details: ErrorDetails = {}) {
    super('ERR_REQUEST_TIMEOUT', `The request did not complete within its timeout of ${timeoutMs} ms`, details);
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
