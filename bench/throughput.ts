/**
 * Throughput against limits: every contender drains the same backlog from the
 * same accounts on a fresh simulator (real HTTP on 127.0.0.1, shortened
 * window, same latency, same fault seed). Figures: requests that succeeded and
 * failed, the 429s the server sent, makespan and efficiency = ideal / makespan.
 */
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { startKimiSimulator, type SimulatorFaults } from '../src/testing/index.js';
import { bottleneckMinTimeThroughput, bottleneckReservoirThroughput } from './contenders/bottleneck.js';
import type { BenchAccount, ThroughputContender } from './contenders/contender.js';
import { kimiPoolThroughput } from './contenders/kimi-pool.js';
import { openaiSdkThroughput } from './contenders/openai-sdk.js';
import { pQueueIntervalThroughput, pQueueStrictThroughput } from './contenders/p-queue.js';
import { idealMakespan } from '../src/testing/ideal.js';
import { fmt, table } from './report.js';

export const WINDOW_MS = 3_000;
export const LATENCY_MS: readonly [number, number] = [40, 60];
const MEAN_LATENCY_MS = (LATENCY_MS[0] + LATENCY_MS[1]) / 2;
/**
 * Two full windows of the accounts below (3 + 3 + 30 starts each) and most of
 * a third: ideal 6.3 s. Not a whole number of windows on purpose: with exactly
 * three full ones, a single retried attempt anywhere would need a fourth window
 * (+3 s) and the figure would measure that edge, not the scheduler.
 */
export const BACKLOG = 100;
/** A contender still busy after this long is stopped; what is left counts as failed. */
const DEADLINE_MS = 60_000;

export const ACCOUNTS: readonly BenchAccount[] = [
  { id: 'org-free-1', keys: ['sk-bench-free-1'], rpm: 3, concurrency: 1, tpm: 500_000, tpd: 1_500_000 },
  { id: 'org-free-2', keys: ['sk-bench-free-2'], rpm: 3, concurrency: 1, tpm: 500_000, tpd: 1_500_000 },
  { id: 'org-paid', keys: ['sk-bench-paid-1', 'sk-bench-paid-2'], rpm: 30, concurrency: 4, tpm: 2_000_000, tpd: Infinity },
];

export interface Scenario {
  readonly id: string;
  readonly title: string;
  readonly faults?: SimulatorFaults;
  /** Revoke this key this many ms into the run. */
  readonly revoke?: { readonly key: string; readonly atMs: number };
}

export const SCENARIOS: readonly Scenario[] = [
  { id: 'clean', title: 'Scenario A: no faults' },
  {
    id: 'faults',
    title: 'Scenario B: 5% overload 429s (`faults.overloadRate: 0.05`) and a key revoked 2 s into the run (`sim.revokeKey(\'sk-bench-paid-2\')`)',
    faults: { overloadRate: 0.05 },
    revoke: { key: 'sk-bench-paid-2', atMs: 2_000 },
  },
];

export const CONTENDERS: readonly ThroughputContender[] = [
  kimiPoolThroughput,
  openaiSdkThroughput,
  bottleneckReservoirThroughput,
  bottleneckMinTimeThroughput,
  pQueueIntervalThroughput,
  pQueueStrictThroughput,
];

export interface ThroughputRow {
  readonly contender: string;
  readonly succeeded: number;
  readonly failed: number;
  /** Failures by cause, e.g. `{ '429': 3, '401': 2 }`. */
  readonly causes: Record<string, number>;
  /** Rate-limit 429s the server sent (concurrency, RPM, TPM, TPD). */
  readonly rateLimited: number;
  readonly overloaded: number;
  readonly auth: number;
  readonly makespanMs: number;
  /** ideal(backlog) / makespan. */
  readonly efficiency: number;
  /** ideal(succeeded) / makespan: what was delivered, so failing fast does not pay. */
  readonly deliveredEfficiency: number;
}

/** The ideal makespan of the backlog, at the mean latency. */
export function idealMs(): number {
  return idealMakespan(ACCOUNTS, BACKLOG, WINDOW_MS, MEAN_LATENCY_MS);
}

