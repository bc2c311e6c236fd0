/**
 * The Redis store: what one decision costs and how far several processes go.
 *
 * 1. decisions: 1, 2 and 4 RedisStore instances (one connection each) in this
 *    process, each running acquire + release back to back on one account for
 *    a fixed time: round trip per decision and decisions per second in all.
 * 2. pools: 1, 2 and 4 worker processes (`node --import tsx bench/redis.ts
 *    --worker ...`), each a KimiPool on the Redis store running no-op tasks
 *    (`pool.schedule`) on three unlimited accounts, against the same pool on
 *    the memory store: tasks per second in all, time per task in a worker,
 *    and the store's share (acquire round trip, p50/p99).
 *
 * Needs a redis-server: KIMI_POOL_REDIS_URL, else one is started on a free port.
 * `runRedisBench()` returns the markdown section for bench/RESULTS.md.
 */
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { systemClock } from '../src/clock.js';
import { KimiPool, type LimitStore } from '../src/index.js';
import { redisStore } from '../src/redis/index.js';
import { testRedis } from '../test/helpers/redis-server.js';
import { serveAsWorker, spawnChild } from './child.js';
import { fmt, table } from './report.js';

const WORKERS = [1, 2, 4] as const;
const DECISION_MS = 2000;
const TASKS_PER_WORKER = 4000;
const UNLIMITED = { concurrency: Infinity, rpm: Infinity, tpm: Infinity, tpd: Infinity };

/** Figures of one row of the pools table. */
export interface PoolFigures {
  readonly store: 'memory' | 'redis';
  readonly workers: number;
  readonly tasks: number;
  /** First start to last end over all workers, ms. */
  readonly wallMs: number;
  readonly tasksPerSec: number;
  /** Mean time per task inside one worker (its wall / its tasks), µs. */
  readonly usPerTask: number;
  /** The store's acquire round trip, µs (redis only). */
  readonly acquireP50Us: number | null;
  readonly acquireP99Us: number | null;
}

export interface DecisionFigures {
  readonly stores: number;
  readonly decisions: number;
  readonly decisionsPerSec: number;
  /** Mean acquire + release round trip of one store, µs. */
  readonly usPerDecision: number;
}

export interface RedisBenchResult {
  readonly decisions: readonly DecisionFigures[];
  readonly pools: readonly PoolFigures[];
}

const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

// ---------------------------------------------------------------- decisions

async function decisions(url: string, n: number): Promise<DecisionFigures> {
  const prefix = `kp-bench:${Math.random().toString(36).slice(2)}:`;
  const stores = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = redisStore({ url, prefix, subscribe: false });
      await s.init({ accounts: [{ id: 'a', limits: UNLIMITED }], windowMs: 60_000, safetyMarginMs: 75, clock: systemClock });
      return s;
    }),
  );
  let lease = 0;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    stores.map(async (s) => {
      while (performance.now() - t0 < DECISION_MS) {
        const l = ++lease;
        await s.acquire('a', 100, l);
        await s.release('a', l);
        done++;
      }
    }),
  );
  const ms = performance.now() - t0;
  for (const s of stores) await s.close();
  return { stores: n, decisions: done, decisionsPerSec: (done / ms) * 1000, usPerDecision: (ms * 1000 * n) / done };
}

// ---------------------------------------------------------------- pools (worker side)

interface WorkerArgs {
  readonly store: 'memory' | 'redis';
  readonly url: string;
  readonly prefix: string;
  readonly tasks: number;
}

interface WorkerReport {
  readonly start: number;
  readonly end: number;
  readonly acquireUs: readonly number[];
}

async function worker(args: WorkerArgs): Promise<WorkerReport> {
  const acquireUs: number[] = [];
  let store: LimitStore | undefined;
  if (args.store === 'redis') {
    const s = redisStore({ url: args.url, prefix: args.prefix });
    const acquire = s.acquire.bind(s);
    s.acquire = async (account, tokens, lease) => {
      const t = performance.now();
      const answer = await acquire(account, tokens, lease);
      acquireUs.push((performance.now() - t) * 1000);
      return answer;
    };
    store = s;
  }
  const pool = new KimiPool({
    keys: ['a', 'b', 'c'].map((id) => ({ key: `sk-bench-redis-${id}-000`, account: id, ...UNLIMITED })),
    ...(store !== undefined ? { store } : {}),
  });
  const run = async (n: number): Promise<void> => {
    await Promise.all(Array.from({ length: n }, () => pool.schedule(() => undefined, { tokens: 100 })));
  };
  await run(500);
  acquireUs.length = 0;
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));
  const start = performance.timeOrigin + performance.now();
  await run(args.tasks);
  const end = performance.timeOrigin + performance.now();
  await pool.close();
  return { start, end, acquireUs };
}

