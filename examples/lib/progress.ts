/**
 * Live progress for the demo: per key (done, in flight, paused until) and
 * overall (done/total, rate, ETA), redrawn in place on a terminal and printed
 * as plain lines elsewhere (CI logs, pipes).
 */
import type { KimiPool, PoolStats } from 'kimi-pool';

const pad = (s: string | number, n: number): string => String(s).padEnd(n);
const lpad = (s: string | number, n: number): string => String(s).padStart(n);

export interface ProgressOptions {
  readonly total: number;
  readonly intervalMs?: number;
  /** Extra text for the overall line (e.g. the simulator's 429 count). */
  readonly extra?: () => string;
}

/** What holds an account back: a 429 pause, its own limits (until the next start), or nothing. */
function accountState(a: PoolStats['accounts'][number]): string {
  if (a.disabled) return `disabled (${a.disabledReason ?? ''})`;
  if (a.pausedForMs !== null) return `paused by a 429 for ${(a.pausedForMs / 1000).toFixed(1)} s`;
  if (a.nextFreeInMs === null) return 'all slots in flight';
  if (a.nextFreeInMs > 0) return `window full, next start in ${(a.nextFreeInMs / 1000).toFixed(1)} s`;
  return '-';
}

function keyRows(stats: PoolStats): string[] {
  const state = new Map(stats.accounts.map((a) => [a.id, accountState(a)]));
  const rows = [`  ${pad('key', 16)}${pad('account', 10)}${lpad('done', 6)}${lpad('in flight', 11)}  account`];
  for (const k of stats.keys) {
    const s = k.disabled ? `key disabled (${k.disabledReason ?? ''})` : state.get(k.account);
    rows.push(`  ${pad(k.id, 16)}${pad(k.account, 10)}${lpad(k.succeeded, 6)}${lpad(k.inFlight, 11)}  ${s ?? '-'}`);
  }
  return rows;
}

function overall(stats: PoolStats, total: number, elapsedMs: number, extra: string): string {
  const done = stats.succeeded + stats.failed;
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const eta = rate > 0 ? (total - done) / rate : NaN;
  return `  ${done}/${total} done, ${stats.failed} failed, ${rate.toFixed(1)} req/s, ETA ${Number.isFinite(eta) ? `${eta.toFixed(1)} s` : '-'}${extra}`;
}

/** Starts drawing; call the returned function to stop (it draws a last frame). */
export function showProgress(pool: KimiPool, options: ProgressOptions): () => void {
  const started = performance.now();
  const tty = process.stdout.isTTY === true;
  let drawn = 0;
  const draw = (): void => {
    const stats = pool.stats();
    const line = overall(stats, options.total, performance.now() - started, options.extra?.() ?? '');
    if (!tty) {
      console.log(line.trim());
      return;
    }
    const frame = [...keyRows(stats), line];
    if (drawn > 0) process.stdout.write(`\x1b[${drawn}A`);
    process.stdout.write(frame.map((l) => `\x1b[2K${l}\n`).join(''));
    drawn = frame.length;
  };
  const timer = setInterval(draw, options.intervalMs ?? (tty ? 200 : 1000));
  draw();
  return () => {
    clearInterval(timer);
    draw();
  };
}

/** The end-of-run table: per key and per account. */
export function summaryTable(stats: PoolStats): string {
  const lines = ['', `  ${pad('key', 16)}${pad('account', 10)}${lpad('ok', 5)}${lpad('failed', 8)}${lpad('429', 5)}${lpad('retries', 9)}${lpad('tokens', 9)}`];
  for (const k of stats.keys) {
    const t = k.tooManyRequests;
    const n429 = t.rpm + t.tpm + t.tpd + t.concurrency + t.unknown + t.overloaded + t.quota;
    lines.push(`  ${pad(k.id, 16)}${pad(k.account, 10)}${lpad(k.succeeded, 5)}${lpad(k.failed, 8)}${lpad(n429, 5)}${lpad(k.retries, 9)}${lpad(k.usedTokens, 9)}`);
  }
  lines.push('', `  ${pad('account', 10)}${pad('limits (rpm / in flight)', 26)}${lpad('ok', 5)}`);
  for (const a of stats.accounts) {
    lines.push(`  ${pad(a.id, 10)}${pad(`${a.limits.rpm ?? '∞'} / ${a.limits.concurrency ?? '∞'}`, 26)}${lpad(a.succeeded, 5)}`);
  }
  return lines.join('\n');
}
