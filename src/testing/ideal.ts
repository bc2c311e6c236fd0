/**
 * The yardstick for a pool's throughput: the least time in which ANY scheduler
 * can finish `n` identical requests on these accounts without exceeding a
 * limit, all queued at t = 0.
 *
 * Model (the simulator's): per account, at most `rpm` starts and at most `tpm`
 * reserved tokens in any sliding window of `windowMs`, at most `concurrency`
 * in flight, and every request takes `latencyMs`. Per account the earliest
 * k-th start is s[k] = max(s[k - perWindow] + windowMs, s[k - concurrency] +
 * latencyMs), where perWindow = min(rpm, floor(tpm / tokens)); starting as
 * early as possible never delays a later start, so greedy is optimal, and the
 * best split takes the `n` earliest starts over all accounts.
 */

/** The limits of one account that bound its throughput. `Infinity` = unlimited. */
export interface IdealAccount {
  readonly rpm: number;
  readonly concurrency: number;
  /** @default Infinity */
  readonly tpm?: number;
}

function check(name: string, value: number, allowInfinity: boolean): void {
  const ok = typeof value === 'number' && value >= 0 && (Number.isFinite(value) || (allowInfinity && value === Infinity));
  if (!ok) throw new RangeError(`Expected \`${name}\` to be a number >= 0${allowInfinity ? ' (or Infinity)' : ''}, got \`${String(value)}\``);
}

/** Earliest start times of an account's first `count` requests of `tokens` each. */
export function idealStarts(a: IdealAccount, count: number, windowMs: number, latencyMs: number, tokens = 0): number[] {
  const perWindow = Math.min(a.rpm, tokens > 0 ? Math.floor((a.tpm ?? Infinity) / tokens) : Infinity);
  if (perWindow <= 0 || a.concurrency <= 0) return [];
  const starts: number[] = [];
  for (let k = 0; k < count; k++) {
    let s = 0;
    if (k >= perWindow) s = Math.max(s, (starts[k - perWindow] as number) + windowMs);
    if (k >= a.concurrency) s = Math.max(s, (starts[k - a.concurrency] as number) + latencyMs);
    starts.push(s);
  }
  return starts;
}

/**
 * Least makespan in ms for `n` requests of `tokens` reserved tokens each.
 * @example idealMakespan([{ rpm: 3, concurrency: 1 }], 4, 2000, 50) // 2050: starts 0, 50, 100, 2000
 */
export function idealMakespan(accounts: readonly IdealAccount[], n: number, windowMs: number, latencyMs: number, tokens = 0): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`Expected \`n\` to be an integer >= 0, got \`${String(n)}\``);
  check('windowMs', windowMs, false);
  check('latencyMs', latencyMs, false);
  check('tokens', tokens, false);
  accounts.forEach((a, i) => {
    check(`accounts[${i}].rpm`, a.rpm, true);
    check(`accounts[${i}].concurrency`, a.concurrency, true);
    if (a.tpm !== undefined) check(`accounts[${i}].tpm`, a.tpm, true);
  });
  if (n === 0) return 0;
  // An account unlimited in requests and in flight starts everything at 0.
  if (accounts.some((a) => a.rpm === Infinity && a.concurrency === Infinity && (tokens === 0 || (a.tpm ?? Infinity) === Infinity))) return latencyMs;
  const all = accounts.flatMap((a) => idealStarts(a, n, windowMs, latencyMs, tokens)).sort((x, y) => x - y);
  if (all.length < n) return Infinity;
  return (all[n - 1] as number) + latencyMs;
}
