/**
 * Zero 429s outside the lab: each pool runs in a process of its own, cold (no
 * warm-up: its first requests pay for the SDK's first run and new
 * connections), against the simulator over real HTTP, with what lies between a
 * client and Kimi's limiter simulated: a delay before the server counts a
 * request (fixed, random, longer on a new connection) and a busy event loop.
 * Behaviour only: counts of 429s and settlements, never times.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SAFETY_MARGIN_MS } from '../../src/config.js';
import type { KeyConfig } from '../../src/index.js';
import { startKimiSimulator, type KimiSimulator, type KimiSimulatorOptions, type SimulatorAccount } from '../../src/testing/index.js';
import { testPrefix, testRedis } from '../helpers/redis-server.js';
import { WorkerProcess } from '../helpers/workers.js';
import type { WorkerConfig } from '../helpers/pool-worker.js';

const WINDOW_MS = 2000;

/** Four accounts: two free-tier ones (3 RPM, 1 in flight), one with two keys, one wider. */
const ACCOUNTS: { id: string; keys: string[]; rpm: number; concurrency: number }[] = [
  { id: 'org-free-1', keys: ['sk-cold-free-one-0001'], rpm: 3, concurrency: 1 },
  { id: 'org-free-2', keys: ['sk-cold-free-two-0002'], rpm: 3, concurrency: 1 },
  { id: 'org-duo', keys: ['sk-cold-duo-key-0003', 'sk-cold-duo-key-0004'], rpm: 6, concurrency: 1 },
  { id: 'org-wide', keys: ['sk-cold-wide-key-0005'], rpm: 10, concurrency: 3 },
];
const PER_WINDOW = ACCOUNTS.reduce((n, a) => n + a.rpm, 0);

function simAccounts(): SimulatorAccount[] {
  return ACCOUNTS.map((a) => ({ id: a.id, keys: a.keys, tier: 'tier1', limits: { rpm: a.rpm, concurrency: a.concurrency } }));
}

function keys(): KeyConfig[] {
  return ACCOUNTS.flatMap((a) => a.keys.map((key) => ({ key, account: a.id, tier: 'tier1' as const, rpm: a.rpm, concurrency: a.concurrency })));
}

interface Run {
  readonly sim: KimiSimulator;
  readonly workers: WorkerProcess[];
  /**
   * The longest the simulator's process could not run (ms, its event loop's
   * worst delay): a request read that much late counts that much late. On a
   * busy machine this, not the configured delay, can exceed the margin.
   */
  readonly simStallMs: number;
}

/** Starts `n` cold pool processes on one simulator, lets them run `windows` windows of backlog, waits for all. */
async function run(sim: Partial<KimiSimulatorOptions>, worker: Partial<WorkerConfig>, windows: number, n = 1): Promise<Run> {
  const simulator = await startKimiSimulator({ windowMs: WINDOW_MS, latencyMs: [20, 60], accounts: simAccounts(), ...sim });
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const total = PER_WINDOW * windows;
  const workers = Array.from({ length: n }, (_, i) => new WorkerProcess({
    name: `w${i}`, simUrl: simulator.url, keys: keys(), windowMs: WINDOW_MS,
    requests: Math.floor(total / n) + (i < total % n ? 1 : 0), ...worker,
  }));
  try {
    await Promise.all(workers.map((w) => w.until((x) => x.of('ready').length > 0, 60_000)));
    for (const w of workers) w.go();
    await Promise.all(workers.map((w) => w.until((x) => x.of('done').length > 0, 120_000)));
  } catch (error) {
    for (const w of workers) w.child.kill('SIGKILL');
    await simulator.close();
    throw error;
  } finally {
    loop.disable();
  }
  return { sim: simulator, workers, simStallMs: loop.max / 1e6 };
}

/** The longest a request could reach the limiter after it was sent: what the simulator adds, plus its own stalls. */
function worstLagMs(sim: Partial<KimiSimulatorOptions>, r: Run): number {
  const a = sim.arrivalDelayMs;
  const arrival = a === undefined ? 0 : typeof a === 'number' ? a : a[1];
  return arrival + (sim.newConnectionDelayMs ?? 0) + r.simStallMs;
}

interface DoneAccount {
  readonly id: string;
  readonly safetyMarginMs: number;
  readonly unpredicted429s: number;
}

/**
 * Beyond the margin, 429s may come, and each teaches: it was unpredicted (the
 * limits were right), and its account's margin is wider than it started.
 */
function expectLearned(r: Run, baseMarginMs: number): void {
  const limited = rateLimitedByAccount(r.sim);
  const done = r.workers.flatMap((w) => w.of('done')[0]?.accounts as DoneAccount[]);
  for (const a of ACCOUNTS) {
    const mine = done.filter((d) => d.id === a.id);
    expect(mine.reduce((n, d) => n + d.unpredicted429s, 0), a.id).toBe(limited[a.id] ?? 0);
    for (const d of mine) if (d.unpredicted429s > 0) expect(d.safetyMarginMs, a.id).toBeGreaterThan(baseMarginMs);
  }
}

