/**
 * Markdown output: the machine header, tables, and RESULTS.md made of named
 * sections so that running one part (`npm run bench -- overhead`) replaces
 * only its own section and keeps the others from the last run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

/** A number with thousands separators and at most `digits` decimals. */
export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A markdown table; `align` per column: 'l' or 'r'. */
export function table(head: readonly string[], rows: readonly (readonly string[])[], align: readonly ('l' | 'r')[] = []): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  const rule = `|${head.map((_, i) => (align[i] === 'r' ? '---:' : ':---')).join('|')}|`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

/** The machine, Node version and date, as a markdown table. */
export function machineSection(date = new Date()): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown';
  return [
    table(
      ['machine', 'value'],
      [
        ['date', date.toISOString()],
        ['CPU', `${model} × ${cpus.length} (${os.availableParallelism()} usable)`],
        ['memory', `${fmt(os.totalmem() / 2 ** 30, 1)} GiB`],
        ['OS', `${os.type()} ${os.release()} ${os.arch()}`],
        ['Node', process.version],
        ['V8', process.versions.v8],
      ],
    ),
  ].join('\n');
}

const BEGIN = (name: string): string => `<!-- bench:${name} -->`;
const END = (name: string): string => `<!-- /bench:${name} -->`;

/** Sections of an existing RESULTS.md, by name. */
export function readSections(path: string): Map<string, string> {
  const sections = new Map<string, string>();
  if (!existsSync(path)) return sections;
  const text = readFileSync(path, 'utf8');
  const re = /<!-- bench:([\w-]+) -->\n([\s\S]*?)\n<!-- \/bench:\1 -->/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) sections.set(m[1] as string, m[2] as string);
  return sections;
}

/**
 * Writes RESULTS.md: `fresh` sections replace those of the last run, the
 * others are kept, in the order of `order`.
 */
export function writeResults(path: string, order: readonly string[], fresh: ReadonlyMap<string, string>): void {
  const old = readSections(path);
  const parts = [
    '# kimi-pool benchmarks',
    '',
    'Written by `npm run bench` (bench/run.ts); `npm run bench -- throughput`, `-- overhead` or `-- profile` re-runs one part and keeps the others. ' +
      'Benchmarks report figures; they never fail the test suite.',
    '',
  ];
  for (const name of order) {
    const body = fresh.get(name) ?? old.get(name);
    if (body === undefined) continue;
    parts.push(BEGIN(name), body, END(name), '');
  }
  writeFileSync(path, parts.join('\n'));
}
