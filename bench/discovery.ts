/**
 * Discovery: what plain key strings cost a new user whose accounts are above
 * tier0, and what `discover: true` gives back. Five keys of four accounts on
 * the simulator (two keys share one account), each account RPM-bound at 20
 * per 2 s window with 4 in flight; 160 requests. The same pool with plain key
 * strings (each key its own tier0 account: 3 RPM, 1 in flight) and with
 * `discover: true`, each on a fresh simulator, against the ideal makespan
 * (the accounts' RPM alone: 160 starts at 80 per window end one window plus
 * the margin and a response after the first start).
 * `runDiscoveryBench()` returns the markdown section for bench/RESULTS.md.
 */
import { DEFAULT_SAFETY_MARGIN_MS } from '../src/config.js';
import { KimiPool } from '../src/index.js';
import { startKimiSimulator } from '../src/testing/index.js';
import { fmt, table } from './report.js';

const WINDOW_MS = 2000;
const LATENCY_MS = 50;
const REQUESTS = 160;
const ACCOUNTS = [
  { id: 'a', keys: ['sk-bench-disc-a-0001', 'sk-bench-disc-a-0002'] },
  { id: 'b', keys: ['sk-bench-disc-b-0001'] },
  { id: 'c', keys: ['sk-bench-disc-c-0001'] },
  { id: 'd', keys: ['sk-bench-disc-d-0001'] },
];
const LIMITS = { concurrency: 4, rpm: 20 };

interface Figures {
  readonly ms: number;
  readonly rateLimited: number;
  readonly served: number;
}

async function run(discover: boolean): Promise<Figures> {
  const sim = await startKimiSimulator({ windowMs: WINDOW_MS, latencyMs: LATENCY_MS, accounts: ACCOUNTS.map((a) => ({ ...a, tier: 'tier1' as const, limits: LIMITS })) });
  try {
    const pool = new KimiPool({ keys: ACCOUNTS.flatMap((a) => a.keys).join(','), discover, baseURL: sim.url, windowMs: WINDOW_MS });
    const t0 = performance.now();
    await Promise.all(Array.from({ length: REQUESTS }, (_, i) => pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 8 })));
    const ms = performance.now() - t0;
    await pool.close();
    const s = sim.stats();
    return { ms, rateLimited: s.totals.rateLimited, served: s.totals.served };
  } finally {
    await sim.close();
  }
}

export async function runDiscoveryBench(log: (line: string) => void): Promise<string> {
  const perWindow = ACCOUNTS.length * LIMITS.rpm;
  const windows = Math.ceil(REQUESTS / perWindow) - 1;
  const ideal = windows * (WINDOW_MS + DEFAULT_SAFETY_MARGIN_MS) + LATENCY_MS;
  const rows: string[][] = [];
  for (const [name, discover] of [['plain key strings (tier0 default)', false], ['discover: true', true]] as const) {
    const f = await run(discover);
    log(`discovery: ${name}: ${fmt(f.ms)} ms, ${f.rateLimited} rate-limit 429s`);
    rows.push([name, fmt(f.ms), fmt(ideal / f.ms, 2), String(f.rateLimited), String(f.served)]);
  }
  return [
    '## discovery',
    '',
    `${REQUESTS} requests, 5 plain key strings of ${ACCOUNTS.length} accounts (each ${LIMITS.rpm} RPM per ${WINDOW_MS} ms window, ${LIMITS.concurrency} in flight), simulator latency ${LATENCY_MS} ms. Ideal makespan ${fmt(ideal)} ms (the accounts' RPM, the default safety margin, one response).`,
    '',
    table(['pool', 'makespan ms', 'of ideal', 'rate-limit 429s', 'served'], rows, ['l', 'r', 'r', 'r', 'r']),
    '',
  ].join('\n');
}