/** Every request settled once, with its own answer; the simulator served each exactly once. */
function expectEverythingOnce({ sim, workers }: Run): void {
  let total = 0;
  for (const w of workers) {
    const settled = w.of('settled');
    const ids = settled.map((l) => l.id);
    expect(new Set(ids).size, `${w.config.name} settled a request twice`).toBe(ids.length);
    expect(ids.length).toBe(w.config.requests);
    expect(settled.filter((l) => l.ok !== true || l.reply !== `echo: ${String(l.id)}`)).toEqual([]);
    total += ids.length;
  }
  expect(sim.stats().totals.served).toBe(total);
}

/** Rate-limit 429s (concurrency, RPM, TPM, TPD) the simulator sent, per account. */
function rateLimitedByAccount(sim: KimiSimulator): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, a] of Object.entries(sim.stats().accounts)) out[id] = a.refused.concurrency + a.refused.rpm + a.refused.tpm + a.refused.tpd;
  return out;
}

const NONE = Object.fromEntries(ACCOUNTS.map((a) => [a.id, 0]));

describe('cold pool processes, default safety margin: zero rate-limit 429s', () => {
  // [what lies between the client and the limiter, simulator options, worker options]
  const cases: [string, Partial<KimiSimulatorOptions>, Partial<WorkerConfig>][] = [
    ['cold start, nothing else', {}, {}],
    ['150 ms more before counting the first request of each new connection', { newConnectionDelayMs: 150 }, {}],
    ['0-100 ms random delay before counting each request', { arrivalDelayMs: [0, 100] }, {}],
    ['the client process stalls its event loop 150 ms every second', { arrivalDelayMs: [0, 30] }, { stall: { everyMs: 1000, forMs: 150 } }],
  ];
  it.each(cases)('%s', async (_name, simOptions, workerOptions) => {
    const r = await run(simOptions, workerOptions, 3);
    try {
      expectEverythingOnce(r);
      if (worstLagMs(simOptions, r) <= DEFAULT_SAFETY_MARGIN_MS) {
        expect(rateLimitedByAccount(r.sim)).toEqual(NONE);
        const done = r.workers[0]?.of('done')[0]?.accounts as DoneAccount[];
        expect(done.map((a) => a.unpredicted429s)).toEqual(ACCOUNTS.map(() => 0));
      } else {
        // The machine was too busy for the simulator to count within the margin: no zero to promise.
        console.warn(`cold-timing: the simulator stalled ${r.simStallMs.toFixed(0)} ms; checking what the pool learned instead of zero 429s`);
        expectLearned(r, DEFAULT_SAFETY_MARGIN_MS);
      }
    } finally {
      await r.sim.close();
    }
  }, 120_000);
});

describe('a delay beyond the margin: the pool learns a wider one', () => {
  it('at most one rate-limit 429 per request in flight on the account, then none: the margin widened', async () => {
    // 20 ms of margin against 200 ms more on each new connection: the first request of each
    // connection is counted 200 ms late, so the start a window plus 20 ms after it collides
    // with it over there. The widened margin (220 ms or more) covers it from then on.
    const simOptions = { newConnectionDelayMs: 200 };
    const r = await run(simOptions, { safetyMarginMs: 20 }, 4);
    try {
      expectEverythingOnce(r);
      expectLearned(r, 20);
      const limited = rateLimitedByAccount(r.sim);
      // The case happened: without it this test would prove nothing.
      expect(Object.values(limited).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      // Past the widened margin (a busy machine), further 429s may come: each widens it again.
      if (worstLagMs(simOptions, r) > 220) return;
      const done = r.workers[0]?.of('done')[0]?.accounts as DoneAccount[];
      for (const a of ACCOUNTS) {
        const got = limited[a.id] ?? 0;
        const learned = done.find((d) => d.id === a.id);
        // Requests already in flight when the first 429 came back were sent under the same margin.
        expect(got, a.id).toBeLessThanOrEqual(a.concurrency);
        expect(learned?.unpredicted429s, a.id).toBe(got);
        if (got > 0) expect(learned?.safetyMarginMs, a.id).toBeGreaterThanOrEqual(220);
      }
      const margins = r.workers[0]?.of('margin') ?? [];
      expect(margins.every((m) => m.reason === 'widened')).toBe(true);
      expect(new Set(margins.map((m) => m.account)).size).toBe(margins.length);
    } finally {
      await r.sim.close();
    }
  }, 120_000);
});

describe('three cold worker processes on one Redis store', () => {
  let url = '';
  let stop: () => Promise<void> = async () => undefined;
  beforeAll(async () => {
    ({ url, stop } = await testRedis());
  });
  afterAll(async () => {
    await stop();
  });

  it('0-50 ms delays and 100 ms on new connections: zero rate-limit 429s, every request once', async () => {
    const simOptions: Partial<KimiSimulatorOptions> = { arrivalDelayMs: [0, 50], newConnectionDelayMs: 100 };
    const r = await run(simOptions, { redisUrl: url, prefix: testPrefix('cold'), leaseMs: 5000 }, 3, 3);
    try {
      expectEverythingOnce(r);
      if (worstLagMs(simOptions, r) <= DEFAULT_SAFETY_MARGIN_MS) expect(rateLimitedByAccount(r.sim)).toEqual(NONE);
      else expectLearned(r, DEFAULT_SAFETY_MARGIN_MS);
    } finally {
      await r.sim.close();
    }
  }, 120_000);
});
