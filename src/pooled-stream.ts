import { RequestAbortedError, StreamError } from './errors.js';
import type { SlotRelease } from './pool/task-context.js';
import type { TokenUsage } from './pricing.js';

type ChunkUsage = TokenUsage & { readonly total_tokens?: unknown };

/** Reads the usage a chunk carries: Kimi's `choices[0].usage` or the final top-level `usage`. */
function chunkUsage(chunk: unknown): ChunkUsage | undefined {
  const c = chunk as { usage?: ChunkUsage | null; choices?: { usage?: ChunkUsage | null }[] } | null;
  const top = c?.usage;
  if (typeof top?.total_tokens === 'number') return top;
  const inChoice = c?.choices?.[0]?.usage;
  return typeof inChoice?.total_tokens === 'number' ? inChoice : undefined;
}

/**
 * A chat stream that keeps its request's slot until it is read to the end,
 * broken, or stopped (`break` out of the loop, or {@link PooledStream.abort}).
 * Read it once.
 */
export class PooledStream<Chunk> implements AsyncIterable<Chunk> {
  private first: IteratorResult<Chunk> | undefined;
  private done = false;
  private usage: ChunkUsage | undefined;
  private model: string | undefined;

  /** @internal */
  constructor(
    first: IteratorResult<Chunk>,
    private readonly rest: AsyncIterator<Chunk>,
    private readonly release: SlotRelease,
    private readonly controller: AbortController,
    private readonly where: { key: string; account: string },
    /** The request's own signal: aborted by its AbortSignal or timeout, with the pool's error as reason. */
    private readonly signal?: AbortSignal,
  ) {
    this.first = first;
    if (first.done === true) this.finish();
    else this.see(first.value);
  }

  /** Stops the stream and frees its slot. */
  abort(): void {
    if (this.done) return;
    this.controller.abort();
    this.finish();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Chunk> {
    try {
      const first = this.first;
      this.first = undefined;
      if (first !== undefined && first.done !== true) yield first.value;
      while (!this.done) {
        let next: IteratorResult<Chunk>;
        try {
          next = await this.rest.next();
        } catch (error) {
          if (this.done) return;
          this.throwIfStopped();
          // Data already reached the caller: the request is not retried.
          this.finish(error);
          throw new StreamError(`The stream broke after data reached the caller (key ${this.where.key}): ${error instanceof Error ? error.message : String(error)}`, { ...this.where, cause: error });
        }
        // The SDK ends an aborted stream quietly: the caller must not take it for complete.
        if (next.done === true) {
          this.throwIfStopped();
          break;
        }
        this.see(next.value);
        yield next.value;
      }
    } finally {
      if (!this.done) {
        // Loop left early (break/return): stop the HTTP stream too.
        void this.rest.return?.();
        this.finish();
      }
    }
  }

  /** Keeps the latest usage and the model a chunk names. */
  private see(chunk: unknown): void {
    this.usage = chunkUsage(chunk) ?? this.usage;
    const model = (chunk as { model?: unknown } | null)?.model;
    if (typeof model === 'string' && model !== '') this.model = model;
  }

  /** Throws the abort or timeout error when the request's signal stopped the stream. */
  private throwIfStopped(): void {
    if (this.signal?.aborted !== true) return;
    const reason: unknown = this.signal.reason;
    const error = reason instanceof Error ? reason : new RequestAbortedError(reason, this.where);
    this.finish(error);
    throw error;
  }

  private finish(error?: unknown): void {
    if (this.done) return;
    this.done = true;
    const usage = this.usage;
    this.release(error === undefined ? { usedTokens: usage?.total_tokens as number | undefined, usage, model: this.model } : { error });
  }
}
