import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
} from 'openai/resources/chat/completions';
import { InvalidRequestError } from './errors.js';
import { rethrowMalformed } from './kimi-errors.js';
import type { RequestOptions } from './options.js';
import type { Engine } from './pool/engine.js';
import { scrubKey, type TaskContext } from './pool/task-context.js';
import { PooledStream } from './pooled-stream.js';
import { checkShape } from './response-shape.js';
import { maxTokensOf } from './tokens.js';

export type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming, ChatCompletionCreateParamsStreaming };

/** `pool.chat.completions`: the OpenAI-compatible front. */
export interface ChatCompletions {
  /** Queues a chat completion; resolves with the response of whichever key ran it. */
  create(params: ChatCompletionCreateParamsNonStreaming, options?: RequestOptions): Promise<ChatCompletion>;
  /** Queues a streamed chat completion; resolves once the first chunk arrived. */
  create(params: ChatCompletionCreateParamsStreaming, options?: RequestOptions): Promise<PooledStream<ChatCompletionChunk>>;
}

async function runStream(ctx: TaskContext, params: ChatCompletionCreateParamsStreaming): Promise<PooledStream<ChatCompletionChunk>> {
  const { data: stream, response } = await ctx.client.chat.completions.create(params, { signal: ctx.signal }).withResponse();
  const it = stream[Symbol.asyncIterator]();
  // Every chunk must be one: an error event or an error body in its place is read as that error.
  const checked = (r: IteratorResult<ChatCompletionChunk>): IteratorResult<ChatCompletionChunk> => {
    if (r.done !== true) checkShape(r.value, response.headers, 'chunk');
    return r;
  };
  // Wait for the first chunk inside the attempt: a stream that fails before
  // any data reached the caller is retried like any other failed request.
  const first = await it.next().then(checked).catch(rethrowMalformed);
  const release = ctx.holdSlot();
  // Errors after the first chunk reach the caller inside a StreamError: never with the key in them.
  const scrub = (error: unknown): never => {
    throw scrubKey(error, ctx.client.apiKey ?? '', ctx.key);
  };
  const rest: AsyncIterator<ChatCompletionChunk> = {
    next: () => it.next().then(checked).catch(scrub),
    return: async (value?: unknown) => (it.return !== undefined ? it.return(value) : { done: true, value: undefined }),
  };
  return new PooledStream(first, rest, release, stream.controller, { key: ctx.key, account: ctx.account }, ctx.signal);
}

/** Builds the chat front over an engine. */
export function chatCompletions(
  engine: Engine,
  estimate: (params: { readonly messages?: readonly unknown[] }) => number,
  onMissingMaxTokens: () => void,
): ChatCompletions {
  const complete = async (ctx: TaskContext, p: ChatCompletionCreateParamsNonStreaming): Promise<ChatCompletion> => {
    const { data, response } = await ctx.client.chat.completions.create(p, { signal: ctx.signal }).withResponse().catch(rethrowMalformed);
    // HTTP 200 with an error body is that error; without `choices` it is malformed (retried).
    return checkShape(data, response.headers, 'completion');
  };
  function create(params: ChatCompletionCreateParamsNonStreaming, options?: RequestOptions): Promise<ChatCompletion>;
  function create(params: ChatCompletionCreateParamsStreaming, options?: RequestOptions): Promise<PooledStream<ChatCompletionChunk>>;
  function create(
    params: ChatCompletionCreateParamsNonStreaming | ChatCompletionCreateParamsStreaming,
    options?: RequestOptions,
  ): Promise<ChatCompletion | PooledStream<ChatCompletionChunk>> {
    if (params === null || typeof params !== 'object') {
      return Promise.reject(new InvalidRequestError('Expected chat.completions.create() params to be an object with `model` and `messages`'));
    }
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
    } else if (!Number.isInteger(completion) || completion < 0) {
      return Promise.reject(new InvalidRequestError(`Expected \`max_tokens\` to be an integer >= 0, got \`${String(completion)}\``));
    }
    const tokens = estimate(params) + completion;
    if (params.stream === true) {
      const p = params;
      return engine.submit((ctx) => runStream(ctx, p), tokens, options);
    }
    const p = params as ChatCompletionCreateParamsNonStreaming;
    return engine.submit((ctx) => complete(ctx, p), tokens, options);
  }
  return { create };
}

