/**
 * Token reservations. Kimi counts prompt tokens + `max_tokens` against TPM and
 * TPD when a request starts, so the pool reserves the same before it starts one.
 *
 * The prompt estimate is local and deliberately high (no tokenizer call, which
 * would cost a request): one token per 3 UTF-8 bytes plus 4 per message.
 * English runs about 4 characters a token, Chinese 1.5 characters (4.5 bytes),
 * so real counts stay below this.
 */

/** The part of a chat request the estimate reads. */
export interface TokenCountable {
  readonly messages?: readonly unknown[];
  readonly max_tokens?: number | null;
  readonly max_completion_tokens?: number | null;
  readonly tools?: unknown;
  readonly response_format?: unknown;
}

/** Reserved when a request names no `max_tokens`: Kimi then reserves its own model default. */
export const DEFAULT_MAX_TOKENS = 32_768;

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  return JSON.stringify(value);
}

/** A conservative (high) estimate of a chat request's prompt tokens. */
export function estimatePromptTokens(params: TokenCountable): number {
  let n = 3;
  for (const m of params.messages ?? []) {
    const msg = (m ?? {}) as { content?: unknown; name?: unknown; tool_calls?: unknown };
    n += 4 + Math.ceil(bytes(textOf(msg.content)) / 3);
    if (msg.name !== undefined) n += Math.ceil(bytes(textOf(msg.name)) / 3);
    if (msg.tool_calls !== undefined) n += Math.ceil(bytes(textOf(msg.tool_calls)) / 3);
  }
  if (params.tools !== undefined) n += Math.ceil(bytes(textOf(params.tools)) / 3);
  if (params.response_format !== undefined) n += Math.ceil(bytes(textOf(params.response_format)) / 3);
  return n;
}

/** The completion budget a request names, or undefined when it names none. */
export function maxTokensOf(params: TokenCountable): number | undefined {
  const v = params.max_completion_tokens ?? params.max_tokens;
  return typeof v === 'number' ? v : undefined;
}
