/**
 * Scheduler overhead, in process: each contender queues `n` no-op tasks at once
 * on unlimited keys, and we measure CPU per request, requests per second
 * (first submit to last settle) and heap bytes per queued request.
 *
 * Every (contender, keys, n) runs in its own child process
 * (`node --expose-gc --import tsx bench/overhead.ts --child ...`), so one run's
 * heap and JIT state never leak into the next and `global.gc` is available.
 * In the child: a warm-up, timed passes (median), then the two heap passes.
 */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bottleneckOverhead } from './contenders/bottleneck.js';
import type { OverheadContender, OverheadRunner } from './contenders/contender.js';
import { floorOverhead } from './contenders/floor.js';
import { kimiPoolFiniteOverhead, kimiPoolOverhead } from './contenders/kimi-pool.js';
import { pQueueOverhead } from './contenders/p-queue.js';
import { fmt, table } from './report.js';

export const SIZES = [1_000, 10_000, 100_000, 1_000_000] as const;
export const KEY_COUNTS = [10, 1_000] as const;
/** A run (one timed pass) projected to take longer than this is not run. */
const BUDGET_MS = 20_000;
const CHILD_TIMEOUT_MS = 180_000;

export const CONTENDERS: Readonly<Record<string, OverheadContender>> = {
  floor: floorOverhead,
  'kimi-pool': kimiPoolOverhead,
  'kimi-pool-finite': kimiPoolFiniteOverhead,
  'p-queue': pQueueOverhead,
  bottleneck: bottleneckOverhead,
};

/** What a child reports. */
export interface OverheadFigures {
  /** CPU (user + system, all threads) per request, µs; median of the timed passes. */
  readonly cpuUs: number;
  /** Requests per second, first submit to last settle; median. */
  readonly rps: number;
  /** Wall time of one timed pass, ms (median). */
  readonly wallMs: number;
  /** Heap growth per request with all `n` submitted and started, none settled (after a full GC), bytes. */
  readonly heapBytes: number | null;
  /** The same with all `n` waiting in the queue (`hold` mode: nothing may start), bytes. */
  readonly heldBytes: number | null;
  readonly passes: number;
}

export type OverheadRow = { readonly contender: string; readonly keys: number | null; readonly n: number } & (
  | { readonly status: 'ok'; readonly figures: OverheadFigures }
  | { readonly status: 'skipped'; readonly reason: string }
);

// ---------------------------------------------------------------- child side

const task = (): undefined => undefined;

/** Queues `n` tasks (synchronously) and returns a promise of all settled. */
function batch(runner: OverheadRunner, n: number): Promise<void> {
  return new Promise<void>((resolveAll) => {
    let left = n;
    const done = (): void => {
      if (--left === 0) resolveAll();
    };
    for (let i = 0; i < n; i++) runner.submit(task).then(done, done);
  });
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Timed passes: more of them for small `n`, where one pass is a few ms. */
function passesFor(n: number): number {
  return n <= 1_000 ? 25 : n <= 10_000 ? 7 : n <= 100_000 ? 3 : 1;
}

async function child(name: string, keys: number, n: number, heap: boolean): Promise<OverheadFigures> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run the overhead child with node --expose-gc');
  const contender = CONTENDERS[name];
  if (contender === undefined) throw new Error(`unknown contender ${name}`);
  const runner = contender.create(keys, 'run');
  // Warm-up: let the JIT see the hot path before anything is timed (at most ~2 s of it).
  const warmUntil = performance.now() + 2_000;
  for (let i = 0; i < 5 && performance.now() < warmUntil; i++) await batch(runner, Math.min(n, 10_000));
  const cpu: number[] = [];
  const rps: number[] = [];
  const wall: number[] = [];
  // Several passes for small n, where one is a few ms; stop early once ~3 s were timed.
  const profiler = process.env.BENCH_CPU_PROFILE === undefined ? undefined : await startProfiler();
  let timed = 0;
  const passes = passesFor(n);
  for (let p = 0; p < passes && timed < 3_000; p++) {
    gc();
    const c0 = cpuMicros();
    const t0 = performance.now();
    await batch(runner, n);
    const t1 = performance.now();
    cpu.push((cpuMicros() - c0) / n);
    wall.push(t1 - t0);
    timed += t1 - t0;
    rps.push(n / ((t1 - t0) / 1000));
  }
  if (profiler !== undefined) await profiler.stop(process.env.BENCH_CPU_PROFILE as string);
  let heapBytes: number | null = null;
  let heldBytes: number | null = null;
  if (heap) {
    // Small batches move the heap by little more than its own noise: median of three there.
    const heapPasses = n <= 10_000 ? 3 : 1;
    const started: number[] = [];
    for (let i = 0; i < heapPasses; i++) started.push(await heapPerRequest(runner, n, gc, true));
    heapBytes = median(started);
    await runner.close();
    // Last: these requests never settle (the process exits after reporting).
    const held = contender.create(keys, 'hold');
    const waiting: number[] = [];
    for (let i = 0; i < heapPasses; i++) waiting.push(await heapPerRequest(held, n, gc, false));
    heldBytes = median(waiting);
  } else {
    await runner.close();
  }
  return { cpuUs: median(cpu), rps: median(rps), wallMs: median(wall), heapBytes, heldBytes, passes: cpu.length };
}