function body(i: number): ChatCompletionCreateParamsNonStreaming {
  return { model: 'kimi-k2.5', messages: [{ role: 'user', content: `task ${i}` }], max_tokens: 16 };
}

function causeOf(error: unknown): string {
  const e = error as { status?: unknown; code?: unknown; name?: unknown };
  if (typeof e?.status === 'number') return String(e.status);
  if (typeof e?.code === 'string') return e.code;
  return typeof e?.name === 'string' ? e.name : 'error';
}

export async function runContender(contender: ThroughputContender, scenario: Scenario): Promise<ThroughputRow> {
  const sim = await startKimiSimulator({
    accounts: ACCOUNTS.map((a) => ({ id: a.id, keys: a.keys, limits: { rpm: a.rpm, concurrency: a.concurrency, tpm: a.tpm, tpd: a.tpd } })),
    windowMs: WINDOW_MS,
    latencyMs: LATENCY_MS,
    faults: scenario.faults ?? {},
    seed: 1,
  });
  const runner = contender.create({ baseURL: sim.url, windowMs: WINDOW_MS, accounts: ACCOUNTS });
  let succeeded = 0;
  let failed = 0;
  const causes: Record<string, number> = {};
  const t0 = performance.now();
  let end = t0;
  const revoke = scenario.revoke;
  const revokeTimer = revoke === undefined ? undefined : setTimeout(() => sim.revokeKey(revoke.key), revoke.atMs);
  const all = Promise.all(
    Array.from({ length: BACKLOG }, (_, i) =>
      runner.send(body(i)).then(
        () => {
          succeeded++;
          end = performance.now();
        },
        (error: unknown) => {
          failed++;
          const c = causeOf(error);
          causes[c] = (causes[c] ?? 0) + 1;
          end = performance.now();
        },
      ),
    ),
  );
  let deadline: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise<void>((resolve) => (deadline = setTimeout(resolve, DEADLINE_MS)))]);
  clearTimeout(deadline);
  clearTimeout(revokeTimer);
  const unfinished = BACKLOG - succeeded - failed;
  if (unfinished > 0) {
    failed += unfinished;
    causes[`unfinished after ${DEADLINE_MS / 1000} s`] = unfinished;
    end = t0 + DEADLINE_MS;
  }
  await runner.close();
  await sim.close();
  const stats = sim.stats();
  const overloaded = Object.values(stats.accounts).reduce((n, a) => n + a.faults.overloaded, 0);
  const makespanMs = end - t0;
  return {
    contender: contender.name,
    succeeded,
    failed,
    causes,
    rateLimited: stats.totals.rateLimited,
    overloaded,
    auth: stats.totals.auth,
    makespanMs,
    efficiency: idealMs() / makespanMs,
    deliveredEfficiency: idealMakespan(ACCOUNTS, succeeded, WINDOW_MS, MEAN_LATENCY_MS) / makespanMs,
  };
}

