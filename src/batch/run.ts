/**
 * `runBatch(pool, options)`: runs a JSONL file of chat requests through a pool.
 *
 * Two passes over the input: the first checks every line and counts the work
 * (nothing is sent when a line is bad); the second streams the file and hands
 * the pool only as many requests as keep its accounts busy, so memory does not
 * grow with the file. Answers go to the output file and failures to the
 * errors file, each line written whole the moment its request settles; a run
 * of the same files skips every custom_id already written.
 */
import { lockOutput } from './output-lock.js';
import { rename } from 'node:fs/promises';
import { EventEmitter } from 'eventemitter3';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { isKimiPoolError } from '../errors.js';
import type { KimiPool } from '../kimi-pool.js';
import type { TooManyRequests } from '../pool/members.js';
import { KIMI_PRICES_USD } from '../pricing.js';
import { idealMakespan } from '../testing/ideal.js';
import { errorInfo, errorLine, outputLine, type BatchErrorInfo } from './format.js';
import { isProblem, parseLine, type BatchRequest } from './input.js';
import { readLines } from './lines.js';
import { busyDepth, type BatchOptions, resolveBatchOptions, type ResolvedBatchOptions } from './options.js';
import { planBatch, shouldRun, type BatchPlan } from './plan.js';
import { etaFromLimits, RecentRate, total429, zero429, type BatchProgress } from './progress.js';
import { ResultLog, type LogScan } from './result-log.js';
import type { BatchSummary } from './summary.js';
import { UsageTally } from './usage.js';

/** One settled request, as the run's async iterator yields it. */
export type BatchResult =
  | { readonly ok: true; readonly customId: string; readonly line: number; readonly response: ChatCompletion }
  | { readonly ok: false; readonly customId: string; readonly line: number; readonly error: BatchErrorInfo };

/** Events of a {@link BatchRun}. */
export interface BatchRunEvents {
  /** The input was checked: what the run will do. */
  plan: (plan: BatchPlan) => void;
  /** Every `progressIntervalMs`, and once at the end. */
  progress: (progress: BatchProgress) => void;
  /** A torn last line (a crash mid-write) was cut off the output or errors file. */
  'torn-line': (event: { readonly path: string; readonly bytes: number }) => void;
  /** stop() was called: reading ended; `inFlight` requests finish, `cancelled` queued ones run next time. */
  stopping: (event: { readonly inFlight: number; readonly cancelled: number }) => void;
}

interface Entry {
  readonly request: BatchRequest;
  readonly controller: AbortController;
  started: boolean;
  /** Aborted by stop()/abort(): not written, runs again on resume. */
  cancelled: boolean;
}

/** The rejections that say nothing about the request itself: it runs again next time. */
const NOT_THE_REQUEST = new Set(['ERR_POOL_CLOSED', 'ERR_ABORTED', 'ERR_NO_USABLE_KEY']);
/** The rejections after which no request can run: the run stops. */
const FATAL = new Set(['ERR_POOL_CLOSED', 'ERR_NO_USABLE_KEY']);

/** A running batch: events, results as an async iterable, and its summary. */
export class BatchRun extends EventEmitter<BatchRunEvents> implements AsyncIterable<BatchResult> {
  /** Resolves with the summary when the run ends (finished or stopped); rejects on bad input or files. */
  readonly summary: Promise<BatchSummary>;
  private readonly o: ResolvedBatchOptions;
  private plan: BatchPlan | undefined;
  private readonly pending = new Set<Entry>();
  private readonly byRequestId = new Map<number, Entry>();
  private lastQueued: number | undefined;
  private startedInCreate = false;
  private wake: (() => void) | undefined;
  private stopping = false;
  private fatal: string | null = null;
  private succeeded = 0;
  private failed = 0;
  private cancelled = 0;
  private tornLines = 0;
  private latencySum = 0;
  private readonly usage: UsageTally;
  private readonly rate = new RecentRate();
  private startedAt = performance.now();
  private base = { retries: 0, bounces: 0, tooManyRequests: undefined as TooManyRequests | undefined };
  private out: ResultLog | undefined;
  private err: ResultLog | undefined;
  // Results wait here only once someone iterates; the reader pauses while it is full.
  private results: BatchResult[] | undefined;
  private resultWaiter: (() => void) | undefined;
  private finished = false;
  private readonly maxPending: number;

