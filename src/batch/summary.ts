/** The end-of-run summary of a batch, and its text form. */
import type { TooManyRequests } from '../pool/members.js';
import type { BatchPlan } from './plan.js';
import type { ModelUsage } from './usage.js';

/** What a run did. Times in ms; cost in `currency`. */
export interface BatchSummary {
  readonly input: string;
  readonly output: string;
  readonly errors: string;
  readonly dryRun: boolean;
  readonly plan: BatchPlan;
  /** Answered in this run. */
  readonly succeeded: number;
  /** Failed for good in this run. */
  readonly failed: number;
  /** Of this run's requests, those not settled (stopped before they ran): the next run sends them. */
  readonly notRun: number;
  /** The run was stopped (stop(), SIGINT) before the end of the file. */
  readonly interrupted: boolean;
  /** Why the run stopped by itself (no usable key left, the pool closed), or null. */
  readonly stoppedBy: string | null;
  /** Retries of transient faults. */
  readonly retries: number;
  /** Requests put back in the queue after a rate-limit 429. */
  readonly rateLimitBounces: number;
  /** 429s by kind: `rpm`, `tpm`, `tpd`, `concurrency`, `unknown` are rate limits; `overloaded`; `quota`. */
  readonly tooManyRequests: TooManyRequests;
  /** Tokens and cost per model, of this run's answers. */
  readonly models: readonly ModelUsage[];
  readonly currency: string;
  /** From the first request sent to the last settled. */
  readonly wallMs: number;
  /** The least time any scheduler needs for this run's requests at these limits (mean latency and tokens), or null. */
  readonly idealMs: number | null;
  /** idealMs / wallMs (1 = as fast as the limits allow), or null. */
  readonly efficiency: number | null;
  /** Torn last lines (crash mid-write) cut off the output and errors files. */
  readonly tornLines: number;
}

/** Rate-limit 429s (the account hit a limit), as opposed to overload and quota ones. */
export function rateLimit429s(t: TooManyRequests): number {
  return t.rpm + t.tpm + t.tpd + t.concurrency + t.unknown;
}

const int = (n: number): string => n.toLocaleString('en-US');
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

function money(n: number, currency: string): string {
  return `${n < 0.01 && n > 0 ? n.toFixed(6) : n.toFixed(4)} ${currency}`;
}

/** The summary as text lines for a terminal or a log. */
export function formatSummary(s: BatchSummary): string {
  const { plan } = s;
  const lines: string[] = [];
  const skipped = plan.requests - plan.toRun;
  lines.push(`${int(plan.requests)} requests in ${s.input}: ${int(plan.answered)} answered before, ${int(plan.failedBefore)} failed before, ${int(plan.toRun)} to run`);
  if (s.dryRun) {
    lines.push(`dry run: every line is valid; models: ${Object.entries(plan.models).map(([m, n]) => `${m} ${int(n)}`).join(', ') || '-'}`);
    return lines.join('\n');
  }
  lines.push(
    `${int(s.succeeded)} succeeded, ${int(s.failed)} failed, ${int(s.notRun)} not run` +
      `${skipped > 0 ? `, ${int(skipped)} skipped (settled before)` : ''}${s.interrupted ? ' (interrupted)' : ''}`,
  );
  const t = s.tooManyRequests;
  lines.push(
    `retries ${int(s.retries)}; 429s: rate limit ${int(rateLimit429s(t))} (rpm ${t.rpm}, tpm ${t.tpm}, tpd ${t.tpd}, concurrency ${t.concurrency}, other ${t.unknown}), ` +
      `overloaded ${int(t.overloaded)}, quota ${int(t.quota)}`,
  );
  let total = 0;
  const unpriced: string[] = [];
  for (const m of s.models) {
    const cost = m.cost === null ? 'no price' : money(m.cost, s.currency);
    if (m.cost === null) unpriced.push(m.model);
    else total += m.cost;
    lines.push(
      `  ${m.model}: ${int(m.requests)} answers, tokens prompt ${int(m.promptTokens)} (cached ${int(m.cachedTokens)}), completion ${int(m.completionTokens)}; cost ${cost}`,
    );
  }
  if (s.models.length > 1) {
    const sum = (f: (m: (typeof s.models)[number]) => number): string => int(s.models.reduce((a, m) => a + f(m), 0));
    lines.push(`tokens: prompt ${sum((m) => m.promptTokens)} (cached ${sum((m) => m.cachedTokens)}), completion ${sum((m) => m.completionTokens)}`);
  }
  if (s.models.length > 0) {
    lines.push(`cost ${money(total, s.currency)}${unpriced.length > 0 ? ` + no price for ${unpriced.join(', ')}` : ''} (list prices; --prices FILE to override)`);
  }
  const ideal = s.idealMs === null ? '' : `; ideal at these limits ${secs(s.idealMs)}, efficiency ${(s.efficiency ?? 0).toFixed(2)}`;
  lines.push(`wall time ${secs(s.wallMs)}${ideal}`);
  if (s.stoppedBy !== null) lines.push(`stopped: ${s.stoppedBy}`);
  if (s.tornLines > 0) lines.push(`${s.tornLines} torn line(s) left by a crash were cut off and their requests run again`);
  lines.push(`answers: ${s.output}${s.failed > 0 || plan.failedBefore > 0 ? `; failures: ${s.errors}` : ''}`);
  return lines.join('\n');
}
