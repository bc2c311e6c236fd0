/**
 * What Kimi says about the account behind a key: `GET /v1/users/me`
 * (undocumented: the organisation's id and limits) and `GET /v1/users/me/balance`.
 * Neither counts toward the account's limits. Parsing is pure; a missing or
 * odd field is left out, never guessed.
 */
import type { Limits } from '../tiers.js';

/** What `/v1/users/me` told of the key's organisation. */
export interface AccountFacts {
  readonly org: string;
  /** Only the limits it gave (positive numbers); `tpd` is Infinity when it gave no token quota. */
  readonly limits: Partial<Limits>;
}

/** One answer, or why there is none (never the key). */
export type Answer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const positive = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);

/** Reads `{ data: { organization: { id, max_concurrency, max_request_per_minute, max_token_per_minute, max_token_quota } } }`. */
export function parseMe(body: unknown): Answer<AccountFacts> {
  const org = (body as { data?: { organization?: Record<string, unknown> } } | null)?.data?.organization;
  if (org === null || typeof org !== 'object') return { ok: false, reason: '/users/me: no data.organization in the answer' };
  const id = org.id;
  if (typeof id !== 'string' || id === '') return { ok: false, reason: '/users/me: no data.organization.id in the answer' };
  const limits: { -readonly [K in keyof Limits]?: number } = {};
  const c = positive(org.max_concurrency);
  if (c !== undefined) limits.concurrency = c;
  const rpm = positive(org.max_request_per_minute);
  if (rpm !== undefined) limits.rpm = rpm;
  const tpm = positive(org.max_token_per_minute);
  if (tpm !== undefined) limits.tpm = tpm;
  // A token quota is the daily token budget; an organisation without one has none.
  limits.tpd = positive(org.max_token_quota) ?? Infinity;
  return { ok: true, value: { org: id, limits } };
}

/** Reads `{ data: { available_balance } }`. */
export function parseBalance(body: unknown): Answer<number> {
  const b = (body as { data?: { available_balance?: unknown } } | null)?.data?.available_balance;
  if (typeof b !== 'number' || !Number.isFinite(b)) return { ok: false, reason: '/users/me/balance: no data.available_balance in the answer' };
  return { ok: true, value: b };
}

/** How long one question may take (ms, real time: it is network I/O, not a limit). */
export const ASK_TIMEOUT_MS = 10_000;

/** Asks `GET {baseURL}{path}` with the key; never rejects. */
async function ask<T>(fetch: typeof globalThis.fetch, baseURL: string, path: string, apiKey: string, parse: (body: unknown) => Answer<T>): Promise<Answer<T>> {
  try {
    const res = await fetch(`${baseURL.replace(/\/+$/, '')}${path}`, {
      headers: { authorization: `Bearer ${apiKey}`, accept: 'application/json' },
      signal: AbortSignal.timeout(ASK_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) return { ok: false, reason: `${path}: HTTP ${res.status}` };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { ok: false, reason: `${path}: the answer is not JSON` };
    }
    return parse(body);
  } catch (error) {
    // Error messages of fetch name the URL, never the key.
    return { ok: false, reason: `${path}: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** Kimi's answers about the key's account. */
export interface KeyAnswers {
  readonly me: Answer<AccountFacts>;
  readonly balance: Answer<number>;
}

/** Asks both endpoints at once; never rejects. */
export async function askAboutKey(fetch: typeof globalThis.fetch, baseURL: string, apiKey: string): Promise<KeyAnswers> {
  const [me, balance] = await Promise.all([ask(fetch, baseURL, '/users/me', apiKey, parseMe), askBalance(fetch, baseURL, apiKey)]);
  return { me, balance };
}

/** Asks the balance only (recovery's check); never rejects. */
export function askBalance(fetch: typeof globalThis.fetch, baseURL: string, apiKey: string): Promise<Answer<number>> {
  return ask(fetch, baseURL, '/users/me/balance', apiKey, parseBalance);
}