  constructor(private readonly pool: KimiPool, options: BatchOptions) {
    super();
    this.o = resolveBatchOptions(options);
    this.maxPending = this.o.maxPending ?? busyDepth(pool.stats().accounts);
    this.usage = new UsageTally(this.o.prices ?? KIMI_PRICES_USD);
    // Start after the caller attached its listeners.
    this.summary = Promise.resolve().then(() => this.execute());
    this.summary.catch(() => {}).finally(() => {
      this.finished = true;
      this.resultWaiter?.();
    });
  }

  /** Stops reading; requests not yet started are cancelled (they run next time), in-flight ones finish and are written. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    let cancelled = 0;
    for (const e of this.pending) {
      if (e.started) continue;
      e.cancelled = true;
      cancelled++;
      e.controller.abort(new Error('batch stopped'));
    }
    this.emit('stopping', { inFlight: this.pending.size - cancelled, cancelled });
    this.wake?.();
  }

  /** Stops and aborts the in-flight requests too (they are not written: they run next time). */
  abort(): void {
    this.stop();
    for (const e of this.pending) {
      e.cancelled = true;
      e.controller.abort(new Error('batch aborted'));
    }
  }

  /**
   * The results of this run as they settle (answers and failures for good;
   * cancelled requests are not results). Results are kept for the iterator
   * only from its first call, and the run reads no further while
   * `maxPending` of them wait; leaving the loop early lets the run go on.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<BatchResult> {
    const buffer = (this.results ??= []);
    try {
      for (;;) {
        const next = buffer.shift();
        if (next !== undefined) {
          this.wake?.();
          yield next;
          continue;
        }
        if (this.finished) return;
        await new Promise<void>((resolve) => (this.resultWaiter = resolve));
        this.resultWaiter = undefined;
      }
    } finally {
      // A consumer that stops iterating must not hold the run up: results are no longer kept.
      this.results = undefined;
      this.wake?.();
    }
  }

  /** A snapshot of the run now. */
  progress(): BatchProgress {
    const stats = this.pool.stats();
    const total = this.plan?.toRun ?? 0;
    const remaining = Math.max(0, total - this.succeeded - this.failed);
    let inFlight = 0;
    for (const e of this.pending) if (e.started) inFlight++;
    const now = performance.now();
    const elapsedMs = now - this.startedAt;
    const meanLatencyMs = this.succeeded > 0 ? this.latencySum / this.succeeded : undefined;
    return {
      total,
      skipped: this.plan === undefined ? 0 : this.plan.requests - this.plan.toRun,
      succeeded: this.succeeded,
      failed: this.failed,
      inFlight,
      queued: this.pending.size - inFlight,
      remaining,
      elapsedMs,
      ratePerSec: this.rate.perSecond(now, elapsedMs),
      etaMs: etaFromLimits(stats, remaining, { windowMs: this.o.windowMs, meanTokens: this.plan?.meanTokens ?? 0, meanLatencyMs }),
      retries: stats.retries - this.base.retries,
      tooManyRequests: total429(stats, this.base.tooManyRequests),
      accounts: stats.accounts.map((a) => ({ id: a.id, inFlight: a.inFlight, pausedForMs: a.pausedForMs, disabled: a.disabled, nextFreeInMs: a.nextFreeInMs, succeeded: a.succeeded })),
      stopping: this.stopping,
    };
  }

  private async execute(): Promise<BatchSummary> {
    const unlock = lockOutput(this.o.output);
    try {
      return await this.executeLocked();
    } finally {
      unlock();
    }
  }

