/**
 * A success must look like one: a completion and every stream chunk have a
 * `choices` array. Anything else is an error in disguise (read like the same
 * error with a real status) or a malformed response (retried).
 */
import { errorInBody, statusOfBody, type ErrorBody } from './error-body.js';
import { MalformedResponseError } from './kimi-errors.js';

/**
 * An error that came with HTTP 200: in a body, or in an SSE event. It has the
 * shape of the SDK's `APIError` (`status`, `error`, `headers`), with the status
 * the body names, else the one Kimi pairs with its `type`, else 500: so
 * `classifyError` reads it exactly as the same error with that status.
 */
export class InBandError extends Error {
  readonly status: number;
  readonly error: { readonly type?: string; readonly message: string };

  constructor(
    found: ErrorBody,
    readonly headers: Headers | undefined,
    /** What the server sent, as parsed. */
    readonly body: unknown,
  ) {
    super(`${found.type !== undefined ? `${found.type}: ` : ''}${found.message} (sent with HTTP 200)`);
    this.name = 'InBandError';
    this.status = statusOfBody(found);
    this.error = found.type === undefined ? { message: found.message } : { type: found.type, message: found.message };
  }
}

/** A completion has at least one choice; a stream chunk may have none (the final usage chunk). */
function hasChoices(value: unknown, what: 'completion' | 'chunk'): boolean {
  if (value === null || typeof value !== 'object') return false;
  const choices = (value as { choices?: unknown }).choices;
  return Array.isArray(choices) && (what === 'chunk' || choices.length > 0);
}

/** Throws unless `value` looks like a chat completion (or, with `chunk`, a stream chunk). */
export function checkShape<T>(value: T, headers: Headers | undefined, what: 'completion' | 'chunk'): T {
  if (hasChoices(value, what)) return value;
  const error = errorInBody(value);
  if (error !== undefined) throw new InBandError(error, headers, value);
  const shown = JSON.stringify(value) ?? String(value);
  throw new MalformedResponseError(new Error(`a ${what} without \`choices\`: ${shown.length > 200 ? `${shown.slice(0, 200)}…` : shown}`));
}
