/**
 * The Redis store against finite limits: how close 1, 2 and 4 COLD worker
 * processes sharing accounts through Redis come to the ideal makespan, against
 * one process on the memory store.
 *
 * The embedded simulator (real HTTP, strict sliding windows) runs in this
 * process; each worker is a fresh `node` process (no warm-up: a batch job
 * starts cold) with a `KimiPool` on the same keys, and drains its share of one
 * backlog through the real openai SDK. Figures: makespan from "go" to the last
 * answer, efficiency = idealMakespan / makespan, and the rate-limit 429s the
 * simulator sent.
 *
 * KIMI_POOL_BENCH_TRACE=<dir>: each worker writes its store decisions, timers
 * and events to <dir>/worker-<n>.json, and the parent the server's arrivals
 * to <dir>/server.json (times in epoch ms), for diagnosis.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { systemClock, type Clock } from '../src/clock.js';
import { KimiPool, MemoryStore, type LimitStore } from '../src/index.js';
import { redisStore, type RedisStore } from '../src/redis/index.js';
import { startKimiSimulator } from '../src/testing/index.js';
import { idealMakespan } from '../src/testing/ideal.js';
import { testRedis } from '../test/helpers/redis-server.js';
import { serveAsWorker, spawnChild } from './child.js';
import { fmt, table } from './report.js';

export const WINDOW_MS = 2_000;
const LATENCY_MS: readonly [number, number] = [40, 60];
const MEAN_LATENCY_MS = 50;
/** Finite limits: one account with two keys, one like tier0 (3 RPM, 1 in flight). */
const ACCOUNTS = [
  { id: 'org-tier0', keys: ['sk-bench-rl-tier0'], rpm: 3, concurrency: 1 },
  { id: 'org-two-keys', keys: ['sk-bench-rl-two-a', 'sk-bench-rl-two-b'], rpm: 20, concurrency: 4 },
  { id: 'org-b', keys: ['sk-bench-rl-b'], rpm: 10, concurrency: 2 },
  { id: 'org-c', keys: ['sk-bench-rl-c'], rpm: 10, concurrency: 3 },
] as const;
const PER_WINDOW = ACCOUNTS.reduce((n, a) => n + a.rpm, 0);
/** About eight windows of starts, split evenly across the workers (divisible by 1, 2 and 4). */
export const BACKLOG = 8 * PER_WINDOW;
/**
 * Safety margins: 75 ms (the old default) and 250 ms (the default)
 * (they reach the server 100-150 ms after their grant on a busy machine, and the server then counts
 * a window from there): with it, no 429 costs a window, and what is left is the scheduler's own.
 */
const MARGINS = [75, 250] as const;
const RUNS: readonly { store: 'memory' | 'redis'; workers: number }[] = [
  { store: 'memory', workers: 1 },
  { store: 'redis', workers: 1 },
  { store: 'redis', workers: 2 },
  { store: 'redis', workers: 4 },
];

export interface LimitsRow {
  readonly marginMs: number;
  readonly store: 'memory' | 'redis';
  readonly workers: number;
  readonly requests: number;
  readonly failed: number;
  readonly makespanMs: number;
  readonly efficiency: number;
  readonly rateLimited: number;
  /** "account kind ms-after-go" of every request the server refused. */
  readonly refused: readonly string[];
}

export function idealMs(marginMs = 0): number {
  return idealMakespan(ACCOUNTS, BACKLOG, WINDOW_MS + marginMs, MEAN_LATENCY_MS);
}

// ---------------------------------------------------------------- worker side

interface WorkerArgs {
  readonly store: 'memory' | 'redis';
  readonly baseURL: string;
  readonly url: string;
  readonly prefix: string;
  readonly requests: number;
  readonly marginMs: number;
  readonly trace: string | undefined;
}

interface WorkerReport {
  readonly end: number;
  readonly failed: number;
}

const epoch = (): number => performance.timeOrigin + performance.now();