// ---------------------------------------------------------------- pools (parent side)

const HERE = fileURLToPath(import.meta.url);

async function pools(url: string, store: 'memory' | 'redis', n: number): Promise<PoolFigures> {
  const prefix = `kp-bench:${Math.random().toString(36).slice(2)}:`;
  const children = Array.from({ length: n }, () => spawnChild(HERE, ['--worker', JSON.stringify({ store, url, prefix, tasks: TASKS_PER_WORKER } satisfies WorkerArgs)]));
  for (const c of children) if ((await c.next()) !== 'ready') throw new Error('bench worker did not get ready');
  for (const c of children) c.send('go');
  const reports = await Promise.all(children.map(async (c) => JSON.parse(await c.next()) as WorkerReport));
  const start = Math.min(...reports.map((r) => r.start));
  const end = Math.max(...reports.map((r) => r.end));
  const tasks = n * TASKS_PER_WORKER;
  const lat = reports.flatMap((r) => r.acquireUs).sort((a, b) => a - b);
  const perWorkerUs = reports.reduce((s, r) => s + ((r.end - r.start) * 1000) / TASKS_PER_WORKER, 0) / n;
  return {
    store,
    workers: n,
    tasks,
    wallMs: end - start,
    tasksPerSec: (tasks / (end - start)) * 1000,
    usPerTask: perWorkerUs,
    acquireP50Us: lat.length > 0 ? quantile(lat, 0.5) : null,
    acquireP99Us: lat.length > 0 ? quantile(lat, 0.99) : null,
  };
}

/** Runs both parts and returns the figures. */
export async function measureRedis(log: (line: string) => void = () => undefined): Promise<RedisBenchResult> {
  const redis = await testRedis();
  try {
    const d: DecisionFigures[] = [];
    for (const n of WORKERS) {
      log(`redis: decisions, ${n} store(s)`);
      d.push(await decisions(redis.url, n));
    }
    const p: PoolFigures[] = [];
    log('redis: pools, memory store, 1 worker');
    p.push(await pools(redis.url, 'memory', 1));
    for (const n of WORKERS) {
      log(`redis: pools, redis store, ${n} worker(s)`);
      p.push(await pools(redis.url, 'redis', n));
    }
    return { decisions: d, pools: p };
  } finally {
    await redis.stop();
  }
}

/** The bench/RESULTS.md section (a `PARTS` entry of bench/run.ts). */
export async function runRedisBench(log: (line: string) => void = () => undefined): Promise<string> {
  const r = await measureRedis(log);
  const memory = r.pools.find((p) => p.store === 'memory');
  const us = (n: number | null): string => (n === null ? '–' : fmt(n));
  return [
    '## Redis store',
    '',
    `Decisions: 1, 2 and 4 \`RedisStore\`s (one connection each) in one process, each running \`acquire\` + \`release\` back to back on one unlimited account for ${DECISION_MS / 1000} s, on a local redis-server.`,
    '',
    table(
      ['stores', 'decisions', 'decisions/s (all)', 'µs per acquire + release (one store)'],
      r.decisions.map((x) => [String(x.stores), fmt(x.decisions), fmt(x.decisionsPerSec), fmt(x.usPerDecision)]),
      ['r', 'r', 'r', 'r'],
    ),
    '',
    `Pools: 1, 2 and 4 worker processes, each a \`KimiPool\` on the Redis store running ${fmt(TASKS_PER_WORKER)} no-op \`schedule()\` tasks (100 tokens) on three unlimited accounts (after a warm-up of 500), started together; the memory store in one process for reference. ` +
      'One acquire is in flight per account at a time (accounts are asked at once), so a worker runs at most one task per store round trip on each account; workers add up until Redis saturates. On a shared, busy machine these figures vary by 2x from run to run.',
    '',
    table(
      ['store', 'workers', 'tasks', 'wall ms', 'tasks/s (all)', 'µs per task in a worker', 'overhead vs memory, µs/task', 'acquire p50 µs', 'acquire p99 µs'],
      r.pools.map((x) => [
        x.store,
        String(x.workers),
        fmt(x.tasks),
        fmt(x.wallMs),
        fmt(x.tasksPerSec),
        fmt(x.usPerTask),
        x.store === 'memory' || memory === undefined ? '–' : fmt(x.usPerTask - memory.usPerTask),
        us(x.acquireP50Us),
        us(x.acquireP99Us),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  ].join('\n');
}

// The worker entry (node --import tsx bench/redis.ts --worker <json>), or run alone: npx tsx --conditions=source bench/redis.ts
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await serveAsWorker(worker);
  console.log(await runRedisBench((line) => console.error(line)));
}
