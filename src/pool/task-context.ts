import type OpenAI from 'openai';

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
   * while a stream is read. Call the returned function once when done.
   */
  holdSlot(): () => void;
}
