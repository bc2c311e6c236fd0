/**
 * `npm run demo`: `kimi-pool batch` on examples/requests.jsonl (200 requests
 * in the three line formats it reads), with live progress and the summary.
 *
 * Without KIMI_API_KEYS it runs on the embedded Kimi simulator: five free-tier
 * keys (tier0: 3 RPM, 1 in flight each) and a tier1 account of two keys
 * (100 RPM, 15 in flight), with a 5-second "minute" so it ends in seconds.
 * With KIMI_API_KEYS (and optionally KIMI_TIER, KIMI_BASE_URL, KIMI_MODEL,
 * DEMO_REQUESTS, default 20) it sends the first requests to the real API.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKimiSimulator, type KimiSimulator } from 'kimi-pool/testing';

const root = fileURLToPath(new URL('..', import.meta.url));
const sample = join(root, 'examples/requests.jsonl');
const dir = mkdtempSync(join(tmpdir(), 'kimi-pool-demo-'));
const output = join(dir, 'answers.jsonl');

/** The simulator and a pool config that tells the pool the same accounts. */
async function simulated(): Promise<{ sim: KimiSimulator; args: string[] }> {
  const windowMs = 5_000;
  const team = { rpm: 100, concurrency: 15 }; // tier1 in the later 2026 revision
  const free = Array.from({ length: 5 }, (_, i) => ({ id: `free-${i + 1}`, key: `sk-demo-free-${i + 1}-0000000000` }));
  const teamKeys = ['sk-demo-team-a-0000000000', 'sk-demo-team-b-0000000000'];
  const sim = await startKimiSimulator({
    windowMs,
    latencyMs: [200, 400],
    accounts: [
      ...free.map((f) => ({ id: f.id, keys: [f.key], tier: 'tier0' as const })),
      { id: 'team', keys: teamKeys, tier: 'tier1', limits: team },
    ],
  });
  const config = join(dir, 'pool.json');
  writeFileSync(
    config,
    JSON.stringify({
      windowMs,
      keys: [
        ...free.map((f) => ({ key: f.key, id: f.id, account: f.id, tier: 'tier0' })),
        ...teamKeys.map((key, i) => ({ key, id: `team-${'ab'[i]}`, account: 'team', tier: 'tier1', ...team })),
      ],
    }),
  );
  console.log(`kimi-pool demo on the embedded Kimi simulator (${sim.url}), a "minute" of ${windowMs / 1000} s: 7 keys in 6 accounts\n`);
  return { sim, args: [sample, '--config', config, '--base-url', sim.url] };
}

/** The first DEMO_REQUESTS lines of the sample, against the real API. */
function real(): string[] {
  const n = Number(process.env.DEMO_REQUESTS ?? 20);
  const model = process.env.KIMI_MODEL;
  const lines = readFileSync(sample, 'utf8').split('\n').filter(Boolean).slice(0, n).map((line) => {
    if (model === undefined) return line;
    const r = JSON.parse(line) as { body?: { model: string }; model?: string };
    if (r.body !== undefined) r.body.model = model;
    else r.model = model;
    return JSON.stringify(r);
  });
  const input = join(dir, 'requests.jsonl');
  writeFileSync(input, `${lines.join('\n')}\n`);
  const config = join(dir, 'pool.json');
  writeFileSync(config, JSON.stringify({ tier: process.env.KIMI_TIER ?? 'tier0' }));
  console.log(`kimi-pool demo against the real Kimi API: ${lines.length} requests\n`);
  return [input, '--config', config, ...(process.env.KIMI_BASE_URL ? ['--base-url', process.env.KIMI_BASE_URL] : [])];
}

const setup = process.env.KIMI_API_KEYS?.trim() ? { sim: undefined, args: real() } : await simulated();
const args = ['--import', 'tsx', '--conditions=source', join(root, 'src/cli.ts'), 'batch', ...setup.args, '--output', output];
// Ctrl+C reaches the batch too (same process group): it drains and exits 130; we wait for it.
const ignore = (): void => {};
process.on('SIGINT', ignore);
const child = spawn(process.execPath, args, { stdio: 'inherit', cwd: root });
const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
process.off('SIGINT', ignore);
if (setup.sim !== undefined) {
  console.log(`the simulator answered ${setup.sim.stats().totals.rateLimited} rate-limit 429s and served ${setup.sim.stats().totals.served} requests`);
  await setup.sim.close();
  if (code === 130) console.log('(the demo\'s simulator is gone with it: to see a resume, run kimi-pool batch against `npx kimi-pool simulate`)');
}
process.exitCode = code;
