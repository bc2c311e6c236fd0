/**
 * Where kimi-pool's time goes in the overhead benchmark: a CPU profile of the
 * timed passes (inspector, 100 µs sampling) of `pool.schedule(() => undefined)`,
 * summed by function (self time) and by package.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChild } from './overhead.js';
import { fmt, table } from './report.js';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** `src/pool/request-lifecycle.ts`, `openai`, `node:internal/...`, or a V8 pseudo-frame such as `(garbage collector)`. */
function where(url: string): string {
  if (url === '') return '';
  const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (m !== null) return m[1] as string;
  const i = url.lastIndexOf('/src/');
  if (i >= 0) return url.slice(i + 1);
  const b = url.lastIndexOf('/bench/');
  if (b >= 0) return url.slice(b + 1);
  return url.replace(/^file:\/\//, '');
}

function area(file: string, fn: string): string {
  if (file === '') return fn.startsWith('(') ? fn : 'V8 builtins';
  if (file.startsWith('src/')) return 'kimi-pool (src/)';
  if (file.startsWith('bench/')) return 'benchmark harness';
  if (file.startsWith('node:')) return 'Node internals';
  return file;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly functions: readonly { readonly name: string; readonly file: string; readonly ms: number }[];
  readonly areas: readonly { readonly area: string; readonly ms: number }[];
}

export function summarize(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fns = new Map<string, { name: string; file: string; ms: number }>();
  const areas = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    if (node === undefined) return;
    total += ms;
    const name = node.callFrame.functionName || '(anonymous)';
    const file = where(node.callFrame.url);
    const k = `${name}\0${file}`;
    const e = fns.get(k) ?? { name, file, ms: 0 };
    e.ms += ms;
    fns.set(k, e);
    const a = area(file, name);
    areas.set(a, (areas.get(a) ?? 0) + ms);
  });
  return {
    totalMs: total,
    functions: [...fns.values()].sort((a, b) => b.ms - a.ms),
    areas: [...areas].map(([a, ms]) => ({ area: a, ms })).sort((a, b) => b.ms - a.ms),
  };
}

const KEYS = 10;
const N = 100_000;

export async function runProfile(log: (line: string) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kimi-pool-prof-'));
  const file = join(dir, 'kimi-pool.cpuprofile');
  try {
    log(`profile: kimi-pool keys=${KEYS} n=${N} ...`);
    const figures = await runChild('kimi-pool', KEYS, N, { heap: false, env: { BENCH_CPU_PROFILE: file } });
    const s = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
    const pct = (ms: number): string => `${((ms / s.totalMs) * 100).toFixed(1)}%`;
    log(`profile: ${fmt(s.totalMs)} ms sampled; top: ${s.functions.slice(0, 3).map((f) => `${f.name} ${pct(f.ms)}`).join(', ')}`);
    return [
      '## Profile of kimi-pool\'s hot path',
      '',
      `CPU profile (inspector, 100 µs sampling) of the timed passes only of the overhead run \`kimi-pool\`, ${KEYS} keys, ${fmt(N)} queued ` +
        `(${figures.passes} passes, ${figures.cpuUs.toFixed(2)} µs/req while profiled; the profiler itself adds some). Self time; ${fmt(s.totalMs)} ms sampled. ` +
        'What an earlier profile showed and the changes it led to: bench/OPTIMISATIONS.md.',
      '',
      table(
        ['by package / area', 'self ms', 'share'],
        s.areas.slice(0, 8).map((a) => [a.area, fmt(a.ms), pct(a.ms)]),
        ['l', 'r', 'r'],
      ),
      '',
      table(
        ['top functions', 'where', 'self ms', 'share'],
        s.functions.slice(0, 15).map((f) => [`\`${f.name}\``, f.file || '—', fmt(f.ms), pct(f.ms)]),
        ['l', 'l', 'r', 'r'],
      ),
      '',
    ].join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
