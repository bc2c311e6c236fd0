/**
 * Retry timing as pure functions: backoff with jitter, and the server's own
 * hints (`retry-after-ms`, `retry-after` in seconds or as an HTTP date).
 */

/** Exponential backoff settings. */
export interface BackoffOptions {
  /** First delay, before jitter. */
  readonly baseMs: number;
  /** Largest delay. */
  readonly maxMs: number;
  /** Growth per attempt. */
  readonly factor: number;
}

/**
 * Delay before retry number `retry` (1 = first retry): exponential, capped,
 * with "equal jitter" (half fixed, half random) so clients that failed together
 * spread out but none retries at once.
 */
export function backoffDelay(retry: number, options: BackoffOptions, random: number): number {
  const cap = Math.min(options.maxMs, options.baseMs * options.factor ** Math.max(0, retry - 1));
  return Math.round(cap / 2 + (cap / 2) * random);
}

/** Reads a header from a fetch `Headers` or a plain record. */
export function headerValue(headers: unknown, name: string): string | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  const h = headers as { get?: unknown } & Record<string, unknown>;
  if (typeof h.get === 'function') {
    const v = (h.get as (n: string) => unknown).call(headers, name);
    return typeof v === 'string' ? v : undefined;
  }
  for (const k of Object.keys(h)) {
    if (k.toLowerCase() === name) {
      const v = h[k];
      return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
    }
  }
  return undefined;
}

/**
 * The wait the server asked for, in ms, or undefined when it gave none:
 * `retry-after-ms`, then `retry-after` as seconds or as an HTTP date.
 */
export function retryAfterFromHeaders(headers: unknown, nowEpochMs: number = Date.now()): number | undefined {
  const ms = headerValue(headers, 'retry-after-ms');
  if (ms !== undefined) {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  const ra = headerValue(headers, 'retry-after');
  if (ra === undefined || ra.trim() === '') return undefined;
  const seconds = Number(ra);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(ra);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowEpochMs);
}
