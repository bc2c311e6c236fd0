/**
 * `kimi-pool/batch`: run a JSONL file of chat requests through a pool,
 * resumably, with progress events and a summary.
 */
export { runBatch, checkBatch, BatchRun, type BatchResult, type BatchRunEvents } from './run.js';
export { defaultErrorsPath, type BatchOptions } from './options.js';
export type { BatchPlan } from './plan.js';
export type { BatchProgress, AccountProgress } from './progress.js';
export { formatSummary, rateLimit429s, type BatchSummary } from './summary.js';
export type { ModelUsage } from './usage.js';
export type { BatchOutputLine, BatchErrorLine, BatchErrorInfo } from './format.js';
export { parseLine, contentId, CHAT_URL, type BatchRequest, type LineProblem, type LineProblemCode } from './input.js';
export { BatchInputError, BatchLockedError, BatchOutputError } from './errors.js';
