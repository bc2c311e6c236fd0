/**
 * Throughput against limits: every contender drains the same backlog from the
 * same accounts on a fresh simulator (real HTTP on 127.0.0.1, shortened
 * window, same latency, same fault seed). Each contender runs in a process of
 * its own, started for that run and not warmed up, as a batch job starts: its
 * first requests pay for Node's fetch, the SDK and new connections. The
 * simulator runs in this process. Figures: requests that succeeded and
 * failed, the 429s the server sent, makespan and efficiency = ideal / makespan.
 *
 * Child: `node --import tsx bench/throughput.ts --contender NAME --scenario ID --url URL`
 * prints `{"type":"t0"}` when it queues its backlog, then one JSON result line.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { DEFAULT_SAFETY_MARGIN_MS } from '../src/config.js';
import { startKimiSimulator, type KimiSimulatorOptions, type SimulatorFaults } from '../src/testing/index.js';
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
  /** What lies between a client and the server's count (the simulator's options of that name). */
  readonly network?: Pick<KimiSimulatorOptions, 'arrivalDelayMs' | 'newConnectionDelayMs'>;
}

export const SCENARIOS: readonly Scenario[] = [
  { id: 'clean', title: 'Scenario A: no faults' },
  {
    id: 'faults',
    title: 'Scenario B: 5% overload 429s (`faults.overloadRate: 0.05`) and a key revoked 2 s into the run (`sim.revokeKey(\'sk-bench-paid-2\')`)',
    faults: { overloadRate: 0.05 },
    revoke: { key: 'sk-bench-paid-2', atMs: 2_000 },
  },
  {
    id: 'network',
    title: 'Scenario C: a network between client and limiter: each request counted 0-100 ms after it was sent (`arrivalDelayMs: [0, 100]`), 150 ms more for the first request of each new connection (`newConnectionDelayMs: 150`)',
    network: { arrivalDelayMs: [0, 100], newConnectionDelayMs: 150 },
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

/** What the child measured; the parent adds the server's counts. */
interface ChildResult {
  readonly succeeded: number;
  readonly failed: number;
  readonly causes: Record<string, number>;
  readonly makespanMs: number;
}

/** In the child: drains the backlog through one contender, cold. */
async function drain(contender: ThroughputContender, url: string, onStart: () => void): Promise<ChildResult> {
  const runner = contender.create({ baseURL: url, windowMs: WINDOW_MS, accounts: ACCOUNTS });
  let succeeded = 0;
  let failed = 0;
  const causes: Record<string, number> = {};
  const t0 = performance.now();
  let end = t0;
  onStart();
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
  const unfinished = BACKLOG - succeeded - failed;
  if (unfinished > 0) {
    failed += unfinished;
    causes[`unfinished after ${DEADLINE_MS / 1000} s`] = unfinished;
    end = t0 + DEADLINE_MS;
  }
  await runner.close();
  return { succeeded, failed, causes, makespanMs: end - t0 };
}

/** Runs one contender in a fresh process against a fresh simulator in this one. */
export async function runContender(contender: ThroughputContender, scenario: Scenario): Promise<ThroughputRow> {
  const sim = await startKimiSimulator({
    accounts: ACCOUNTS.map((a) => ({ id: a.id, keys: a.keys, limits: { rpm: a.rpm, concurrency: a.concurrency, tpm: a.tpm, tpd: a.tpd } })),
    windowMs: WINDOW_MS,
    latencyMs: LATENCY_MS,
    faults: scenario.faults ?? {},
    seed: 1,
    ...scenario.network,
  });
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--contender', contender.name, '--url', sim.url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const revoke = scenario.revoke;
  let revokeTimer: NodeJS.Timeout | undefined;
  let result: ChildResult | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    const msg = JSON.parse(line) as { type: 't0' } | ({ type: 'result' } & ChildResult);
    if (msg.type === 't0' && revoke !== undefined) revokeTimer = setTimeout(() => sim.revokeKey(revoke.key), revoke.atMs);
    else if (msg.type === 'result') result = msg;
  }
  clearTimeout(revokeTimer);
  await sim.close();
  if (result === undefined) throw new Error(`throughput: ${contender.name} reported no result (exit ${String(child.exitCode)})`);
  const stats = sim.stats();
  const overloaded = Object.values(stats.accounts).reduce((n, a) => n + a.faults.overloaded, 0);
  return {
    contender: contender.name,
    ...result,
    rateLimited: stats.totals.rateLimited,
    overloaded,
    auth: stats.totals.auth,
    efficiency: idealMs() / result.makespanMs,
    deliveredEfficiency: idealMakespan(ACCOUNTS, result.succeeded, WINDOW_MS, MEAN_LATENCY_MS) / result.makespanMs,
  };
}

function causesText(causes: Record<string, number>): string {
  const parts = Object.entries(causes).map(([c, n]) => `${c}: ${n}`);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

/** Runs every scenario for every contender, one at a time; returns the markdown section. */
export async function runThroughput(log: (line: string) => void): Promise<string> {
  const ideal = idealMs();
  const withMargin = idealMakespan(ACCOUNTS, BACKLOG, WINDOW_MS + DEFAULT_SAFETY_MARGIN_MS, MEAN_LATENCY_MS);
  const out: string[] = [
    '## Throughput against limits',
    '',
    `Simulator on 127.0.0.1 (real HTTP), window ${WINDOW_MS} ms, latency uniform ${LATENCY_MS[0]}-${LATENCY_MS[1]} ms, seed 1, a fresh simulator per run. ` +
      'Each contender runs in a fresh `node` process, cold (no warm-up), as a batch job starts. ' +
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
    `- The ideal counts no safety margin. kimi-pool spaces each account's starts by \`windowMs + safetyMarginMs\` (default ${DEFAULT_SAFETY_MARGIN_MS} ms, because the server may count a start later than it left), so the best it can reach here is \`idealMakespan(accounts, ${BACKLOG}, ${WINDOW_MS} + ${DEFAULT_SAFETY_MARGIN_MS}, ${MEAN_LATENCY_MS})\` = ${fmt(withMargin)} ms, efficiency ${(ideal / withMargin).toFixed(3)}. The margin costs ${DEFAULT_SAFETY_MARGIN_MS} ms per window: ${((100 * DEFAULT_SAFETY_MARGIN_MS) / WINDOW_MS).toFixed(1)}% of this shortened window, ${((100 * DEFAULT_SAFETY_MARGIN_MS) / 60_000).toFixed(2)}% of the real 60 s one.`,
    '- Nobody is warmed up: each contender pays for its own first requests (Node loads `fetch` on first use, the SDK and the connections start cold), as a batch job does.',
    '- In scenario B the ideal is still that of the backlog alone: each overload 429 costs an extra start and a backoff (kimi-pool: 500 ms doubling, with jitter), so even a perfect scheduler ends a little later there.',
    '- Where the requests went: the peers keep sending to the revoked key (keys of an account round-robin) and the SDK does not retry a 401, so those requests are lost; the SDK retries a rate-limit 429 twice after 0.5-1 s and then gives up. kimi-pool disables a key on its first 401 and runs the request on the account\'s other key, and never sent a request the server would refuse for a limit.',
    '- Contender set-ups:',
    ...CONTENDERS.map((c) => `  - **${c.name}**: ${c.config}.`),
    '',
  );
  return out.join('\n');
}

/** The child: `--contender NAME --url URL`. */
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string): string => process.argv[process.argv.indexOf(name) + 1] ?? '';
  const contender = CONTENDERS.find((c) => c.name === arg('--contender'));
  if (contender === undefined) throw new Error(`unknown contender ${arg('--contender')}`);
  const out = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  const result = await drain(contender, arg('--url'), () => out({ type: 't0' }));
  out({ type: 'result', ...result });
  process.exit(0);
}
