/**
 * `npm run bench` runs every part and writes bench/RESULTS.md;
 * `npm run bench -- throughput` (or `overhead`, `profile`, `redis`, `redis-limits`, several) runs those
 * only and keeps the other sections of the last run. Figures only: nothing
 * here fails on a target.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBatchMemory } from './batch-memory.js';
import { runOverhead } from './overhead.js';
import { runProfile } from './profile.js';
import { runRedisBench } from './redis.js';
import { runRedisLimitsBench } from './redis-limits.js';
import { machineSection, writeResults } from './report.js';
import { runThroughput } from './throughput.js';
import { runDiscoveryBench } from './discovery.js';

const PARTS = {
  throughput: runThroughput,
  overhead: runOverhead,
  profile: runProfile,
  redis: runRedisBench,
  'redis-limits': runRedisLimitsBench,
  'batch-memory': runBatchMemory,
  discovery: runDiscoveryBench,
} as const;
type Part = keyof typeof PARTS;

const ORDER = ['machine', 'throughput', 'overhead', 'profile', 'redis', 'redis-limits', 'batch-memory', 'discovery'] as const;
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'RESULTS.md');

function parseParts(args: readonly string[]): Part[] {
  if (args.length === 0) return Object.keys(PARTS) as Part[];
  for (const a of args) {
    if (!(a in PARTS)) {
      console.error(`Unknown part "${a}": expected any of ${Object.keys(PARTS).join(', ')} (none = all)`);
      process.exit(2);
    }
  }
  return [...new Set(args)] as Part[];
}

const parts = parseParts(process.argv.slice(2));
const started = performance.now();
const log = (line: string): void => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`);
const fresh = new Map<string, string>();
for (const part of parts) {
  const partStarted = new Date();
  let body: string;
  try {
    body = await PARTS[part](log);
  } catch (error) {
    // One part that cannot run here (e.g. no redis-server) does not void the others.
    log(`${part}: not run: ${error instanceof Error ? error.message : String(error)}`);
    body = `## ${part}\n\nNot run on this machine: ${error instanceof Error ? error.message : String(error)}\n`;
    process.exitCode = 1;
  }
  fresh.set(part, `${body}\n_Measured ${partStarted.toISOString()} on Node ${process.version}._\n`);
  // Machine, Node version and date of the latest run, whichever parts it ran.
  fresh.set('machine', `## Machine\n\n${machineSection()}\n\nLast run: \`npm run bench${process.argv.length > 2 ? ` -- ${parts.join(' ')}` : ''}\`, ${((performance.now() - started) / 1000).toFixed(0)} s.\n`);
  writeResults(RESULTS, ORDER, fresh);
}
log(`wrote ${RESULTS}`);
