/**
 * Kimi error bodies and message templates, word for word as the platform
 * sends them (see docs/moonshot-api-facts.md): the pool parses these messages,
 * so a drift here would hide a parser bug.
 */
import { createHash } from 'node:crypto';

/** An error answer: HTTP status plus the Kimi `error` object. */
export interface KimiError {
  readonly status: number;
  readonly type: string;
  readonly message: string;
}

/**
 * Kimi's `ak-` id of a key as quoted in messages: `ak-` + 8 hex of sha256(key).
 * Same hash as `fingerprint()`, so `ak-abc12345` matches `sk-…abc12345`.
 */
export function akId(key: string): string {
  return `ak-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

/** JSON text of a Kimi error body: `{"error":{"type":...,"message":...}}` (no `code`). */
export function errorBody(error: KimiError): string {
  return JSON.stringify({ error: { type: error.type, message: error.message } });
}

const who = (org: string, ak: string): string => `Your account ${org}<${ak}>`;

/** Factories of every error the simulator sends. */
export const kimiErrors = {
  invalidAuthentication: (): KimiError => ({
    status: 401, type: 'invalid_authentication_error', message: 'Invalid Authentication',
  }),
  invalidRequest: (message: string): KimiError => ({ status: 400, type: 'invalid_request_error', message }),
  modelNotFound: (model: string): KimiError => ({
    status: 404, type: 'resource_not_found_error', message: `Not found the model ${model} or Permission denied`,
  }),
  routeNotFound: (method: string, path: string): KimiError => ({
    status: 404, type: 'resource_not_found_error', message: `No route for ${method} ${path}`,
  }),
  suspended: (org: string, ak: string): KimiError => ({
    status: 429,
    type: 'exceeded_current_quota_error',
    message: `${who(org, ak)} is suspended, please check your plan and billing details`,
  }),
  insufficientBalance: (org: string, ak: string): KimiError => ({
    status: 429,
    type: 'exceeded_current_quota_error',
    message: `${who(org, ak)} is suspended due to insufficient balance, please recharge your account or check your plan and billing details`,
  }),
  concurrency: (org: string, ak: string, limit: number, seconds: number): KimiError => ({
    status: 429,
    type: 'rate_limit_reached_error',
    message: `${who(org, ak)} request reached organization max concurrency: ${limit}, please try again after ${seconds} seconds`,
  }),
  rpm: (org: string, ak: string, limit: number, seconds: number): KimiError => ({
    status: 429,
    type: 'rate_limit_reached_error',
    message: `${who(org, ak)} request reached organization max RPM: ${limit}, please try again after ${seconds} seconds`,
  }),
  tpm: (org: string, ak: string, current: number, limit: number): KimiError => ({
    status: 429,
    type: 'rate_limit_reached_error',
    message: `${who(org, ak)} request reached organization TPM rate limit, current:${current}, limit:${limit}`,
  }),
  tpd: (org: string, ak: string, current: number, limit: number): KimiError => ({
    status: 429,
    type: 'rate_limit_reached_error',
    message: `${who(org, ak)} request reached organization TPD rate limit, current:${current}, limit:${limit}`,
  }),
  overloaded: (): KimiError => ({
    status: 429, type: 'engine_overloaded_error', message: 'The engine is currently overloaded, please try again later',
  }),
  server: (): KimiError => ({
    status: 500, type: 'server_error', message: 'The server had an error while processing your request, please try again later',
  }),
  unavailable: (): KimiError => ({
    status: 503, type: 'server_error', message: 'The service is temporarily unavailable, please try again later',
  }),
  payloadTooLarge: (): KimiError => ({
    status: 413, type: 'invalid_request_error', message: 'Request body too large',
  }),
} as const;
