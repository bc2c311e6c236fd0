/**
 * Deterministic replies and token counts. The pool estimates tokens
 * conservatively ABOVE {@link simulatedPromptTokens}, so this rule must stay
 * exactly as documented: changing it silently breaks "zero 429" tests.
 */

/** The part of a chat message the simulator reads. */
export interface SimulatedMessage {
  readonly role?: unknown;
  readonly content?: unknown;
}

/** UTF-8 length of a string in bytes. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Text counted for a message: string content as is, anything else as JSON ('' for undefined). */
export function contentText(content: unknown): string {
  return typeof content === 'string' ? content : (JSON.stringify(content) ?? '');
}

/**
 * Prompt tokens the simulator charges:
 * sum over messages of `3 + ceil(utf8Bytes(text) / 4)`.
 */
export function simulatedPromptTokens(messages: readonly SimulatedMessage[]): number {
  let tokens = 0;
  for (const message of messages) tokens += 3 + Math.ceil(utf8Bytes(contentText(message.content)) / 4);
  return tokens;
}

/** Completion tokens of a reply: `ceil(utf8Bytes(reply) / 4)`. */
export function simulatedCompletionTokens(reply: string): number {
  return Math.ceil(utf8Bytes(reply) / 4);
}

/** Text of a user message: string content, the text parts of multi-part content, else JSON. */
function userText(content: unknown): string {
  if (Array.isArray(content)) {
    const parts = content
      .map((part: unknown) => (typeof part === 'object' && part !== null ? (part as { text?: unknown }).text : undefined))
      .filter((text): text is string => typeof text === 'string');
    if (parts.length > 0) return parts.join('');
  }
  return contentText(content);
}

/**
 * The exact reply the simulator sends: `echo: ` + the text of the last user
 * message ('' when there is none). Lets a test check each caller got its own answer.
 */
export function expectedReply(messages: readonly SimulatedMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const message = messages[i];
    if (message?.role === 'user') return `echo: ${userText(message.content)}`;
  }
  return 'echo: ';
}

/** Splits text into at most `parts` pieces on code point boundaries (never splits a surrogate pair). */
export function splitText(text: string, parts: number): string[] {
  const chars = Array.from(text);
  const n = Math.max(1, Math.min(parts, chars.length));
  const size = Math.ceil(chars.length / n);
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''));
  return out.length > 0 ? out : [''];
}
