import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
} from 'openai/resources/chat/completions';
import { InvalidRequestError } from './errors.js';
import { MalformedResponseError, rethrowMalformed } from './kimi-errors.js';
import { REQUEST_OPTIONS, unknownRequestOption } from './option-names.js';
import type { RequestOptions } from './options.js';
import type { Engine } from './pool/engine.js';
import { scrubKey, type TaskContext } from './pool/task-context.js';
import { PooledStream } from './pooled-stream.js';
import { checkShape } from './response-shape.js';
import { maxTokensOf } from './tokens.js';

export type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParamsBase, ChatCompletionCreateParamsNonStreaming, ChatCompletionCreateParamsStreaming };

/**
 * A response with the id Kimi gave the request, as the openai SDK's responses carry it: from
 * `x-request-id`, else Kimi's own `Msh-Request-Id`; null when the server sent neither.
 */
export type WithRequestId<T> = T & { readonly _request_id: string | null };

/** `pool.chat.completions`: the OpenAI-compatible front. */
export interface ChatCompletions {
  /** Queues a chat completion; resolves with the response of whichever key ran it. */
  create(params: ChatCompletionCreateParamsNonStreaming, options?: RequestOptions): Promise<WithRequestId<ChatCompletion>>;
  /** Queues a streamed chat completion; resolves once the first chunk arrived. */
  create(params: ChatCompletionCreateParamsStreaming, options?: RequestOptions): Promise<PooledStream<ChatCompletionChunk>>;
  /** `stream` known only at run time (`stream: flag`), as the openai SDK takes it. */
  create(params: ChatCompletionCreateParamsBase, options?: RequestOptions): Promise<WithRequestId<ChatCompletion> | PooledStream<ChatCompletionChunk>>;
}

/** The request id of a response: OpenAI's header, else Kimi's. */
function requestIdOf(response: Response): string | null {
  return response.headers.get('x-request-id') ?? response.headers.get('msh-request-id');
}

async function runStream(ctx: TaskContext, params: ChatCompletionCreateParamsStreaming): Promise<PooledStream<ChatCompletionChunk>> {
  const { data: stream, response } = await ctx.client.chat.completions.create(params, { signal: ctx.signal }).withResponse();
  const requestId = requestIdOf(response);
  const it = stream[Symbol.asyncIterator]();
  // Every chunk must be one: an error event or an error body in its place is read as that error.
  const checked = (r: IteratorResult<ChatCompletionChunk>): IteratorResult<ChatCompletionChunk> => {
    if (r.done !== true) checkShape(r.value, response.headers, 'chunk');
    return r;
  };
  // Wait for the first chunk inside the attempt: a stream that fails before
  // any data reached the caller is retried like any other failed request.
  const first = await it.next().then(checked).catch(rethrowMalformed);
  // A stream that ended before its first chunk (an empty body, only `[DONE]`, a gateway that
  // answered JSON) delivered nothing: malformed, and retried like one.
  if (first.done === true) throw new MalformedResponseError(new Error('a stream that ended before its first chunk'));
  const release = ctx.holdSlot();
  // Errors after the first chunk reach the caller inside a StreamError: never with the key in them.
  const scrub = (error: unknown): never => {
    throw scrubKey(error, ctx.client.apiKey ?? '', ctx.key);
  };
  const rest: AsyncIterator<ChatCompletionChunk> = {
    next: () => it.next().then(checked).catch(scrub),
    return: async (value?: unknown) => (it.return !== undefined ? it.return(value) : { done: true, value: undefined }),
  };
  const pooled = new PooledStream(first, rest, release, stream.controller, { key: ctx.key, account: ctx.account }, ctx.signal);
  pooled._request_id = requestId;
  return pooled;
}

/** Builds the chat front over an engine. */
export function chatCompletions(
  engine: Engine,
  estimate: (params: { readonly messages?: readonly unknown[] }) => number,
  onMissingMaxTokens: () => void,
): ChatCompletions {
  const complete = async (ctx: TaskContext, p: ChatCompletionCreateParamsNonStreaming): Promise<WithRequestId<ChatCompletion>> => {
    const { data, response } = await ctx.client.chat.completions.create(p, { signal: ctx.signal }).withResponse().catch(rethrowMalformed);
    // HTTP 200 with an error body is that error; without `choices` it is malformed (retried).
    checkShape(data, response.headers, 'completion');
    // The SDK fixes its own `_request_id` (from x-request-id only) on `data`: a shallow copy carries Kimi's.
    return Object.defineProperty({ ...data }, '_request_id', { value: requestIdOf(response), enumerable: false }) as WithRequestId<ChatCompletion>;
  };
  function create(params: ChatCompletionCreateParamsNonStreaming, options?: RequestOptions): Promise<WithRequestId<ChatCompletion>>;
  function create(params: ChatCompletionCreateParamsStreaming, options?: RequestOptions): Promise<PooledStream<ChatCompletionChunk>>;
  function create(params: ChatCompletionCreateParamsBase, options?: RequestOptions): Promise<WithRequestId<ChatCompletion> | PooledStream<ChatCompletionChunk>>;
  function create(
    params: ChatCompletionCreateParamsBase,
    options?: RequestOptions,
  ): Promise<WithRequestId<ChatCompletion> | PooledStream<ChatCompletionChunk>> {
    if (params === null || typeof params !== 'object') {
      return Promise.reject(new InvalidRequestError('Expected chat.completions.create() params to be an object with `model` and `messages`'));
    }
    const unknown = options === undefined || options === null ? undefined : unknownRequestOption(options, REQUEST_OPTIONS);
    if (unknown !== undefined) return Promise.reject(new InvalidRequestError(unknown));
    if (typeof params.model !== 'string' || params.model === '') {
      return Promise.reject(new InvalidRequestError('Expected `model` to be a model name such as "kimi-k2.5"'));
    }
    if (!Array.isArray(params.messages) || params.messages.length === 0) {
      return Promise.reject(new InvalidRequestError('Expected `messages` to be a non-empty array of chat messages'));
    }
    let completion = maxTokensOf(params);
    if (completion === undefined) {
      onMissingMaxTokens();
      completion = engine.config.defaultMaxTokens;
    } else if (!Number.isInteger(completion) || completion < 1) {
      // Kimi answers 400 to 0: refuse it here, before it costs a request of the account's RPM.
      const field = params.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
      return Promise.reject(new InvalidRequestError(`Expected \`${field}\` to be an integer >= 1, got \`${String(completion)}\``));
    }
    const n = params.n ?? 1;
    if (!Number.isInteger(n) || n < 1) return Promise.reject(new InvalidRequestError(`Expected \`n\` to be an integer >= 1, got \`${String(n)}\``));
    // Each of the n choices may use the whole completion budget, so the server counts all of them.
    const tokens = estimate(params) + n * completion;
    if (params.stream === true) {
      const p = params as ChatCompletionCreateParamsStreaming;
      return engine.submit((ctx) => runStream(ctx, p), tokens, options);
    }
    const p = params as ChatCompletionCreateParamsNonStreaming;
    return engine.submit((ctx) => complete(ctx, p), tokens, options);
  }
  return { create };
}