/** Wraps the clock and the store so that every decision, timer and event lands in `log`. */
function traced(store: LimitStore, redis: RedisStore | undefined, log: Record<string, unknown>[]): Clock {
  const acquire = store.acquire.bind(store);
  store.acquire = (account, tokens, lease) => {
    const ask = epoch();
    const answer = acquire(account, tokens, lease);
    const note = (a: number): number => (log.push({ e: 'acquire', account, ask, at: epoch(), answer: a }), a);
    return typeof answer === 'number' ? note(answer) : answer.then(note);
  };
  const release = store.release.bind(store);
  store.release = (account, lease) => {
    log.push({ e: 'release', account, at: epoch() });
    return release(account, lease);
  };
  if (redis !== undefined) {
    // Scripts other than acquire (release, restamp, renew, ...), by name: a private method, wrapped for diagnosis only.
    const inner = redis as unknown as { run: (script: { name: string }, a: { id: string }, extra: unknown) => Promise<unknown> };
    const run = inner.run.bind(redis);
    inner.run = async (script, a, extra) => {
      const ask = epoch();
      const out = await run(script, a, extra);
      if (script.name !== 'acquire') log.push({ e: script.name, account: a.id, ask, at: epoch() });
      return out;
    };
    const listen = redis.listen.bind(redis);
    redis.listen = (listener) =>
      listen((event) => {
        log.push({ e: event.type, account: 'account' in event ? event.account : undefined, at: epoch() });
        listener(event);
      });
  }
  return {
    now: systemClock.now,
    setTimeout(fn, ms, keepAlive) {
      const set = epoch();
      return systemClock.setTimeout(
        () => {
          log.push({ e: 'timer', set, due: set + ms, at: epoch(), keepAlive });
          fn();
        },
        ms,
        keepAlive,
      );
    },
    clearTimeout: systemClock.clearTimeout,
  };
}

async function worker(args: WorkerArgs): Promise<WorkerReport> {
  const log: Record<string, unknown>[] = [];
  const redis = args.store === 'redis' ? redisStore({ url: args.url, prefix: args.prefix }) : undefined;
  const store: LimitStore = redis ?? new MemoryStore();
  const clock = args.trace !== undefined ? traced(store, redis, log) : systemClock;
  const pool = new KimiPool({
    baseURL: args.baseURL,
    windowMs: WINDOW_MS,
    safetyMarginMs: args.marginMs,
    clock,
    keys: ACCOUNTS.flatMap((a) => a.keys.map((key) => ({ key, account: a.id, rpm: a.rpm, concurrency: a.concurrency }))),
    store,
  });
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));
  let failed = 0;
  await Promise.all(
    Array.from({ length: args.requests }, (_, i) =>
      pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `task ${i}` }], max_tokens: 16 }).catch(() => void failed++),
    ),
  );
  const end = epoch();
  await pool.close();
  if (args.trace !== undefined) writeFileSync(args.trace, JSON.stringify(log));
  return { end, failed };
}

// ---------------------------------------------------------------- parent side

const HERE = fileURLToPath(import.meta.url);

async function run(url: string, store: 'memory' | 'redis', workers: number, marginMs: number, traceDir: string | undefined): Promise<LimitsRow> {
  const sim = await startKimiSimulator({
    accounts: ACCOUNTS.map((a) => ({ id: a.id, keys: [...a.keys], limits: { rpm: a.rpm, concurrency: a.concurrency, tpm: 1e9, tpd: 1e12 } })),
    windowMs: WINDOW_MS,
    latencyMs: LATENCY_MS,
    recordArrivals: true,
  });
  const prefix = `kp-bench-limits:${Math.random().toString(36).slice(2)}:`;
  const requests = BACKLOG / workers;
  const children = Array.from({ length: workers }, (_, i) =>
    spawnChild(HERE, ['--worker', JSON.stringify({ store, baseURL: sim.url, url, prefix, requests, marginMs, trace: traceDir === undefined ? undefined : join(traceDir, `worker-${i}.json`) } satisfies WorkerArgs)]),
  );
  for (const c of children) if ((await c.next()) !== 'ready') throw new Error('bench worker did not get ready');
  const start = epoch();
  for (const c of children) c.send('go');
  const reports = await Promise.all(children.map(async (c) => JSON.parse(await c.next()) as WorkerReport));
  await sim.close();
  const stats = sim.stats();
  if (traceDir !== undefined) writeFileSync(join(traceDir, 'server.json'), JSON.stringify({ start, startedAt: stats.startedAt, log: stats.log }));
  const makespanMs = Math.max(...reports.map((r) => r.end)) - start;
  return {
    marginMs,
    store,
    workers,
    requests: BACKLOG,
    failed: reports.reduce((n, r) => n + r.failed, 0),
    makespanMs,
    efficiency: idealMs() / makespanMs,
    rateLimited: stats.totals.rateLimited,
    refused: (stats.log ?? []).filter((r) => r.kind !== 'served').map((r) => `${r.account ?? '?'} ${r.kind} ${Math.round(stats.startedAt + r.t - start)}`),
  };
}

