/**
 * `kimi-pool batch` as a user runs it: a child process over real HTTP on the
 * simulator, killed, interrupted and resumed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KimiSimulator } from '../../src/testing/index.js';
import { recordingProxy, runCli, startCli, until, type RecordingProxy } from './cli-harness.js';
import { answerOf, idCounts, KEYS, prompt, readJsonl, requestLines, simulator, writeLines } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'kimi-batch-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dir: string;
let sim: KimiSimulator | undefined;
let proxy: RecordingProxy | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(root, 'case-'));
});
afterEach(async () => {
  await proxy?.close();
  await sim?.close();
  proxy = undefined;
  sim = undefined;
});

/** Simulator + proxy + a pool config file matching the simulator's limits. */
async function serve(o: { windowMs: number; latencyMs: number; rpm: number; concurrency: number }): Promise<string> {
  sim = await simulator(o);
  proxy = await recordingProxy(sim.url);
  const config = join(dir, 'pool.json');
  writeFileSync(config, JSON.stringify({ keys: KEYS.map((key) => ({ key, tier: 'tier1', rpm: o.rpm, concurrency: o.concurrency })), windowMs: o.windowMs, baseURL: proxy.url }));
  return config;
}

/** Whole lines only: a line torn by kill -9 is not an answer. */
function wholeLines(path: string): Record<string, any>[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
}

/** Starts a batch of `n` requests and resolves once the server has one in flight. */
async function startedBatch(o: { latencyMs: number; concurrency: number }, n: number, progress: string) {
  const config = await serve({ windowMs: 1_000, rpm: 100, ...o });
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  writeLines(input, requestLines(n));
  const args = ['batch', input, '--output', output, '--config', config, '--progress', progress];
  const first = startCli(args);
  await until(() => proxy!.sent.size > 0, 30_000, 'a request in flight');
  return { input, output, args, first };
}

function expectEachOnceWithItsAnswer(out: Record<string, any>[], n: number): void {
  expect(out).toHaveLength(n);
  expect(idCounts(out).size).toBe(n);
  for (const line of out) expect(answerOf(line)).toBe(`echo: ${prompt(Number((line.custom_id as string).slice(1)))}`);
}