  private async executeLocked(): Promise<BatchSummary> {
    const { o } = this;
    const [outScan, errScan] = await Promise.all([ResultLog.scan(o.output), ResultLog.scan(o.errors)]);
    this.plan = await planBatch(o.input, { answered: outScan.ids, failed: errScan.ids, retryErrors: o.retryErrors });
    this.emit('plan', this.plan);
    this.openLogs(outScan, errScan);
    if (o.retryErrors && errScan.lines > 0) await this.setAsideErrors(errScan);

    const stats = this.pool.stats();
    this.base = { retries: stats.retries, bounces: stats.bounces, tooManyRequests: total429(stats) };
    this.startedAt = performance.now();
    const onQueued = (e: { requestId: number }): void => void (this.lastQueued = e.requestId);
    const onStart = (e: { requestId: number }): void => {
      const entry = this.byRequestId.get(e.requestId);
      if (entry !== undefined) entry.started = true;
      // A free account starts a request inside create(), before submit() knows its id.
      else if (e.requestId === this.lastQueued) this.startedInCreate = true;
    };
    const onSuccess = (e: { durationMs: number }): void => void (this.latencySum += e.durationMs);
    this.pool.on('queued', onQueued).on('start', onStart).on('success', onSuccess);
    const ticker = setInterval(() => this.emit('progress', this.progress()), o.progressIntervalMs);
    let failure: unknown;
    try {
      await this.feed(outScan, errScan).catch((error: unknown) => {
        // Nothing more is read; what is in flight is aborted (it runs next time) before the files close.
        failure = error;
        this.abort();
      });
      while (this.pending.size > 0) await this.nextSettle();
    } finally {
      clearInterval(ticker);
      this.pool.off('queued', onQueued).off('start', onStart).off('success', onSuccess);
      this.out?.close();
      this.err?.close();
    }
    if (failure !== undefined) throw failure;
    this.emit('progress', this.progress());
    return this.summarise(performance.now() - this.startedAt);
  }

  private openLogs(outScan: LogScan, errScan: LogScan): void {
    for (const [path, scan] of [[this.o.output, outScan], [this.o.errors, errScan]] as const) {
      if (scan.tornBytes === 0) continue;
      this.tornLines++;
      this.emit('torn-line', { path, bytes: scan.tornBytes });
    }
    this.out = ResultLog.open(this.o.output, outScan, this.o.syncIntervalMs);
    this.err = ResultLog.open(this.o.errors, errScan, this.o.syncIntervalMs);
  }

  /** With retryErrors, earlier failures move to `<errors>.previous`: each custom_id stays on one line of one file. */
  private async setAsideErrors(errScan: LogScan): Promise<void> {
    this.err?.close();
    await rename(this.o.errors, `${this.o.errors}.previous`);
    this.err = ResultLog.open(this.o.errors, { ...errScan, tornBytes: 0, lines: 0 }, this.o.syncIntervalMs);
  }

  private async feed(outScan: LogScan, errScan: LogScan): Promise<void> {
    const settled = { answered: outScan.ids, failed: errScan.ids, retryErrors: this.o.retryErrors };
    for await (const l of readLines(this.o.input)) {
      if (this.stopping) break;
      const parsed = parseLine(l.text, l.line);
      if (parsed === undefined) continue;
      if (isProblem(parsed)) throw new Error(`${this.o.input} changed during the run: line ${l.line} is now bad (${parsed.message})`);
      if (!shouldRun(parsed, settled)) continue;
      while (!this.stopping && !this.hasRoom()) await this.nextSettle();
      if (this.stopping) break;
      this.submit(parsed);
    }
  }

  private hasRoom(): boolean {
    if (this.pending.size >= this.maxPending) return false;
    return this.results === undefined || this.results.length < this.maxPending;
  }

