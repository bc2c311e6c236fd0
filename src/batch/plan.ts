/**
 * The first pass over an input file: every line is parsed and checked, and
 * counted against what earlier runs already wrote, before anything is sent.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { DEFAULT_MAX_TOKENS, estimatePromptTokens } from '../tokens.js';
import { BatchInputError } from './errors.js';
import { IdSet } from './id-set.js';
import { isProblem, parseLine, type BatchRequest, type LineProblem } from './input.js';
import { readLines, type FileLine } from './lines.js';

/** What a run of an input file will do. */
export interface BatchPlan {
  /** Requests in the file (valid, non-blank lines). */
  readonly requests: number;
  /** Requests answered by an earlier run (in the output file): skipped. */
  readonly answered: number;
  /** Requests that failed in an earlier run (in the errors file): skipped unless retrying errors. */
  readonly failedBefore: number;
  /** Requests this run will send. */
  readonly toRun: number;
  /** Requests per model, over the whole file. */
  readonly models: Readonly<Record<string, number>>;
  /** Mean tokens a request of this run reserves (prompt estimate + max_tokens), for the ETA. */
  readonly meanTokens: number;
}

/** Ids an earlier run settled. */
export interface Settled {
  readonly answered: IdSet;
  readonly failed: IdSet;
  /** Whether earlier failures run again. */
  readonly retryErrors: boolean;
}

/** The input's lines; a file that cannot be opened is a usage error. */
async function* readLinesOf(path: string): AsyncGenerator<FileLine> {
  try {
    await access(path, constants.R_OK);
  } catch (error) {
    throw new ConfigError(`Cannot read the input file ${path}: ${(error as Error).message}`);
  }
  yield* readLines(path);
}

/** Whether a request of the file runs in this run. */
export function shouldRun(request: BatchRequest, settled: Settled): boolean {
  if (settled.answered.has(request.customId)) return false;
  return settled.retryErrors || !settled.failed.has(request.customId);
}

/** Tokens the pool reserves for a request: its prompt estimate plus its completion budget. */
export function reservedTokens(body: BatchRequest['body']): number {
  const budget = body.max_completion_tokens ?? body.max_tokens;
  return estimatePromptTokens(body) + (typeof budget === 'number' ? budget : DEFAULT_MAX_TOKENS);
}

/**
 * Reads the whole file once, in constant memory but for the id set.
 * @param maxShown problems listed in the error (all are counted).
 * @throws {BatchInputError} when any line is bad (duplicates included).
 */
export async function planBatch(path: string, settled: Settled, maxShown = 20): Promise<BatchPlan> {
  const seen = new IdSet();
  const problems: LineProblem[] = [];
  let problemCount = 0;
  const models = new Map<string, number>();
  let requests = 0;
  let answered = 0;
  let failedBefore = 0;
  let toRun = 0;
  let tokens = 0;
  const report = (p: LineProblem): void => {
    problemCount++;
    if (problems.length < maxShown) problems.push(p);
  };
  for await (const l of readLinesOf(path)) {
    const parsed = parseLine(l.text, l.line);
    if (parsed === undefined) continue;
    if (isProblem(parsed)) {
      report(parsed);
      continue;
    }
    const first = seen.add(parsed.customId, l.line);
    if (first !== 0) {
      report({ line: l.line, code: 'duplicate_custom_id', message: `custom_id ${JSON.stringify(parsed.customId)} is also on line ${first}: give each request its own custom_id` });
      continue;
    }
    requests++;
    models.set(parsed.body.model, (models.get(parsed.body.model) ?? 0) + 1);
    if (settled.answered.has(parsed.customId)) answered++;
    else if (settled.failed.has(parsed.customId)) failedBefore++;
    if (shouldRun(parsed, settled)) {
      toRun++;
      tokens += reservedTokens(parsed.body);
    }
  }
  if (problemCount > 0) throw new BatchInputError(path, problems, problemCount);
  return { requests, answered, failedBefore, toRun, models: Object.fromEntries(models), meanTokens: toRun > 0 ? tokens / toRun : 0 };
}
