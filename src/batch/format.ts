/**
 * Result lines in the OpenAI Batch output format, which Kimi's Batch API
 * also writes: `{"id","custom_id","response":{"status_code","request_id","body"},"error"}`.
 */
import { randomBytes } from 'node:crypto';
import { isKimiPoolError } from '../errors.js';
import type { BatchRequest } from './input.js';

/** An answered request: one line of the output file. */
export interface BatchOutputLine {
  readonly id: string;
  readonly custom_id: string;
  readonly response: {
    readonly status_code: number;
    /** The server's `x-request-id` when it sent one, else the completion's `id`. */
    readonly request_id: string | null;
    readonly body: unknown;
  };
  readonly error: null;
  /** The input line's `metadata` (cookbook format), when it had one. */
  readonly metadata?: unknown;
}

/** Why a request failed for good. `code` is stable (the pool's error codes, e.g. `ERR_BAD_REQUEST`). */
export interface BatchErrorInfo {
  readonly code: string;
  readonly message: string;
}

/** A request that failed for good: one line of the errors file. */
export interface BatchErrorLine {
  readonly id: string;
  readonly custom_id: string;
  /** The API's answer when there was one (status and Kimi's error body), else null. */
  readonly response: { readonly status_code: number; readonly request_id: null; readonly body: { readonly error: { readonly type: string | null; readonly message: string } } } | null;
  readonly error: BatchErrorInfo;
  readonly metadata?: unknown;
}

// Unique per line: a random prefix per process and a counter (randomBytes per line cost 30 µs).
const prefix = randomBytes(8).toString('hex');
let seq = 0;
const lineId = (): string => `batch_req_${prefix}${(++seq).toString(16).padStart(8, '0')}`;

/** The output line of an answer. */
export function outputLine(request: BatchRequest, completion: { readonly id?: unknown; readonly _request_id?: string | null | undefined }): BatchOutputLine {
  const { _request_id: requestId, ...body } = completion;
  return {
    id: lineId(),
    custom_id: request.customId,
    response: { status_code: 200, request_id: requestId ?? (typeof completion.id === 'string' ? completion.id : null), body },
    error: null,
    ...(request.metadata === undefined ? {} : { metadata: request.metadata }),
  };
}

/** The stable code and message of any rejection. */
export function errorInfo(error: unknown): BatchErrorInfo {
  if (isKimiPoolError(error)) return { code: error.code, message: error.message };
  if (error instanceof Error) return { code: 'ERR_UNKNOWN', message: error.message };
  return { code: 'ERR_UNKNOWN', message: String(error) };
}

/** The errors-file line of a failure. */
export function errorLine(request: BatchRequest, error: unknown): BatchErrorLine {
  const info = errorInfo(error);
  const status = isKimiPoolError(error) ? error.status : undefined;
  const type = isKimiPoolError(error) ? (error.kimiType ?? null) : null;
  return {
    id: lineId(),
    custom_id: request.customId,
    response: status === undefined ? null : { status_code: status, request_id: null, body: { error: { type, message: info.message } } },
    error: info,
    ...(request.metadata === undefined ? {} : { metadata: request.metadata }),
  };
}
