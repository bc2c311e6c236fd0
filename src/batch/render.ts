/**
 * How `kimi-pool batch` shows progress: one live block on a terminal (drawn by
 * log-update), a plain line every few seconds in a pipe or a CI log, one JSON
 * object per second for programs, or nothing.
 */
import { createLogUpdate } from 'log-update';
import type { BatchProgress } from './progress.js';
import { rateLimit429s } from './summary.js';

/** The `--progress` modes. `auto` is `tty` on a terminal, `plain` elsewhere. */
export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'json', 'none'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** Draws progress snapshots; `end` draws the last one and lets go of the terminal. */
export interface ProgressView {
  /** How often the run should emit progress, in ms. */
  readonly intervalMs: number;
  update(progress: BatchProgress): void;
  /** Prints a message above the live block (or as a line). */
  note(text: string): void;
  end(progress: BatchProgress | undefined): void;
}

const int = (n: number): string => n.toLocaleString('en-US');
const secs = (ms: number): string => (ms >= 3_600_000 ? `${(ms / 3_600_000).toFixed(1)} h` : ms >= 120_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(1)} s`);
const eta = (p: BatchProgress): string => (p.etaMs === null ? 'ETA -' : `ETA ${secs(p.etaMs)}`);

function bar(done: number, total: number, width = 24): string {
  const filled = total > 0 ? Math.round((done / total) * width) : width;
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

function kinds(p: BatchProgress): string {
  const t = p.tooManyRequests;
  return `429s: rate limit ${int(rateLimit429s(t))} (rpm ${t.rpm}, tpm ${t.tpm}, tpd ${t.tpd}, concurrency ${t.concurrency}), overloaded ${int(t.overloaded)}, quota ${int(t.quota)}; retries ${int(p.retries)}`;
}

/** What holds an account back: a 429 pause, its own limits, or nothing. */
function accountLine(a: BatchProgress['accounts'][number]): string {
  let state = `${a.inFlight} in flight`;
  if (a.disabled) state = 'disabled';
  else if (a.pausedForMs !== null && a.pausedForMs > 0) state = `paused by a 429 for ${secs(a.pausedForMs)}`;
  else if (a.nextFreeInMs !== null && a.nextFreeInMs > 0) state = `${a.inFlight} in flight, window full: next start in ${secs(a.nextFreeInMs)}`;
  return `${a.id}: ${state}; ${int(a.succeeded)} ok`;
}

/** The live block: totals, bar, rate and ETA, 429s by kind, and each account's state. */
export function progressBlock(p: BatchProgress): string {
  const settled = p.succeeded + p.failed;
  const pct = p.total > 0 ? Math.floor((settled / p.total) * 100) : 100;
  const accounts = p.accounts.length <= 8 ? p.accounts : p.accounts.filter((a) => a.disabled || a.pausedForMs !== null);
  const hidden = p.accounts.length - accounts.length;
  return [
    `${bar(settled, p.total)} ${int(settled)}/${int(p.total)} ${pct}%${p.skipped > 0 ? `  (${int(p.skipped)} skipped: settled before)` : ''}`,
    `done ${int(p.succeeded)}  failed ${int(p.failed)}  in flight ${int(p.inFlight)}  queued ${int(p.queued)}  ${p.ratePerSec.toFixed(1)} req/s  ${eta(p)} at the accounts' limits`,
    kinds(p),
    ...accounts.map((a) => `  ${accountLine(a)}`),
    ...(hidden > 0 ? [`  ${hidden} more accounts running`] : []),
    ...(p.stopping ? [`stopping: waiting for ${p.inFlight} in flight (a second Ctrl+C aborts them)`] : []),
  ].join('\n');
}

/** One line for logs. */
export function progressLine(p: BatchProgress): string {
  const paused = p.accounts.filter((a) => a.pausedForMs !== null && a.pausedForMs > 0).map((a) => a.id);
  return (
    `${int(p.succeeded + p.failed)}/${int(p.total)} done (${int(p.failed)} failed), ${int(p.inFlight)} in flight, ${int(p.queued)} queued, ` +
    `${p.ratePerSec.toFixed(1)} req/s, ${eta(p)}; ${kinds(p)}${paused.length > 0 ? `; paused: ${paused.join(', ')}` : ''}${p.stopping ? '; stopping' : ''}`
  );
}

/** Picks the view for a mode; `auto` looks at whether `stream` is a terminal. */
export function progressView(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr, plainEveryMs = 5_000): ProgressView {
  const resolved = mode === 'auto' ? (stream.isTTY === true ? 'tty' : 'plain') : mode;
  if (resolved === 'tty') {
    const log = createLogUpdate(stream);
    return {
      intervalMs: 250,
      update: (p) => log(progressBlock(p)),
      note: (text) => log.persist(text),
      end: (p) => {
        if (p !== undefined) log(progressBlock(p));
        log.done();
      },
    };
  }
  if (resolved === 'json') {
    const write = (p: BatchProgress): void => void stream.write(`${JSON.stringify({ type: 'progress', ...p })}\n`);
    return { intervalMs: 1000, update: write, note: (text) => void stream.write(`${JSON.stringify({ type: 'note', message: text })}\n`), end: (p) => p && write(p) };
  }
  if (resolved === 'plain') {
    let last = -Infinity;
    return {
      intervalMs: 1000,
      update: (p) => {
        if (p.elapsedMs - last < plainEveryMs) return;
        last = p.elapsedMs;
        stream.write(`${progressLine(p)}\n`);
      },
      note: (text) => void stream.write(`${text}\n`),
      end: (p) => p && stream.write(`${progressLine(p)}\n`),
    };
  }
  return { intervalMs: 1000, update: () => {}, note: (text) => void stream.write(`${text}\n`), end: () => {} };
}