/** Profiles the timed passes only (not start-up or warm-up), via the inspector. */
async function startProfiler(): Promise<{ stop(path: string): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return {
    async stop(path) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(path, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/** Heap growth per request right after `n` were submitted (the submit loop is synchronous, so none has settled). */
async function heapPerRequest(runner: OverheadRunner, n: number, gc: () => void, settle: boolean): Promise<number> {
  gc();
  const h0 = process.memoryUsage().heapUsed;
  const settled = batch(runner, n);
  gc();
  const bytes = (process.memoryUsage().heapUsed - h0) / n;
  if (settle) await settled;
  return bytes;
}

// --------------------------------------------------------------- parent side

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');

/** Runs one child process and parses its figures. */
export function runChild(name: string, keys: number, n: number, options: { heap?: boolean; env?: Record<string, string> } = {}): Promise<OverheadFigures> {
  const heap = options.heap ?? true;
  const args = [
    '--expose-gc',
    '--max-old-space-size=8192',
    '--import',
    'tsx',
    fileURLToPath(import.meta.url),
    '--child',
    name,
    String(keys),
    String(n),
    heap ? 'heap' : 'no-heap',
  ];
  return new Promise((resolveChild, reject) => {
    const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    proc.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`overhead child ${name} ${keys} ${n} exited with ${String(code)}: ${err.trim().slice(-500)}`));
        return;
      }
      resolveChild(JSON.parse(line) as OverheadFigures);
    });
  });
}

function ratio(x: number | null, floor: number | null | undefined): string {
  if (x === null || floor === null || floor === undefined || floor <= 0) return '';
  return ` (${(x / floor).toFixed(1)}×)`;
}

/** Runs every contender at every size; returns the rows. */
export async function measureOverhead(log: (line: string) => void): Promise<OverheadRow[]> {
  const rows: OverheadRow[] = [];
  for (const [name, contender] of Object.entries(CONTENDERS)) {
    // The floor has no keys: it runs once per size.
    const keyCounts: readonly (number | null)[] = contender === floorOverhead ? [null] : KEY_COUNTS;
    for (const keys of keyCounts) {
      let last: { n: number; wallMs: number } | undefined;
      for (const n of SIZES) {
        const projected = last === undefined ? 0 : (last.wallMs * n) / last.n;
        if (projected > BUDGET_MS) {
          rows.push({ contender: name, keys, n, status: 'skipped', reason: `not run (over budget: ~${fmt(projected / 1000)} s projected)` });
          log(`overhead: ${name} keys=${String(keys)} n=${n}: not run (projected ${fmt(projected)} ms)`);
          continue;
        }
        const figures = await runChild(name, keys ?? 1, n);
        rows.push({ contender: name, keys, n, status: 'ok', figures });
        last = { n, wallMs: figures.wallMs };
        log(`overhead: ${name} keys=${String(keys)} n=${n}: ${figures.cpuUs.toFixed(2)} µs/req, ${fmt(figures.rps)} req/s, ${fmt(figures.heapBytes ?? NaN)} B/req`);
      }
    }
  }
  return rows;
}

