/**
 * Several worker processes, one simulator, one real Redis: the limits hold for
 * their combined traffic, a worker killed with SIGKILL gives its slots back
 * within a lease, and a Redis restart loses nothing.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { KeyConfig } from '../../src/index.js';
import { startKimiSimulator, type KimiSimulator, type SimulatorAccount } from '../../src/testing/index.js';
import { RedisServer, testPrefix, useTestRedis } from '../helpers/redis-server.js';
import { WorkerProcess } from '../helpers/workers.js';
import { expectNoRateLimits, watchStalls } from '../helpers/stalls.js';
import { DEFAULT_SAFETY_MARGIN_MS } from '../../src/config.js';
import type { PoolStats } from '../../src/index.js';
import type { WorkerConfig } from '../helpers/pool-worker.js';

const shared = useTestRedis();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Three accounts, one key each; the pools are told the same limits the simulator enforces. */
function accounts(limits: { rpm: number; concurrency: number }[]): { sim: SimulatorAccount[]; keys: KeyConfig[] } {
  const sim: SimulatorAccount[] = [];
  const keys: KeyConfig[] = [];
  limits.forEach((l, i) => {
    const key = `sk-worker-test-key-${i}-xxxxxxxx`;
    sim.push({ id: `org-${i}`, keys: [key], tier: 'tier1', limits: l });
    keys.push({ key, account: `org-${i}`, tier: 'tier1', rpm: l.rpm, concurrency: l.concurrency });
  });
  return { sim, keys };
}

async function startWorkers(n: number, base: Omit<WorkerConfig, 'name'>): Promise<WorkerProcess[]> {
  const workers = Array.from({ length: n }, (_, i) => new WorkerProcess({ ...base, name: `w${i}` }));
  await Promise.all(workers.map((w) => w.until((x) => x.of('ready').length > 0)));
  return workers;
}

/** Every request settled exactly once, successfully. */
function expectAllSettledOnce(workers: readonly WorkerProcess[], perWorker: number): void {
  for (const w of workers) {
    const settled = w.of('settled');
    const ids = settled.map((l) => l.id);
    expect(new Set(ids).size, `${w.config.name} settled a request twice`).toBe(ids.length);
    expect(ids.length).toBe(perWorker);
    expect(settled.filter((l) => l.ok !== true)).toEqual([]);
  }
}

function served(sim: KimiSimulator): number {
  return sim.stats().totals.served;
}

/** What each worker's pool reported at the end (its 'done' line). */
function poolsOf(workers: readonly WorkerProcess[]): Pick<PoolStats, 'accounts'>[] {
  return workers.map((w) => ({ accounts: (w.of('done')[0]?.accounts ?? []) as PoolStats['accounts'] }));
}

function kill(workers: readonly WorkerProcess[]): void {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
}

