/** Shared fixtures of the batch tests: request files, output readers, a simulator and a pool on it. */
import { readFileSync, writeFileSync } from 'node:fs';
import { KimiPool } from '../../src/index.js';
import { startKimiSimulator, type KimiSimulator } from '../../src/testing/index.js';

/** The prompt of request `i`; the simulator answers `echo: <prompt>`. */
export const prompt = (i: number): string => `Summarise document ${i}.`;

/** `n` requests in the Batch API format, ids r0..r{n-1}; `model(i)` picks each one's model. */
export function requestLines(n: number, model: (i: number) => string = () => 'kimi-k2.5'): string[] {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: model(i), messages: [{ role: 'user', content: prompt(i) }], max_tokens: 16 } }),
  );
}

export function writeLines(path: string, lines: readonly string[]): void {
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/** Parsed lines of a JSONL result file ([] when it does not exist). */
export function readJsonl(path: string): Record<string, any>[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
}

/** custom_id -> how many lines carry it. */
export function idCounts(lines: readonly Record<string, any>[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) m.set(l.custom_id as string, (m.get(l.custom_id as string) ?? 0) + 1);
  return m;
}

/** The answer text of an output line. */
export const answerOf = (line: Record<string, any>): string => line.response.body.choices[0].message.content as string;

export const KEYS = ['sk-batch-test-a-000', 'sk-batch-test-b-000'] as const;

/** A simulator with two accounts of `rpm` starts per `windowMs` and `concurrency` in flight. */
export async function simulator(o: { windowMs?: number; latencyMs?: number; rpm?: number; concurrency?: number } = {}): Promise<KimiSimulator> {
  const limits = { rpm: o.rpm ?? 1_000, concurrency: o.concurrency ?? 20 };
  return startKimiSimulator({
    windowMs: o.windowMs ?? 1_000,
    latencyMs: o.latencyMs ?? 5,
    accounts: KEYS.map((key, i) => ({ id: `org-${i}`, keys: [key], tier: 'tier1' as const, limits })),
  });
}

/** Pool options matching {@link simulator}'s accounts. */
export function poolOptions(sim: KimiSimulator, o: { windowMs?: number; rpm?: number; concurrency?: number } = {}) {
  return {
    keys: KEYS.map((key) => ({ key, tier: 'tier1' as const, rpm: o.rpm ?? 1_000, concurrency: o.concurrency ?? 20 })),
    baseURL: sim.url,
    windowMs: o.windowMs ?? 1_000,
    retryBaseMs: 10,
  };
}

export function poolOn(sim: KimiSimulator, o: { windowMs?: number; rpm?: number; concurrency?: number } = {}): KimiPool {
  return new KimiPool(poolOptions(sim, o));
}