function causesText(causes: Record<string, number>): string {
  const parts = Object.entries(causes).map(([c, n]) => `${c}: ${n}`);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

/**
 * Warms the process up before any contender runs: Node loads its `fetch`
 * (undici) on first use and the simulator's code starts cold, which would add
 * ~30 ms to the first requests of whichever contender ran first.
 */
async function warmUp(): Promise<void> {
  const sim = await startKimiSimulator({ accounts: [{ id: 'org-warm', keys: ['sk-bench-warm'], limits: { rpm: 10_000, concurrency: 100 } }], windowMs: 1_000 });
  const client = new OpenAI({ apiKey: 'sk-bench-warm', baseURL: sim.url, maxRetries: 0 });
  for (let i = 0; i < 50; i++) await client.chat.completions.create(body(i));
  await sim.close();
}

/** Runs every scenario for every contender, one at a time; returns the markdown section. */
export async function runThroughput(log: (line: string) => void): Promise<string> {
  const ideal = idealMs();
  const withMargin = idealMakespan(ACCOUNTS, BACKLOG, WINDOW_MS + 75, MEAN_LATENCY_MS);
  await warmUp();
  const out: string[] = [
    '## Throughput against limits',
    '',
    `Simulator on 127.0.0.1 (real HTTP), window ${WINDOW_MS} ms, latency uniform ${LATENCY_MS[0]}-${LATENCY_MS[1]} ms, seed 1, a fresh simulator per run. ` +
      `Backlog: ${BACKLOG} chat requests (max_tokens 16) queued at once. Accounts (same on the server and in every contender):`,
    '',
    ...ACCOUNTS.map((a) => `- \`${a.id}\`: ${a.keys.length} key${a.keys.length > 1 ? 's' : ''}, rpm ${a.rpm}, concurrency ${a.concurrency}, tpm ${fmt(a.tpm)}, tpd ${a.tpd === Infinity ? 'unlimited' : fmt(a.tpd)}`),
    '',
    `Ideal makespan \`idealMakespan(accounts, ${BACKLOG}, ${WINDOW_MS}, ${MEAN_LATENCY_MS})\` = **${fmt(ideal)} ms** (src/testing/ideal.ts, exported by kimi-pool/testing: the ${BACKLOG} earliest starts any scheduler can make within the limits, plus the mean latency). ` +
      'Efficiency = ideal / makespan; makespan runs from the first request queued to the last one settled (succeeded or failed). ' +
      'A contender that drops requests finishes sooner, so **efficiency, succeeded only** = `idealMakespan(accounts, succeeded, ...)` / makespan tells what it delivered (the two are equal when nothing failed).',
    '',
  ];
  for (const scenario of SCENARIOS) {
    const rows: ThroughputRow[] = [];
    for (const c of CONTENDERS) {
      log(`throughput: ${scenario.id}: ${c.name} ...`);
      const row = await runContender(c, scenario);
      log(`throughput: ${scenario.id}: ${c.name}: ${row.succeeded} ok, ${row.failed} failed, ${row.rateLimited} rate-limit 429s, ${fmt(row.makespanMs)} ms, efficiency ${row.efficiency.toFixed(3)}`);
      rows.push(row);
    }
    out.push(`### ${scenario.title}`, '');
    out.push(
      table(
        ['contender', 'succeeded', 'failed (by cause)', 'rate-limit 429s sent', 'overload 429s sent', '401s sent', 'makespan (ms)', 'efficiency', 'efficiency, succeeded only'],
        rows.map((r) => [
          r.contender,
          String(r.succeeded),
          `${r.failed}${causesText(r.causes)}`,
          String(r.rateLimited),
          String(r.overloaded),
          String(r.auth),
          fmt(r.makespanMs),
          r.efficiency.toFixed(3),
          r.deliveredEfficiency.toFixed(3),
        ]),
        ['l', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
  }
  out.push(
    'Notes:',
    '',
    '- The 429 and 401 counts are what the simulator sent (`sim.stats()`), retries included. Overload 429s are injected at random (5% of accepted requests, same seed for everyone) and count against RPM like real ones; they are not rate-limit 429s.',
    `- The ideal counts no safety margin. kimi-pool spaces each account's starts by \`windowMs + safetyMarginMs\` (default 75 ms, because the server may count a start later than we record it), so the best it can reach here is \`idealMakespan(accounts, ${BACKLOG}, ${WINDOW_MS} + 75, ${MEAN_LATENCY_MS})\` = ${fmt(withMargin)} ms, efficiency ${(ideal / withMargin).toFixed(3)}. The margin costs 75 ms per window: 2.5% of this shortened window, 0.125% of the real 60 s one.`,
    '- The process is warmed up first (Node loads `fetch` on first use), so no contender pays that for the others.',
    '- In scenario B the ideal is still that of the backlog alone: each overload 429 costs an extra start and a backoff (kimi-pool: 500 ms doubling, with jitter), so even a perfect scheduler ends a little later there.',
    '- Where the requests went: the peers keep sending to the revoked key (keys of an account round-robin) and the SDK does not retry a 401, so those requests are lost; the SDK retries a rate-limit 429 twice after 0.5-1 s and then gives up. kimi-pool disables a key on its first 401 and runs the request on the account\'s other key, and never sent a request the server would refuse for a limit.',
    '- Contender set-ups:',
    ...CONTENDERS.map((c) => `  - **${c.name}**: ${c.config}.`),
    '',
  );
  return out.join('\n');
}
