import { ConfigError } from '../errors.js';
import type { RequestOptions } from '../options.js';
import type { PriceTable } from '../pricing.js';

/** Options of {@link runBatch}. */
export interface BatchOptions {
  /** The JSONL file of requests (see the README for the line formats). */
  readonly input: string;
  /** Where answers go, one OpenAI Batch output line each; appended to, never rewritten. */
  readonly output: string;
  /** Where failures go. @default the output path with `.errors.jsonl` for `.jsonl` */
  readonly errors?: string;
  /** Run again the requests an earlier run wrote to the errors file (those lines move to `<errors>.previous`). @default false */
  readonly retryErrors?: boolean;
  /** The pool's `windowMs` (for the ETA and the ideal time). @default 60000 */
  readonly windowMs?: number;
  /** Prices for the summary's cost. @default KIMI_PRICES_USD */
  readonly prices?: PriceTable;
  /**
   * Requests handed to the pool at once (queued or in flight). Enough to keep
   * every account busy, few enough that memory stays flat.
   * @default twice the accounts' in-flight limits (each capped by its RPM), between 16 and 4096
   */
  readonly maxPending?: number;
  /** How often the output and errors files are fdatasync'ed, in ms: what a power loss can lose. @default 1000 */
  readonly syncIntervalMs?: number;
  /** How often the `progress` event fires, in ms. @default 1000 */
  readonly progressIntervalMs?: number;
  /** Passed to every request (`priority`, `timeout`). */
  readonly requestOptions?: Pick<RequestOptions, 'priority' | 'timeout'>;
}

export interface ResolvedBatchOptions {
  readonly input: string;
  readonly output: string;
  readonly errors: string;
  readonly retryErrors: boolean;
  readonly windowMs: number;
  readonly prices: PriceTable | undefined;
  readonly maxPending: number | undefined;
  readonly syncIntervalMs: number;
  readonly progressIntervalMs: number;
  readonly requestOptions: Pick<RequestOptions, 'priority' | 'timeout'>;
}

/** The default errors file: `out.jsonl` -> `out.errors.jsonl`. */
export function defaultErrorsPath(output: string): string {
  return output.endsWith('.jsonl') ? `${output.slice(0, -'.jsonl'.length)}.errors.jsonl` : `${output}.errors.jsonl`;
}

function number(field: string, value: unknown, min: number, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new ConfigError(`Expected \`${field}\` to be ${integer ? 'an integer' : 'a finite number'} >= ${min}, got \`${String(value)}\` (${typeof value})`);
  }
  return value;
}

function path(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(`Expected \`${field}\` to be a file path, got ${JSON.stringify(value)}`);
  return value;
}

/** @throws {ConfigError} naming the field. */
export function resolveBatchOptions(o: BatchOptions): ResolvedBatchOptions {
  if (o === null || typeof o !== 'object') throw new ConfigError('Expected runBatch() options to be an object { input, output, ... }');
  const input = path('input', o.input);
  const output = path('output', o.output);
  const errors = o.errors === undefined ? defaultErrorsPath(output) : path('errors', o.errors);
  if (new Set([input, output, errors]).size < 3) throw new ConfigError(`\`input\`, \`output\` and \`errors\` must be three different files, got ${input}, ${output}, ${errors}`);
  return {
    input,
    output,
    errors,
    retryErrors: o.retryErrors === true,
    windowMs: number('windowMs', o.windowMs ?? 60_000, 1),
    prices: o.prices,
    maxPending: o.maxPending === undefined ? undefined : number('maxPending', o.maxPending, 1, true),
    syncIntervalMs: number('syncIntervalMs', o.syncIntervalMs ?? 1000, 1),
    progressIntervalMs: number('progressIntervalMs', o.progressIntervalMs ?? 1000, 1),
    requestOptions: o.requestOptions ?? {},
  };
}

/** Requests to hand the pool so that every account has work: twice what all can run at once. */
export function busyDepth(accounts: readonly { readonly disabled: boolean; readonly limits: { readonly rpm: number | null; readonly concurrency: number | null } }[]): number {
  let n = 0;
  for (const a of accounts) if (!a.disabled) n += Math.min(a.limits.concurrency ?? Infinity, a.limits.rpm ?? Infinity);
  return Math.max(16, Math.min(4096, 2 * n));
}