  private nextSettle(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private submit(request: BatchRequest): void {
    const entry: Entry = { request, controller: new AbortController(), started: false, cancelled: false };
    this.lastQueued = undefined;
    this.startedInCreate = false;
    const params = request.body as unknown as ChatCompletionCreateParamsNonStreaming;
    const promise = this.pool.chat.completions.create(params, { ...this.o.requestOptions, signal: entry.controller.signal });
    // The pool emits `queued` inside create(): that ties its requestId to this entry.
    // Without it the entry counts as started (never cancelled by stop()).
    const requestId = this.lastQueued;
    if (requestId === undefined || this.startedInCreate) entry.started = true;
    if (requestId !== undefined) this.byRequestId.set(requestId, entry);
    this.pending.add(entry);
    promise.then(
      (response) => this.settle(entry, requestId, response, undefined),
      (error: unknown) => this.settle(entry, requestId, undefined, error),
    );
  }

  private settle(entry: Entry, requestId: number | undefined, response: ChatCompletion | undefined, error: unknown): void {
    this.pending.delete(entry);
    if (requestId !== undefined) this.byRequestId.delete(requestId);
    const { request } = entry;
    if (response !== undefined) {
      this.out?.append(outputLine(request, response as ChatCompletion & { _request_id?: string | null }));
      this.usage.add(request.body.model, response.usage as never);
      this.succeeded++;
      this.push({ ok: true, customId: request.customId, line: request.line, response });
    } else if (entry.cancelled || (isKimiPoolError(error) && NOT_THE_REQUEST.has(error.code))) {
      this.cancelled++;
      if (isKimiPoolError(error) && FATAL.has(error.code) && this.fatal === null) {
        this.fatal = `${error.code}: ${error.message}`;
        this.stop();
      }
    } else {
      this.err?.append(errorLine(request, error));
      this.failed++;
      this.push({ ok: false, customId: request.customId, line: request.line, error: errorInfo(error) });
    }
    this.rate.tick(performance.now());
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private push(result: BatchResult): void {
    if (this.results === undefined) return;
    this.results.push(result);
    this.resultWaiter?.();
  }

  private summarise(wallMs: number): BatchSummary {
    const plan = this.plan as BatchPlan;
    const stats = this.pool.stats();
    const settledNow = this.succeeded + this.failed;
    const meanLatencyMs = this.succeeded > 0 ? this.latencySum / this.succeeded : 0;
    const accounts = stats.accounts.filter((a) => !a.disabled).map((a) => ({
      rpm: a.limits.rpm ?? Infinity,
      concurrency: a.limits.concurrency ?? Infinity,
      tpm: a.limits.tpm ?? Infinity,
    }));
    const idealMs = settledNow > 0 && accounts.length > 0 ? idealMakespan(accounts, settledNow, this.o.windowMs, meanLatencyMs, Math.round(plan.meanTokens)) : null;
    const prices = this.o.prices ?? KIMI_PRICES_USD;
    return {
      input: this.o.input,
      output: this.o.output,
      errors: this.o.errors,
      dryRun: false,
      plan,
      succeeded: this.succeeded,
      failed: this.failed,
      notRun: plan.toRun - settledNow,
      interrupted: this.stopping,
      stoppedBy: this.fatal,
      retries: stats.retries - this.base.retries,
      rateLimitBounces: stats.bounces - this.base.bounces,
      tooManyRequests: total429(stats, this.base.tooManyRequests),
      models: this.usage.byModel(),
      currency: prices.currency,
      wallMs,
      idealMs: idealMs !== null && Number.isFinite(idealMs) ? idealMs : null,
      efficiency: idealMs !== null && Number.isFinite(idealMs) && wallMs > 0 ? idealMs / wallMs : null,
      tornLines: this.tornLines,
    };
  }
}

/**
 * Checks an input file against what earlier runs wrote, sending and writing
 * nothing (`kimi-pool batch --dry-run`).
 * @throws {BatchInputError} when a line is bad; {@link BatchOutputError} when the output or errors file is not ours.
 */
export async function checkBatch(options: BatchOptions): Promise<BatchSummary> {
  const o = resolveBatchOptions(options);
  const [outScan, errScan] = await Promise.all([ResultLog.scan(o.output), ResultLog.scan(o.errors)]);
  const plan = await planBatch(o.input, { answered: outScan.ids, failed: errScan.ids, retryErrors: o.retryErrors });
  return {
    input: o.input, output: o.output, errors: o.errors, dryRun: true, plan, succeeded: 0, failed: 0, notRun: plan.toRun,
    interrupted: false, stoppedBy: null, retries: 0, rateLimitBounces: 0, tooManyRequests: zero429(), models: [],
    currency: (o.prices ?? KIMI_PRICES_USD).currency, wallMs: 0, idealMs: null, efficiency: null, tornLines: (outScan.tornBytes > 0 ? 1 : 0) + (errScan.tornBytes > 0 ? 1 : 0),
  };
}

/**
 * Runs the requests of a JSONL file through `pool`.
 *
 * @example
 * const run = runBatch(pool, { input: 'requests.jsonl', output: 'answers.jsonl' });
 * run.on('progress', (p) => console.log(`${p.succeeded}/${p.total}`));
 * for await (const r of run) if (!r.ok) console.log(r.customId, r.error.code);
 * const summary = await run.summary;
 *
 * @throws {ConfigError} at once when an option is invalid.
 * `summary` rejects with {@link BatchInputError} when the input has bad lines
 * (nothing is sent) and {@link BatchOutputError} when the output or errors
 * file holds a line that is not a result.
 */
export function runBatch(pool: KimiPool, options: BatchOptions): BatchRun {
  return new BatchRun(pool, options);
}
