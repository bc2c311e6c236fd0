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
  readonly stream: boolean;
  readonly includeUsage: boolean;
}

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
  const streamOptions = body.stream_options;
  const includeUsage = isRecord(streamOptions) && streamOptions.include_usage === true;
  return {
    ok: true,
    value: { model, messages, maxTokens: maxCompletion ?? maxTokens, stream: body.stream === true, includeUsage },
  };
}