describe('several worker processes on one Redis', () => {
  it('4 cold workers, 3 accounts, a backlog: zero 429s, every request once, every worker taking part', async () => {
    // RPM-bound: 12 starts fit in each window, the backlog needs three. Efficiency is a speed
    // figure: bench/ measures it (npm run bench).
    const windowMs = 4000;
    const latency = 30;
    const { sim: simAccounts, keys } = accounts([{ rpm: 3, concurrency: 100 }, { rpm: 4, concurrency: 100 }, { rpm: 5, concurrency: 100 }]);
    const sim = await startKimiSimulator({ windowMs, latencyMs: latency, accounts: simAccounts, recordArrivals: true });
    const perWorker = (12 * 3) / 4;
    let workers: WorkerProcess[] = [];
    try {
      workers = await startWorkers(4, { simUrl: sim.url, redisUrl: shared.url, prefix: testPrefix('eff'), keys, windowMs, leaseMs: 5000, requests: perWorker });
      const stalls = watchStalls();
      for (const w of workers) w.go();
      await Promise.all(workers.map((w) => w.until((x) => x.of('done').length > 0)));
      expectAllSettledOnce(workers, perWorker);
      expectNoRateLimits(sim, stalls(), DEFAULT_SAFETY_MARGIN_MS, poolsOf(workers));
      expect(served(sim)).toBe(4 * perWorker);
      // Every worker took part.
      for (const w of workers) expect((w.of('done')[0]?.started as number[]).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    } finally {
      kill(workers);
      await sim.close();
    }
  }, 40_000);

  it('a worker killed with SIGKILL mid-run: its slots come back within a lease and the others finish', async () => {
    const leaseMs = 1000;
    const latency = 150;
    const { sim: simAccounts, keys } = accounts([{ rpm: 1000, concurrency: 2 }, { rpm: 1000, concurrency: 2 }, { rpm: 1000, concurrency: 2 }]);
    const sim: KimiSimulator = await startKimiSimulator({ windowMs: 1000, latencyMs: latency, accounts: simAccounts });
    const prefix = testPrefix('kill');
    const redis = new Redis(shared.url);
    const perWorker = 30;
    let workers: WorkerProcess[] = [];
    try {
      workers = await startWorkers(4, { simUrl: sim.url, redisUrl: shared.url, prefix, keys, windowMs: 1000, leaseMs, requests: perWorker });
      const [victim, ...others] = workers as [WorkerProcess, ...WorkerProcess[]];
      const victimId = String(victim.of('ready')[0]?.worker);
      const leaseKeys = simAccounts.map((a) => `${prefix}{${a.id}}:l`);
      /** Expiries (server ms) of the victim's leases. */
      const victimLeases = async (): Promise<number[]> => {
        const out: number[] = [];
        for (const k of leaseKeys) {
          const flat = await redis.zrange(k, 0, -1, 'WITHSCORES');
          for (let i = 0; i < flat.length; i += 2) if (flat[i]!.startsWith(`${victimId}:`)) out.push(Number(flat[i + 1]));
        }
        return out;
      };
      const serverNow = async (): Promise<number> => {
        const [s, us] = await redis.time();
        return Number(s) * 1000 + Number(us) / 1000;
      };
      const stalls = watchStalls();
      for (const w of workers) w.go();
      // Kill it while it holds slots: freeze it first (SIGSTOP), so that it cannot release them
      // between our look and the kill, however busy the machine; thaw and look again if it held none.
      await victim.until((w) => w.of('settled').length >= 3);
      victim.child.kill('SIGSTOP');
      let held = (await victimLeases()).length;
      while (held === 0) {
        victim.child.kill('SIGCONT');
        await sleep(5);
        victim.child.kill('SIGSTOP');
        held = (await victimLeases()).length;
      }
      victim.child.kill('SIGKILL');
      await victim.exited;
      const killedAt = await serverNow();
      // Nobody renews them now: every one ends within a lease of the kill.
      const expiries = await victimLeases();
      expect(expiries.length).toBeGreaterThan(0);
      expect(Math.max(...expiries, -Infinity)).toBeLessThanOrEqual(killedAt + leaseMs);
      const freedAfter = Math.max(...expiries, killedAt) - killedAt;
      // With the backlog left, the survivors fill all 6 slots once those leases ended.
      let most = 0;
      while (others.some((w) => w.of('done').length === 0) && most < 6) {
        const s = sim.stats();
        most = Math.max(most, Object.values(s.accounts).reduce((sum, a) => sum + a.inFlight, 0));
        await sleep(10);
      }
      console.log(`killed worker held ${held} slots; its leases ended ${freedAfter.toFixed(0)} ms after the kill (lease ${leaseMs} ms)`);
      expect(most).toBe(6);
      await Promise.all(others.map((w) => w.until((x) => x.of('done').length > 0)));
      expectAllSettledOnce(others, perWorker);
      expectNoRateLimits(sim, stalls(), DEFAULT_SAFETY_MARGIN_MS, poolsOf(workers));
    } finally {
      kill(workers);
      redis.disconnect();
      await sim.close();
    }
  }, 40_000);

  it('Redis restarted mid-run (state lost): requests wait, nothing is lost or sent twice, zero 429s', async () => {
    const server = await RedisServer.start();
    const windowMs = 1000;
    const { sim: simAccounts, keys } = accounts([{ rpm: 10, concurrency: 20 }, { rpm: 10, concurrency: 20 }, { rpm: 10, concurrency: 20 }]);
    const sim = await startKimiSimulator({ windowMs, latencyMs: 30, accounts: simAccounts, recordArrivals: true });
    const perWorker = 40;
    let workers: WorkerProcess[] = [];
    try {
      workers = await startWorkers(3, { simUrl: sim.url, redisUrl: server.url, prefix: testPrefix('restart'), keys, windowMs, leaseMs: 2000, requests: perWorker });
      const stalls = watchStalls();
      for (const w of workers) w.go();
      await Promise.all(workers.map((w) => w.until((x) => x.of('settled').length >= 5)));
      await server.kill();
      await sleep(100);
      // Nothing starts while Redis is down.
      const arrived = sim.stats().log?.length;
      await sleep(600);
      expect(sim.stats().log?.length).toBe(arrived);
      await server.start();
      await Promise.all(workers.map((w) => w.until((x) => x.of('done').length > 0)));
      expectAllSettledOnce(workers, perWorker);
      const warnings = workers.flatMap((w) => w.of('warning').map((l) => l.code));
      expect(warnings).toContain('store_unavailable');
      expect(warnings).toContain('store_state_lost');
      expectNoRateLimits(sim, stalls(), DEFAULT_SAFETY_MARGIN_MS, poolsOf(workers));
      expect(served(sim)).toBe(3 * perWorker);
    } finally {
      kill(workers);
      await sim.close();
      await server.kill();
    }
  }, 40_000);
});
