/**
 * `runBatch` memory against file size: the same run on input files of 10k,
 * 100k and 1M lines, each in its own child process (`node --expose-gc`), with
 * the heap sampled after a full GC every 250 ms. The server is an in-process
 * `fetch` that answers at once (no network: the figure is the runner's and the
 * pool's memory, not a server's), on 4 unlimited keys.
 *
 * What must hold: the heap does not grow with the file but for the id sets
 * (16-32 bytes a line, for duplicates and resume); the request bodies in
 * memory are bounded by `maxPending`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, table } from './report.js';

export const LINES = [10_000, 100_000, 1_000_000] as const;

interface Figures {
  readonly lines: number;
  readonly inputMb: number;
  readonly wallS: number;
  readonly rps: number;
  /** Heap after GC: before the run, at its peak during the run. */
  readonly heapBaseMb: number;
  readonly heapPeakMb: number;
  /** ArrayBuffers (the id sets' typed arrays live there, off the JS heap): peak minus before. */
  readonly buffersGrowthMb: number;
  readonly rssPeakMb: number;
  readonly succeeded: number;
}

function writeInput(path: string, n: number): void {
  const fd = openSync(path, 'w');
  let chunk = '';
  for (let i = 0; i < n; i++) {
    chunk += `{"custom_id":"r${i}","body":{"model":"kimi-k2.5","messages":[{"role":"user","content":"Summarise document ${i} in one line."}],"max_tokens":16}}\n`;
    if (chunk.length > 1 << 20) {
      writeSync(fd, chunk);
      chunk = '';
    }
  }
  writeSync(fd, chunk);
  closeSync(fd);
}

/** The child: one run of `n` lines, printing its figures as JSON. */
async function child(n: number): Promise<void> {
  const { KimiPool } = await import('../src/index.js');
  const { runBatch } = await import('../src/batch/index.js');
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  const dir = mkdtempSync(join(tmpdir(), 'kimi-batch-mem-'));
  try {
    const input = join(dir, 'in.jsonl');
    writeInput(input, n);
    let id = 0;
    // An answer at once, like Kimi's (usage included), with no network.
    const fetch = async (): Promise<Response> =>
      new Response(
        JSON.stringify({ id: `chatcmpl-${++id}`, object: 'chat.completion', created: 0, model: 'kimi-k2.5', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 12, completion_tokens: 1, total_tokens: 13 } }),
        { status: 200, headers: { 'content-type': 'application/json' } },
      );
    const pool = new KimiPool({
      keys: Array.from({ length: 4 }, (_, i) => ({ key: `sk-bench-mem-${i}-0000`, rpm: Infinity, tpm: Infinity, tpd: Infinity, concurrency: Infinity })),
      baseURL: 'http://127.0.0.1:9/v1',
      clientOptions: { fetch },
    });
    gc();
    const heapBase = process.memoryUsage().heapUsed;
    const buffersBase = process.memoryUsage().arrayBuffers;
    let heapPeak = heapBase;
    let buffersPeak = buffersBase;
    let rssPeak = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      gc();
      const m = process.memoryUsage();
      heapPeak = Math.max(heapPeak, m.heapUsed);
      buffersPeak = Math.max(buffersPeak, m.arrayBuffers);
      rssPeak = Math.max(rssPeak, m.rss);
    }, 250);
    const started = performance.now();
    const summary = await runBatch(pool, { input, output: join(dir, 'out.jsonl'), maxPending: 256 }).summary;
    const wall = performance.now() - started;
    clearInterval(sampler);
    await pool.close();
    const figures: Figures = {
      lines: n,
      inputMb: statSync(input).size / 1e6,
      wallS: wall / 1000,
      rps: n / (wall / 1000),
      heapBaseMb: heapBase / 1e6,
      heapPeakMb: heapPeak / 1e6,
      buffersGrowthMb: (buffersPeak - buffersBase) / 1e6,
      rssPeakMb: rssPeak / 1e6,
      succeeded: summary.succeeded,
    };
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runChild(n: number): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--expose-gc', '--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => void (out += d.toString()));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1) as string) as Figures) : reject(new Error(`child for ${n} lines exited ${code}`))));
  });
}

/** The bench part: a markdown section. */
export async function runBatchMemory(log: (line: string) => void, sizes: readonly number[] = LINES): Promise<string> {
  const rows: Figures[] = [];
  for (const n of sizes) {
    log(`batch-memory: ${n.toLocaleString('en-US')} lines`);
    rows.push(await runChild(n));
  }
  return [
    '## batch-memory',
    '',
    '`runBatch` on input files of growing size; an in-process `fetch` answers at once (no network), 4 unlimited keys, `maxPending` 256. Heap after a full GC, sampled every 250 ms.',
    '',
    table(
      ['lines', 'input MB', 'succeeded', 'wall s', 'req/s', 'heap before MB', 'heap peak MB', 'heap growth MB', 'array buffers growth MB', 'growth bytes/line', 'RSS peak MB'],
      rows.map((r) => [
        r.lines.toLocaleString('en-US'), fmt(r.inputMb, 1), r.succeeded.toLocaleString('en-US'), fmt(r.wallS, 1), fmt(r.rps, 0),
        fmt(r.heapBaseMb, 1), fmt(r.heapPeakMb, 1), fmt(r.heapPeakMb - r.heapBaseMb, 1), fmt(r.buffersGrowthMb, 1),
        fmt(((r.heapPeakMb - r.heapBaseMb + r.buffersGrowthMb) * 1e6) / r.lines, 1), fmt(r.rssPeakMb, 0),
      ]),
    ),
    '',
    'The JS heap stays flat: request bodies in memory are bounded by `maxPending`, whatever the file size. What grows is the id sets, typed arrays outside the JS heap (the array-buffers column): the input\'s custom_ids while the file is checked, then those already in the output file on a resume, 16-32 bytes a line.',
  ].join('\n');
}

const i = process.argv.indexOf('--child');
if (i !== -1) {
  void child(Number(process.argv[i + 1]));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  console.log(await runBatchMemory((l) => console.error(l), sizes.length > 0 ? sizes : LINES));
}