/** Runs every configuration once. */
export async function measureRedisLimits(log: (line: string) => void = () => undefined): Promise<LimitsRow[]> {
  const redis = await testRedis();
  try {
    const rows: LimitsRow[] = [];
    for (const marginMs of MARGINS) {
      for (const r of RUNS) {
        const row = await run(redis.url, r.store, r.workers, marginMs, undefined);
        log(`redis-limits: margin ${marginMs} ms, ${r.store}, ${r.workers} worker(s): ${fmt(row.makespanMs)} ms, efficiency ${row.efficiency.toFixed(3)}, ${row.rateLimited} rate-limit 429s, ${row.failed} failed`);
        rows.push(row);
      }
    }
    return rows;
  } finally {
    await redis.stop();
  }
}

/** The bench/RESULTS.md section (a `PARTS` entry of bench/run.ts). */
export async function runRedisLimitsBench(log: (line: string) => void = () => undefined): Promise<string> {
  const rows = await measureRedisLimits(log);
  return [
    '## Redis store against finite limits',
    '',
    `Simulator on 127.0.0.1 (real HTTP, strict sliding windows), window ${WINDOW_MS} ms, latency uniform ${LATENCY_MS[0]}-${LATENCY_MS[1]} ms. Accounts:`,
    '',
    ...ACCOUNTS.map((a) => `- \`${a.id}\`: ${a.keys.length} key${a.keys.length > 1 ? 's' : ''}, rpm ${a.rpm}, concurrency ${a.concurrency}`),
    '',
    `Backlog: ${BACKLOG} chat requests (8 windows of starts), split evenly across 1, 2 or 4 worker processes, each a fresh \`node\` (no warm-up) with a \`KimiPool\` on all keys and the store shown; the memory store runs in one process (several would each spend the whole limits). ` +
      `Makespan from "go" to the last answer. Ideal \`idealMakespan(accounts, ${BACKLOG}, ${WINDOW_MS}, ${MEAN_LATENCY_MS})\` = **${fmt(idealMs())} ms**; efficiency = ideal / makespan. ` +
      `Each set runs twice: with a 75 ms safety margin (the default before starts counted from when a request leaves), and with ${MARGINS[1]} ms, the default now; both give zero 429s since starts count from departure; the best a pool can reach with a margin m is ideal / \`idealMakespan(accounts, ${BACKLOG}, ${WINDOW_MS} + m, ${MEAN_LATENCY_MS})\`: ${MARGINS.map((m) => `${(idealMs() / idealMs(m)).toFixed(3)} with ${m} ms`).join(', ')}.`,
    '',
    table(
      ['safety margin (ms)', 'store', 'workers', 'requests', 'failed', 'makespan (ms)', 'efficiency', 'of the best with this margin', 'rate-limit 429s sent'],
      rows.map((r) => [
        String(r.marginMs),
        r.store,
        String(r.workers),
        String(r.requests),
        String(r.failed),
        fmt(r.makespanMs),
        r.efficiency.toFixed(3),
        (idealMs(r.marginMs) / r.makespanMs).toFixed(3),
        String(r.rateLimited),
      ]),
      ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    'A start counts from when its request leaves the process (the store\'s `sent`): the first requests of a cold process reach the server 100-550 ms after their grant (the openai SDK\'s first `fetch`, JIT; several cold processes on 2 busy cores), and counted from the grant they drew 429s, each of which cost its account a pause and one more window at the end. On a shared, busy machine the figures vary by several percent from run to run.',
    '',
  ].join('\n');
}

// The worker entry: node --import tsx bench/redis-limits.ts --worker <json>
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await serveAsWorker(worker);
  if (process.argv[2] === '--one') {
    // One configuration, traced when KIMI_POOL_BENCH_TRACE is set: bench/redis-limits.ts --one redis 1 [margin]
    const redis = await testRedis();
    const row = await run(redis.url, process.argv[3] === 'memory' ? 'memory' : 'redis', Number(process.argv[4] ?? 1), Number(process.argv[5] ?? 75), process.env.KIMI_POOL_BENCH_TRACE);
    await redis.stop();
    console.log(JSON.stringify(row));
  } else {
    // Run alone: npx tsx --conditions=source bench/redis-limits.ts
    console.log(await runRedisLimitsBench((line) => console.error(line)));
  }
}
