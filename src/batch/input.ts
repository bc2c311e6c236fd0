/**
 * One line of a batch input file, in any of the three shapes users have:
 *
 * - the OpenAI (and Kimi) Batch API line: `{"custom_id","method":"POST","url":"/v1/chat/completions","body"}`;
 * - `{"custom_id","body"}`;
 * - the bare request parameters (`{"model","messages",...}`) with an optional
 *   `metadata` object, as the OpenAI cookbook's parallel processor reads them.
 *
 * A line without `custom_id` gets one made from its content, so the same line
 * has the same id in every run and on every machine (never its line number:
 * lines move when a file is edited).
 */
import { createHash } from 'node:crypto';

/** The only endpoint a batch line may name. */
export const CHAT_URL = '/v1/chat/completions';

/** A line ready to run. */
export interface BatchRequest {
  readonly customId: string;
  /** 1-based line number in the input file. */
  readonly line: number;
  /** The chat completion parameters, as sent. */
  readonly body: Readonly<Record<string, unknown>> & { readonly model: string; readonly messages: readonly unknown[] };
  /** The cookbook's `metadata`, copied to the output line. */
  readonly metadata?: unknown;
}

/** Why a line cannot run. */
export type LineProblemCode =
  | 'invalid_json'
  | 'not_an_object'
  | 'invalid_custom_id'
  | 'unknown_method'
  | 'unknown_url'
  | 'no_body'
  | 'invalid_body'
  | 'duplicate_custom_id';

/** A bad line, reported before anything is sent. */
export interface LineProblem {
  readonly line: number;
  readonly code: LineProblemCode;
  readonly message: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON with object keys sorted at every depth: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The id of a line that names none: a hash of its request (body and metadata), stable across runs. */
export function contentId(body: unknown, metadata: unknown): string {
  const digest = createHash('sha256').update(canonicalJson({ url: CHAT_URL, body, metadata })).digest('hex');
  return `auto-${digest.slice(0, 24)}`;
}

const show = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

function checkBody(body: unknown): string | undefined {
  if (!isObject(body)) return `\`body\` must be an object of chat completion parameters, got ${show(body)}`;
  if (typeof body.model !== 'string' || body.model === '') return `\`body.model\` must be a model name such as "kimi-k2.5", got ${show(body.model)}`;
  if (!Array.isArray(body.messages) || body.messages.length === 0) return `\`body.messages\` must be a non-empty array of chat messages, got ${show(body.messages)}`;
  if (body.stream === true) return '`body.stream` is true: a batch stores whole answers, remove `stream`';
  return undefined;
}

/**
 * Parses one line. Blank lines give `undefined` (they are skipped).
 * @returns the request, or the problem that stops it from running.
 */
export function parseLine(text: string, line: number): BatchRequest | LineProblem | undefined {
  const trimmed = (line === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
  if (trimmed === '') return undefined;
  const problem = (code: LineProblemCode, message: string): LineProblem => ({ line, code, message });
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    return problem('invalid_json', `not JSON (${(error as Error).message}): ${show(trimmed)}`);
  }
  if (!isObject(value)) return problem('not_an_object', `expected a JSON object, got ${show(value)}`);
  const { custom_id: customId, method, url, metadata } = value;
  if (customId !== undefined && (typeof customId !== 'string' || customId === '')) {
    return problem('invalid_custom_id', `\`custom_id\` must be a non-empty string, got ${show(customId)}`);
  }
  if (method !== undefined && method !== 'POST') return problem('unknown_method', `\`method\` must be "POST", got ${show(method)}`);
  if (url !== undefined && url !== CHAT_URL) return problem('unknown_url', `\`url\` must be "${CHAT_URL}" (the only endpoint a batch runs), got ${show(url)}`);

  let body: unknown;
  if ('body' in value) {
    body = value.body;
  } else if ('model' in value || 'messages' in value) {
    // The cookbook's bare parameters: everything but our own fields is the body.
    const { custom_id: _c, metadata: _m, ...rest } = value;
    body = rest;
  } else {
    return problem('no_body', `no \`body\`: give {"custom_id","method":"POST","url":"${CHAT_URL}","body":{"model","messages",...}} or the bare parameters {"model","messages",...}`);
  }
  const bad = checkBody(body);
  if (bad !== undefined) return problem('invalid_body', bad);
  const request = body as BatchRequest['body'];
  return {
    customId: customId ?? contentId(request, metadata),
    line,
    body: request,
    ...(metadata === undefined ? {} : { metadata }),
  };
}

/** Whether parseLine's answer is a problem. */
export function isProblem(x: BatchRequest | LineProblem): x is LineProblem {
  return 'code' in x;
}
