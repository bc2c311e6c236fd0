/**
 * The best possible makespan for identical requests over accounts with known
 * limits: each account starts its k-th request as early as its limits allow
 * (RPM and TPM over a window, concurrency with a fixed latency), and the
 * backlog takes the n earliest finishes across accounts. No scheduler can do
 * better; the pool is measured against it.
 */
export interface IdealAccount {
  readonly rpm: number;
  readonly concurrency: number;
  readonly tpm: number;
}

/** Earliest finish times of an account's first `count` requests of `cost` tokens. */
export function idealFinishes(a: IdealAccount, count: number, cost: number, windowMs: number, latencyMs: number): number[] {
  const perWindow = Math.min(a.rpm, Math.floor(a.tpm / cost));
  if (perWindow <= 0) return [];
  const starts: number[] = [];
  for (let k = 0; k < count; k++) {
    let s = 0;
    if (k >= perWindow) s = Math.max(s, (starts[k - perWindow] as number) + windowMs);
    if (k >= a.concurrency) s = Math.max(s, (starts[k - a.concurrency] as number) + latencyMs);
    starts.push(s);
  }
  return starts.map((s) => s + latencyMs);
}

/** The time at which the last of `n` requests finishes in the best schedule. */
export function idealMakespan(accounts: readonly IdealAccount[], n: number, cost: number, windowMs: number, latencyMs: number): number {
  const all = accounts.flatMap((a) => idealFinishes(a, n, cost, windowMs, latencyMs)).sort((x, y) => x - y);
  if (all.length < n) return Infinity;
  return all[n - 1] as number;
}
