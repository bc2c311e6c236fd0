/**
 * Validation of request bodies: the 400/404 answers a real Kimi server gives
 * to a malformed chat or tokenizer request, before any limit is looked at.
 */
import { kimiErrors, type KimiError } from './errors.js';
import type { SimulatedMessage } from './content.js';

/** A chat request the simulator can serve. */
export interface ChatRequest {
  readonly model: string;
  readonly messages: readonly SimulatedMessage[];
  /** `max_completion_tokens ?? max_tokens`, if either is set. */
  readonly maxTokens: number | undefined;
  /** Choices asked for (`n`, default 1): each may use `maxTokens`, so all of them are reserved. */
  readonly n: number;
  readonly stream: boolean;
  readonly includeUsage: boolean;
}

/**
 * Kimi K2.5 and later fix their sampling: any temperature but 1 is a 400 ("invalid temperature:
 * only 1 is allowed for this model", seen in 2026), and so is any `n` but 1 (the platform fixes
 * n, top_p and the penalties too, say the docs of SDKs that strip them).
 */
const FIXED_SAMPLING = /^kimi-(k2\.[5-9]|k[3-9])/;
/** Older models: n at most 5, and only 1 when temperature is close to 0 (Kimi's parameter docs). */
const MAX_N = 5;
const NEAR_ZERO = 0.01;

/** Parsed request, or the error to answer with. */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: KimiError };

const invalid = (message: string): Parsed<never> => ({ ok: false, error: kimiErrors.invalidRequest(message) });

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalTokens(body: Record<string, unknown>, field: string): number | undefined | false {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? value : false;
}

/** Parses the `{model, messages}` part shared by chat and tokenizer requests. */
export function parseModelAndMessages(
  text: string,
  models: readonly string[],
): Parsed<{ body: Record<string, unknown>; model: string; messages: SimulatedMessage[] }> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return invalid('Invalid request: the request body is not valid JSON');
  }
  if (!isRecord(body)) return invalid('Invalid request: the request body must be a JSON object');
  const { model, messages } = body;
  if (typeof model !== 'string' || model.length === 0) {
    return invalid('Invalid request: `model` is required and must be a non-empty string');
  }
  if (!Array.isArray(messages) || messages.length === 0) {
    return invalid('Invalid request: `messages` is required and must be a non-empty array');
  }
  for (const [i, message] of messages.entries()) {
    if (!isRecord(message) || typeof message.role !== 'string') {
      return invalid(`Invalid request: \`messages[${i}]\` must be an object with a string \`role\``);
    }
  }
  if (!models.includes(model)) return { ok: false, error: kimiErrors.modelNotFound(model) };
  return { ok: true, value: { body, model, messages: messages as SimulatedMessage[] } };
}

/** Parses and validates a `POST /v1/chat/completions` body. */
export function parseChatRequest(text: string, models: readonly string[]): Parsed<ChatRequest> {
  const parsed = parseModelAndMessages(text, models);
  if (!parsed.ok) return parsed;
  const { body, model, messages } = parsed.value;
  const maxCompletion = optionalTokens(body, 'max_completion_tokens');
  if (maxCompletion === false) return invalid('Invalid request: `max_completion_tokens` must be an integer >= 1');
  const maxTokens = optionalTokens(body, 'max_tokens');
  if (maxTokens === false) return invalid('Invalid request: `max_tokens` must be an integer >= 1');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    return invalid('Invalid request: `stream` must be a boolean');
  }
  const sampling = parseSampling(body, model);
  if (typeof sampling === 'string') return invalid(sampling);
  const streamOptions = body.stream_options;
  const includeUsage = isRecord(streamOptions) && streamOptions.include_usage === true;
  return {
    ok: true,
    value: { model, messages, maxTokens: maxCompletion ?? maxTokens, n: sampling.n, stream: body.stream === true, includeUsage },
  };
}

/** `n` and `temperature` as Kimi checks them for the model; a string is the 400's message. */
function parseSampling(body: Record<string, unknown>, model: string): { n: number } | string {
  const n = body.n ?? 1;
  const temperature = body.temperature ?? undefined;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) return 'Invalid request: `n` must be an integer >= 1';
  if (temperature !== undefined && temperature !== null && typeof temperature !== 'number') return 'Invalid request: `temperature` must be a number';
  if (FIXED_SAMPLING.test(model)) {
    if (typeof temperature === 'number' && temperature !== 1) return 'invalid temperature: only 1 is allowed for this model';
    if (n !== 1) return 'invalid n: only 1 is allowed for this model';
    return { n };
  }
  if (typeof temperature === 'number' && (temperature < 0 || temperature > 1)) return 'Invalid request: `temperature` must be between 0 and 1';
  if (n > MAX_N) return `Invalid request: \`n\` must be at most ${MAX_N}`;
  if (n > 1 && typeof temperature === 'number' && temperature < NEAR_ZERO) return 'Invalid request: `n` must be 1 when `temperature` is close to 0';
  return { n };
}
