/**
 * `kimi-pool batch INPUT.jsonl --output OUT.jsonl ...`: the CLI around
 * {@link runBatch}. Exit codes: 0 every line succeeded, 1 some failed for good
 * (or the run could not go on), 2 usage, config or input errors (nothing
 * sent), 130 interrupted (SIGINT/SIGTERM; run the same command to resume).
 */
import { isKimiPoolError } from '../errors.js';
import { KimiPool } from '../kimi-pool.js';
import { loadPriceTable, type PriceTable } from '../pricing.js';
import { batchPoolOptions, loadPoolConfig } from './pool-config.js';
import type { BatchProgress } from './progress.js';
import { progressView, type ProgressMode } from './render.js';
import { checkBatch, runBatch } from './run.js';
import { formatSummary, type BatchSummary } from './summary.js';

/** The parsed options of the command. */
export interface BatchCommandOptions {
  readonly output: string;
  readonly errors?: string | undefined;
  readonly config?: string | undefined;
  readonly baseUrl?: string | undefined;
  readonly retryErrors?: boolean | undefined;
  readonly progress: ProgressMode;
  readonly dryRun?: boolean | undefined;
  readonly prices?: string | undefined;
  readonly maxPending?: number | undefined;
  readonly timeout?: number | undefined;
}

/** Where the command writes and what it reads. */
export interface CommandIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly env: NodeJS.ProcessEnv;
  /** The command line, shown in the resume hint. */
  readonly commandLine: string;
}

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

function exitCodeOf(s: BatchSummary, signalled: boolean, retryErrors: boolean): number {
  if (signalled) return EXIT.interrupted;
  if (s.stoppedBy !== null || s.notRun > 0) return EXIT.failed;
  // Failures of earlier runs that this run skipped count: not every line succeeded.
  return s.failed > 0 || (!retryErrors && s.plan.failedBefore > 0) ? EXIT.failed : EXIT.ok;
}

/** Runs the command; resolves with the exit code. */
export async function batchCommand(input: string, opts: BatchCommandOptions, io: CommandIo): Promise<number> {
  const say = (text: string): boolean => io.stderr.write(`${text}\n`);
  let prices: PriceTable | undefined;
  let pool: KimiPool | undefined;
  try {
    prices = opts.prices === undefined ? undefined : loadPriceTable(opts.prices);
    const files = { input, output: opts.output, errors: opts.errors, retryErrors: opts.retryErrors === true, prices };
    if (opts.dryRun === true) {
      const summary = await checkBatch(files);
      io.stdout.write(`${formatSummary(summary)}\n`);
      return EXIT.ok;
    }
    const poolOptions = batchPoolOptions(opts.config === undefined ? {} : loadPoolConfig(opts.config), io.env, opts.baseUrl);
    pool = new KimiPool(poolOptions);
    return await execute(pool, { ...files, windowMs: poolOptions.windowMs }, opts, io);
  } catch (error) {
    if (isKimiPoolError(error) && error.code === 'ERR_CONFIG') {
      say(`kimi-pool batch: ${error.message}`);
      return EXIT.usage;
    }
    throw error;
  } finally {
    await pool?.close();
  }
}

async function execute(
  pool: KimiPool,
  files: Parameters<typeof runBatch>[1],
  opts: BatchCommandOptions,
  io: CommandIo,
): Promise<number> {
  const view = progressView(opts.progress, io.stderr);
  const run = runBatch(pool, {
    ...files,
    progressIntervalMs: view.intervalMs,
    ...(opts.maxPending === undefined ? {} : { maxPending: opts.maxPending }),
    ...(opts.timeout === undefined ? {} : { requestOptions: { timeout: opts.timeout } }),
  });
  let last: BatchProgress | undefined;
  run.on('plan', (p) => view.note(`${p.requests.toLocaleString('en-US')} requests: ${p.answered} answered before, ${p.failedBefore} failed before${files.retryErrors === true ? ' (retrying them)' : ''}, ${p.toRun} to run`));
  run.on('progress', (p) => view.update((last = p)));
  run.on('torn-line', (e) => view.note(`${e.path}: cut off a torn last line (${e.bytes} bytes) left by a crash; its request runs again`));
  run.on('stopping', (e) => view.note(`Stopping: ${e.cancelled} queued requests cancelled, waiting for ${e.inFlight} in flight (send the signal again to abort them).`));
  pool.on('key-disabled', (e) => view.note(`key ${e.key} disabled: ${e.status ?? ''} ${e.message}`));
  pool.on('account-disabled', (e) => view.note(`account ${e.account} disabled: ${e.message}`));

  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals === 1) run.stop();
    else run.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let summary: BatchSummary;
  try {
    summary = await run.summary;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    view.end(last === undefined ? undefined : run.progress());
  }
  io.stdout.write(`${formatSummary(summary)}\n`);
  if (opts.progress === 'json') io.stderr.write(`${JSON.stringify({ type: 'summary', ...summary })}\n`);
  const code = exitCodeOf(summary, signals > 0, opts.retryErrors === true);
  if (summary.notRun > 0 || code === EXIT.interrupted) {
    io.stdout.write(`${summary.notRun} requests not run. Resume with the same command:\n  ${io.commandLine}\n`);
  }
  return code;
}
