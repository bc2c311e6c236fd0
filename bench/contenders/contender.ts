/**
 * What the two benchmarks ask of a contender. Every contender gets the same
 * accounts, the same backlog and the same tasks; only the queue differs.
 */
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';

/** One account as the benchmark configures it, on the simulator and in every contender. */
export interface BenchAccount {
  readonly id: string;
  readonly keys: readonly string[];
  readonly rpm: number;
  readonly concurrency: number;
  readonly tpm: number;
  readonly tpd: number;
}

/** Throughput setup: a simulator URL, its accounts and window. */
export interface ThroughputSetup {
  readonly baseURL: string;
  readonly windowMs: number;
  readonly accounts: readonly BenchAccount[];
}

/** A running throughput contender: sends one chat request through its queue. */
export interface ThroughputRunner {
  send(body: ChatCompletionCreateParamsNonStreaming): Promise<unknown>;
  close(): Promise<void>;
}

export interface ThroughputContender {
  /** Row label. */
  readonly name: string;
  /** How it is configured, for the notes under the table. */
  readonly config: string;
  create(setup: ThroughputSetup): ThroughputRunner;
}

/** A running overhead contender: queues one no-op task. */
export interface OverheadRunner {
  submit(task: () => undefined): PromiseLike<unknown>;
  close(): Promise<void>;
}

/**
 * `run`: every limit unlimited, so each task starts at once (the queue's own cost).
 * `hold`: nothing may start, so every request stays queued (the memory of a backlog).
 */
export type OverheadMode = 'run' | 'hold';

export interface OverheadContender {
  readonly name: string;
  readonly config: string;
  /** How `hold` mode keeps every request waiting. */
  readonly holdConfig: string;
  /** `keys` members (keys, accounts or queues). */
  create(keys: number, mode: OverheadMode): OverheadRunner;
}

/**
 * Smooth weighted round-robin: yields account indexes in proportion to
 * `weights` (a user's best static split of a backlog over per-account queues).
 */
export function weightedRoundRobin(weights: readonly number[]): () => number {
  const total = weights.reduce((a, b) => a + b, 0);
  const current = weights.map(() => 0);
  return () => {
    let best = 0;
    for (let i = 0; i < weights.length; i++) {
      current[i] = (current[i] as number) + (weights[i] as number);
      if ((current[i] as number) > (current[best] as number)) best = i;
    }
    current[best] = (current[best] as number) - total;
    return best;
  };
}

/** Round-robin over a list. */
export function roundRobin<T>(items: readonly T[]): () => T {
  let i = 0;
  return () => items[i++ % items.length] as T;
}