describe('kimi-pool batch', () => {
  it('after kill -9 mid-run, the same command finishes: each custom_id once with its own answer, nothing answered sent again', async () => {
    // 2 accounts x 5 starts per 500 ms: 120 requests take about 6 s, so the kill lands mid-run.
    const config = await serve({ windowMs: 500, latencyMs: 20, rpm: 5, concurrency: 5 });
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    writeLines(input, requestLines(120));
    const args = ['batch', input, '--output', output, '--config', config, '--progress', 'none'];
    const first = startCli(args);
    await until(() => wholeLines(output).length >= 15, 30_000, '15 answers');
    first.child.kill('SIGKILL');
    expect((await first.done).signal).toBe('SIGKILL');
    const answered = wholeLines(output).map((l) => l.custom_id as string);
    expect(answered.length).toBeLessThan(120);
    const sentBeforeKill = new Map(proxy!.sent);

    const second = await runCli(args);
    expect(second.code).toBe(0);
    expectEachOnceWithItsAnswer(readJsonl(output), 120);
    for (const id of answered) {
      const content = prompt(Number(id.slice(1)));
      expect(proxy!.served.get(content)).toBe(1);
      expect(proxy!.sent.get(content)).toBe(sentBeforeKill.get(content)); // not sent by the second run
    }
    // The run after the kill may meet 429s (the server still counts the killed run's starts); each request is still answered once.
    expect([...proxy!.served.values()].every((c) => c === 1 || c === 2)).toBe(true);
    expect(readJsonl(join(dir, 'out.errors.jsonl'))).toEqual([]);
  });

  it('on SIGINT stops reading, lets in-flight requests finish and writes them, prints how to resume and exits 130', async () => {
    const { input, output, args, first } = await startedBatch({ latencyMs: 500, concurrency: 2 }, 20, 'plain');
    first.child.kill('SIGINT');
    const stopped = await first.done;
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toMatch(/Stopping: \d+ queued requests cancelled, waiting for [1-9]\d* in flight/);
    expect(stopped.stdout).toContain('Resume with the same command:');
    expect(stopped.stdout).toContain(`kimi-pool batch ${input} --output ${output}`);
    const written = readJsonl(output);
    const sentBeforeStop = [...proxy!.sent.values()].reduce((a, b) => a + b, 0);
    expect(written.length).toBe(sentBeforeStop); // every request sent was answered and written
    expect(written.length).toBeLessThan(20);

    const rest = await runCli(args);
    expect(rest.code).toBe(0);
    expectEachOnceWithItsAnswer(readJsonl(output), 20);
    expect([...proxy!.served.values()].every((c) => c === 1)).toBe(true);
    expect(proxy!.served.size).toBe(20);
  });

  it('SIGTERM drains too, and a second signal aborts the in-flight requests: nothing half-done is written, the next run completes', async () => {
    const { output, args, first } = await startedBatch({ latencyMs: 3_000, concurrency: 2 }, 6, 'none');
    first.child.kill('SIGTERM'); // SIGTERM drains like SIGINT
    await until(() => first.output().stderr.includes('Stopping'), 10_000, 'the stopping note');
    first.child.kill('SIGINT');
    const stopped = await first.done;
    expect(stopped.code).toBe(130);
    expect(readJsonl(output)).toEqual([]);
    expect(readJsonl(join(dir, 'out.errors.jsonl'))).toEqual([]);
    expect((await runCli(args)).code).toBe(0);
    expectEachOnceWithItsAnswer(readJsonl(output), 6);
  });

  it('exits 1 when requests fail for good (and again while their failures are skipped), 0 once --retry-errors fixes them', async () => {
    const config = await serve({ windowMs: 1_000, latencyMs: 5, rpm: 1_000, concurrency: 10 });
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    writeLines(input, requestLines(5, (i) => (i === 2 ? 'no-such-model' : 'kimi-k2.5')));
    const args = ['batch', input, '-o', output, '--config', config, '--progress', 'none'];
    const prices = join(dir, 'prices.json');
    writeFileSync(prices, JSON.stringify({ currency: 'CNY', models: { 'kimi-k2.5': { input: 4, output: 16 } } }));
    const failed = await runCli([...args, '--prices', prices]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('4 succeeded, 1 failed');
    expect(failed.stdout).toMatch(/kimi-k2\.5: 4 answers, .* cost \d+\.\d+ CNY/);
    expect(readJsonl(join(dir, 'out.errors.jsonl'))).toMatchObject([{ custom_id: 'r2', error: { code: 'ERR_NOT_FOUND' } }]);
    const skipped = await runCli([...args.slice(0, -2), '--progress', 'json']);
    expect(skipped.code).toBe(1);
    const objects = skipped.stderr.trim().split('\n').map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    expect(objects.at(-1)).toMatchObject({ type: 'summary', failed: 0, plan: { answered: 4, failedBefore: 1, toRun: 0 } });
    expect(objects.some((o) => o.type === 'progress' && o.total === 0 && o.skipped === 5)).toBe(true);
    writeLines(input, requestLines(5));
    const fixed = await runCli([...args.slice(0, -2), '--progress', 'tty', '--retry-errors']);
    expect(fixed.code).toBe(0);
    expect(fixed.stderr).toContain('1/1 100%'); // the live block, drawn even into a pipe when asked for
    expect(fixed.stderr).toContain('done 1  failed 0  in flight 0  queued 0');
    expectEachOnceWithItsAnswer(readJsonl(output), 5);
  });

  it('exits 2 with line numbers on bad lines, sending nothing; --dry-run checks and counts', async () => {
    const config = await serve({ windowMs: 1_000, latencyMs: 5, rpm: 1_000, concurrency: 10 });
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    const lines = requestLines(4);
    writeLines(input, [...lines.slice(0, 2), 'not json', lines[0] as string, ...lines.slice(2)]);
    const bad = await runCli(['batch', input, '-o', output, '--config', config]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('2 bad lines, nothing was sent');
    expect(bad.stderr).toMatch(/line 3: invalid_json/);
    expect(bad.stderr).toMatch(/line 4: duplicate_custom_id: custom_id "r0" is also on line 1/);
    expect(proxy!.sent.size).toBe(0);
    expect(existsSync(output)).toBe(false);

    writeLines(input, lines);
    const dry = await runCli(['batch', input, '-o', output, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('4 requests in');
    expect(dry.stdout).toContain('4 to run');
    expect(dry.stdout).toContain('models: kimi-k2.5 4');
    expect(existsSync(output)).toBe(false);
  });

  it('exits 2 on usage and config errors: no keys, keys in two places, an unknown config field, a bad option', async () => {
    const input = join(dir, 'in.jsonl');
    writeLines(input, requestLines(1));
    const out = join(dir, 'out.jsonl');
    const noKeys = await runCli(['batch', input, '-o', out]);
    expect(noKeys.code).toBe(2);
    expect(noKeys.stderr).toContain('No API keys: set KIMI_API_KEYS');
    const config = join(dir, 'c.json');
    writeFileSync(config, JSON.stringify({ keys: ['sk-one-key-000000'] }));
    const both = await runCli(['batch', input, '-o', out, '--config', config], { KIMI_API_KEYS: 'sk-other-key-00000' });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('both in KIMI_API_KEYS and in the config file');
    expect(both.stderr).not.toContain('sk-other-key-00000');
    writeFileSync(config, JSON.stringify({ keys: ['sk-one-key-000000'], rpmm: 3 }));
    expect((await runCli(['batch', input, '-o', out, '--config', config])).stderr).toContain('unknown field `rpmm`');
    const badMode = await runCli(['batch', input, '-o', out, '--progress', 'fancy']);
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toContain("Allowed choices are auto, tty, plain, json, none");
    const missing = await runCli(['batch', join(dir, 'nope.jsonl'), '-o', out, '--dry-run']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Cannot read the input file');
    const prices = join(dir, 'prices.json');
    writeFileSync(prices, JSON.stringify({ currency: 'yuan', models: {} }));
    const badPrices = await runCli(['batch', input, '-o', out, '--prices', prices, '--dry-run']);
    expect(badPrices.code).toBe(2);
    expect(badPrices.stderr).toContain('`currency` must be a 3-letter ISO 4217 code');
    const noOutput = await runCli(['batch', input]);
    expect(noOutput.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});
