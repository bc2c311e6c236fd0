/**
 * Reading an error from whatever shape a server or a gateway sent it in, and
 * the parts of a response an error keeps (headers with secrets redacted, the
 * request id). Pure functions.
 */
import { headerValue } from './retry-timing.js';

/** An error read from a body: Kimi's `type` when given, else a status and a message. */
export interface ErrorBody {
  /** The HTTP status the body names (`code` or `status`), when it names one. */
  readonly status?: number;
  /** Kimi's `error.type`, e.g. `engine_overloaded_error`. */
  readonly type?: string;
  readonly message: string;
}

/** Kimi's status for each of its error types, for errors that arrive without one. */
export const STATUS_OF_TYPE: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  content_filter: 400,
  invalid_authentication_error: 401,
  incorrect_api_key_error: 401,
  permission_denied_error: 403,
  resource_not_found_error: 404,
  rate_limit_reached_error: 429,
  rate_limit_error: 429,
  engine_overloaded_error: 429,
  exceeded_current_quota_error: 429,
  server_error: 500,
  unexpected_output: 500,
};

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A number that can be an HTTP error status (400-599), else undefined. */
function errorStatus(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\d{3}$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 400 && n <= 599 ? n : undefined;
}

/**
 * The error a body carries, or undefined when it carries none. Shapes seen in
 * front of LLM APIs:
 * - `{"error":{"type":"...","message":"..."}}` (Kimi, OpenAI)
 * - `{"error":"Stream error: ..."}` (a gateway's SSE error event)
 * - `{"code":500,"message":"...","type":"server_error"}` (a proxy's SSE error event)
 * - `{"status":400,"response":"..."}`, `{"status":502,"message":"..."}`, `{"detail":"..."}` with a status
 */
export function errorInBody(value: unknown): ErrorBody | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const outer = errorStatus(v.status) ?? errorStatus(v.code);
  const e = v.error;
  if (typeof e === 'string' && e !== '') return withStatus({ message: e }, outer);
  if (e !== null && typeof e === 'object') {
    const o = e as Record<string, unknown>;
    const type = str(o.type);
    const message = str(o.message) ?? str(o.detail) ?? JSON.stringify(o);
    return withStatus(type === undefined ? { message } : { type, message }, errorStatus(o.code) ?? errorStatus(o.status) ?? outer);
  }
  const message = str(v.message) ?? str(v.response) ?? str(v.detail) ?? str(v.msg);
  const type = str(v.type);
  // A top-level message alone is no error (a success may carry one): it needs a status or a type beside it.
  if (message !== undefined && (outer !== undefined || (type !== undefined && /error/i.test(type)))) {
    return withStatus(type === undefined ? { message } : { type, message }, outer);
  }
  return undefined;
}

/** The status the body names, else the one Kimi pairs with its type, else 500 (a server fault). */
export function statusOfBody(body: ErrorBody): number {
  return body.status ?? (body.type !== undefined ? STATUS_OF_TYPE[body.type] : undefined) ?? 500;
}

function withStatus(body: { type?: string; message: string }, status: number | undefined): ErrorBody {
  return status === undefined ? body : { ...body, status };
}

/** Header names whose values are never kept. */
const SECRET_HEADERS = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key)$/i;

/** Response headers as a plain record (lower-case names), secrets replaced by `[redacted]`. */
export function headerRecord(headers: unknown): Record<string, string> | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  const out: Record<string, string> = {};
  const put = (name: string, value: unknown): void => {
    if (typeof value !== 'string' && !Array.isArray(value)) return;
    const v = Array.isArray(value) ? value.join(', ') : value;
    // By name, and by value: a header that echoes a key under another name (a gateway's debug header).
    out[name.toLowerCase()] = SECRET_HEADERS.test(name) || /\bsk-[A-Za-z0-9_-]{8,}/.test(v) ? '[redacted]' : v;
  };
  const h = headers as { forEach?: unknown };
  if (typeof h.forEach === 'function' && !Array.isArray(headers)) {
    (headers as Headers).forEach((value, name) => put(name, value));
  } else {
    for (const [name, value] of Object.entries(headers as Record<string, unknown>)) put(name, value);
  }
  return out;
}

/** Kimi's request id (`Msh-Request-Id`), else the usual `x-request-id`. */
export function requestIdOf(headers: unknown): string | undefined {
  return headerValue(headers, 'msh-request-id') ?? headerValue(headers, 'x-request-id');
}
