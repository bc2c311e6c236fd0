import type OpenAI from 'openai';
import type { Fault } from '../kimi-errors.js';
import type { TokenUsage } from '../pricing.js';
import type { Job } from './job.js';
import type { KeyMember } from './members.js';

/** What a scheduled task receives when its turn comes. */
export interface TaskContext {
  /** The `openai` client of the chosen key (`maxRetries: 0`: the pool retries). */
  readonly client: OpenAI;
  /** The chosen key's id or fingerprint (never the key itself). */
  readonly key: string;
  /** The account the key belongs to. */
  readonly account: string;
  /** Aborts when the request is aborted or times out: pass it to the HTTP call. */
  readonly signal: AbortSignal;
  /** 1 for the first try, then 2, 3, ... after transient faults. */
  readonly attempt: number;
  /**
   * Keeps the request's slot (concurrency) taken after the task resolves, e.g.
   * while a stream is read. Call the returned function once when done: with
   * `{ usedTokens }` on success (and the response's `usage` and `model`, for
   * stats and metrics), `{ error }` when it failed (counted as such).
   */
  readonly holdSlot: () => SlotRelease;
}

/** Frees a held slot: with the tokens used on success, or the error that ended it. */
export type SlotRelease = (result?: { usedTokens?: number | undefined; usage?: TokenUsage | undefined; model?: string | undefined; error?: unknown }) => void;

/** The context of one attempt. */
export class Context implements TaskContext {
  readonly attempt: number;

  constructor(
    private readonly job: Job,
    readonly client: OpenAI,
    readonly key: string,
    readonly account: string,
    private readonly controller: AbortController,
    private readonly hold: (job: Job, run: number) => SlotRelease,
  ) {
    this.attempt = job.attempt;
    this.run = job.run;
  }

  /** The job's run this context belongs to: a late call from an earlier run holds nothing. */
  private readonly run: number;

  /**
   * Read lazily: Node makes an AbortController's signal on first use (~0.7 KB,
   * ~4 µs), which a task that never reads it need not pay. An abort before the
   * first read still gives an aborted signal (abort() makes it).
   */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** A getter returning a bound function, so `({ holdSlot }) => …` works and costs nothing unless read. */
  get holdSlot(): () => SlotRelease {
    return () => this.hold(this.job, this.run);
  }
}

/** The fault with the key's string replaced by its id, should the server have echoed the key. */
export function withoutKey(fault: Fault | undefined, key: KeyMember): Fault | undefined {
  const secret = key.client.apiKey;
  if (fault === undefined || typeof secret !== 'string' || secret === '' || !fault.message.includes(secret)) return fault;
  return { ...fault, message: fault.message.split(secret).join(key.id) };
}

/** `usage.total_tokens` of a response, if it has one. */
export function usedTokensOf(value: unknown): number | undefined {
  const usage = (value as { usage?: { total_tokens?: unknown } } | null | undefined)?.usage;
  return typeof usage?.total_tokens === 'number' ? usage.total_tokens : undefined;
}

/** The error, or a copy whose message names the key by its id, should the message hold the key. */
export function scrubKey(error: unknown, secret: string, id: string): unknown {
  if (!(error instanceof Error) || secret === '' || !error.message.includes(secret)) return error;
  const copy = new Error(error.message.split(secret).join(id));
  copy.name = error.name;
  return copy;
}