/** The markdown section for the rows. */
export function overheadSection(rows: readonly OverheadRow[]): string {
  const floorOf = (n: number): OverheadFigures | undefined => {
    const r = rows.find((x) => x.contender === 'floor' && x.n === n);
    return r?.status === 'ok' ? r.figures : undefined;
  };
  const body = rows.map((r) => {
    const label = [r.contender, r.keys === null ? '—' : fmt(r.keys), fmt(r.n)];
    if (r.status === 'skipped') return [...label, r.reason, '', '', '', ''];
    const f = r.figures;
    const floor = floorOf(r.n);
    const isFloor = r.contender === 'floor';
    return [
      ...label,
      `${f.cpuUs.toFixed(2)}${isFloor ? '' : ratio(f.cpuUs, floor?.cpuUs)}`,
      fmt(f.rps),
      f.heapBytes === null ? '' : `${fmt(f.heapBytes)}${isFloor ? '' : ratio(f.heapBytes, floor?.heapBytes)}`,
      f.heldBytes === null ? '' : `${fmt(f.heldBytes)}${isFloor ? '' : ratio(f.heldBytes, floor?.heldBytes)}`,
      String(f.passes),
    ];
  });
  return [
    '## Scheduler overhead',
    '',
    `No network: every task is \`() => undefined\` and no limit binds (unlimited, or finite and too high to be reached), so nothing waits and the figures are the queue's own cost. ` +
      `All \`n\` requests are queued in one synchronous loop, then we wait for the last to settle. One child process per row ` +
      '(`node --expose-gc`), up to 5 warm-up batches of min(n, 10,000) first (at most ~2 s).',
    '',
    '- **CPU µs/req**: `process.cpuUsage()` (user + system, all threads, GC included) over the timed pass ÷ n; median of the passes. (×) = times the floor.',
    '- **req/s**: n ÷ wall time from the first submit to the last settle; median of the passes.',
    '- **heap B/req, started**: `heapUsed` growth after `global.gc()` right after the submit loop (all n submitted and, the limits being unlimited, started; none settled), ÷ n; median of 3 up to 10k. (×) = times the floor.',
    '- **heap B/req, waiting**: the same with a second instance in which nothing may start, so all n wait in the queue: the memory a backlog costs (how each contender is held is listed below).',
    `- Peers run with one queue (limiter) per key, tasks round-robin. A size whose timed pass would take over ${BUDGET_MS / 1000} s (projected from the size before) is not run.`,
    '- The floor is the least any promise-returning queue can do. At 1k-10k one floor pass takes well under a millisecond and fits in the young generation, so its CPU figure (and every ratio to it) is noisy there; from 100k on it includes the garbage collection that a real backlog causes.',
    '',
    table(['contender', 'keys', 'n queued', 'CPU µs/req', 'req/s', 'heap B/req, started', 'heap B/req, waiting', 'passes'], body, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']),
    '',
    'Contender set-ups:',
    '',
    ...Object.values(CONTENDERS).map((c) => `- **${c.name}**: ${c.config}; held: ${c.holdConfig}.`),
    '',
  ].join('\n');
}

export async function runOverhead(log: (line: string) => void): Promise<string> {
  return overheadSection(await measureOverhead(log));
}

// The child entry: node --expose-gc --import tsx bench/overhead.ts --child <name> <keys> <n> <heap|no-heap>
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv[2] === '--child') {
  const [, , , name, keys, n, heap] = process.argv;
  const figures = await child(name as string, Number(keys), Number(n), heap !== 'no-heap');
  process.stdout.write(`${JSON.stringify(figures)}\n`, () => process.exit(0));
}
