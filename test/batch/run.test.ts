/** runBatch over real HTTP on the embedded simulator, with the real openai SDK under the pool. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchInputError, runBatch, type BatchResult } from '../../src/batch/index.js';
import type { KimiPool } from '../../src/index.js';
import type { KimiSimulator } from '../../src/testing/index.js';
import { answerOf, idCounts, KEYS, poolOn, prompt, readJsonl, requestLines, simulator, writeLines } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'kimi-batch-run-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dir: string;
let sim: KimiSimulator;
let pool: KimiPool;
beforeEach(async () => {
  dir = mkdtempSync(join(root, 'case-'));
  sim = await simulator();
  pool = poolOn(sim);
});
afterEach(async () => {
  await pool.close();
  await sim.close();
});

const files = () => ({ input: join(dir, 'in.jsonl'), output: join(dir, 'out.jsonl'), errors: join(dir, 'err.jsonl') });

describe('runBatch', () => {
  it('answers every request with its own answer in the Batch output format; failures go to the errors file with a stable code', async () => {
    const f = files();
    writeLines(f.input, requestLines(30, (i) => (i % 10 === 3 ? 'no-such-model' : 'kimi-k2.5')));
    const run = runBatch(pool, { ...f, windowMs: 1_000 });
    const results: BatchResult[] = [];
    for await (const r of run) results.push(r);
    const summary = await run.summary;

    const out = readJsonl(f.output);
    expect(out).toHaveLength(27);
    for (const line of out) {
      const i = Number((line.custom_id as string).slice(1));
      expect(answerOf(line)).toBe(`echo: ${prompt(i)}`);
      expect(line).toMatchObject({ id: expect.stringMatching(/^batch_req_/), response: { status_code: 200, request_id: expect.any(String) }, error: null });
    }
    const errors = readJsonl(f.errors);
    expect(errors.map((e) => e.custom_id).sort()).toEqual(['r13', 'r23', 'r3']);
    expect(errors[0]).toMatchObject({ response: { status_code: 404 }, error: { code: 'ERR_NOT_FOUND', message: expect.stringContaining('no-such-model') } });
    expect(results).toHaveLength(30);
    expect(results.filter((r) => !r.ok).map((r) => r.customId).sort()).toEqual(['r13', 'r23', 'r3']);

    expect(summary).toMatchObject({ succeeded: 27, failed: 3, notRun: 0, interrupted: false, plan: { requests: 30, toRun: 30 } });
    const k25 = summary.models.find((m) => m.model === 'kimi-k2.5');
    expect(k25).toMatchObject({ requests: 27 });
    expect(k25!.promptTokens).toBeGreaterThan(0);
    expect(k25!.cost).toBeGreaterThan(0);
  });

  it('runs again only what is not written: answered and failed ids are skipped, --retry-errors reruns failures', async () => {
    const f = files();
    writeLines(f.input, requestLines(12, (i) => (i === 5 ? 'no-such-model' : 'kimi-k2.5')));
    await runBatch(pool, f).summary;
    const served = sim.stats().totals.served;
    const again = await runBatch(pool, f).summary;
    expect(again).toMatchObject({ succeeded: 0, failed: 0, plan: { answered: 11, failedBefore: 1, toRun: 0 } });
    expect(sim.stats().totals.served).toBe(served);

    writeLines(f.input, requestLines(12)); // the model is fixed: r5 can succeed now
    const retried = await runBatch(pool, { ...f, retryErrors: true }).summary;
    expect(retried).toMatchObject({ succeeded: 1, failed: 0, plan: { toRun: 1 } });
    expect([...idCounts(readJsonl(f.output)).values()].every((c) => c === 1)).toBe(true);
    expect(idCounts(readJsonl(f.output)).size).toBe(12);
    expect(readJsonl(f.errors)).toEqual([]);
    expect(readJsonl(`${f.errors}.previous`).map((e) => e.custom_id)).toEqual(['r5']);
  });

  it('lines without custom_id keep their content id across runs, and their metadata reaches the output', async () => {
    const f = files();
    writeLines(f.input, Array.from({ length: 5 }, (_, i) => JSON.stringify({ model: 'kimi-k2.5', messages: [{ role: 'user', content: prompt(i) }], max_tokens: 16, metadata: { row: i } })));
    await runBatch(pool, f).summary;
    const out = readJsonl(f.output);
    expect(out.map((l) => l.metadata.row).sort()).toEqual([0, 1, 2, 3, 4]);
    for (const l of out) expect(answerOf(l)).toBe(`echo: ${prompt(l.metadata.row as number)}`);
    expect(out.every((l) => /^auto-[0-9a-f]{24}$/.test(l.custom_id as string))).toBe(true);
    // The same lines in another order: nothing to run.
    writeLines(f.input, readJsonl(f.input).reverse().map((l) => JSON.stringify(l)));
    expect((await runBatch(pool, f).summary).plan).toMatchObject({ answered: 5, toRun: 0 });
  });

  it('cuts a torn last line left by a crash and runs its request again: each custom_id once', async () => {
    const f = files();
    writeLines(f.input, requestLines(6));
    await runBatch(pool, { ...f, input: f.input }).summary;
    const whole = readJsonl(f.output).slice(0, 3);
    // What a crash mid-write leaves: three whole lines and the start of a fourth.
    const torn = JSON.stringify(readJsonl(f.output)[3]).slice(0, 40);
    writeFileSync(f.output, `${whole.map((l) => JSON.stringify(l)).join('\n')}\n${torn}`);
    const torns: number[] = [];
    const run = runBatch(pool, f);
    run.on('torn-line', (e) => torns.push(e.bytes));
    const summary = await run.summary;
    expect(torns).toEqual([40]);
    expect(summary).toMatchObject({ succeeded: 3, tornLines: 1, plan: { answered: 3 } });
    const out = readJsonl(f.output);
    expect(out).toHaveLength(6);
    expect([...idCounts(out).values()]).toEqual([1, 1, 1, 1, 1, 1]);
    for (const line of out) expect(answerOf(line)).toBe(`echo: ${prompt(Number((line.custom_id as string).slice(1)))}`);
  });

  it('reports bad and duplicate lines with their numbers before anything is sent', async () => {
    const f = files();
    const lines = requestLines(5);
    lines.splice(2, 0, '{"custom_id": "x", "body": ');
    lines.push(lines[0] as string, JSON.stringify({ custom_id: 'e', url: '/v1/embeddings', body: {} }), '', JSON.stringify({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 'a' }] }), JSON.stringify({ messages: [{ role: 'user', content: 'a' }], model: 'kimi-k2.5' }));
    writeLines(f.input, lines);
    const error = await runBatch(pool, f).summary.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchInputError);
    const e = error as BatchInputError;
    expect(e.count).toBe(4);
    expect(e.problems.map((p) => [p.line, p.code])).toEqual([[3, 'invalid_json'], [7, 'duplicate_custom_id'], [8, 'unknown_url'], [11, 'duplicate_custom_id']]);
    expect(e.message).toMatch(/line 7: duplicate_custom_id: custom_id "r0" is also on line 1/);
    expect(sim.stats().totals.served).toBe(0);
    expect(existsSync(f.output)).toBe(false);
  });

  it('a consumer that stops iterating early does not hold the run up', async () => {
    const f = files();
    writeLines(f.input, requestLines(30));
    const run = runBatch(pool, { ...f, maxPending: 2 });
    let seen = 0;
    for await (const _ of run) if (++seen === 2) break;
    expect((await run.summary).succeeded).toBe(30);
  });

  it('hands the pool no more than maxPending requests at once', async () => {
    const f = files();
    writeLines(f.input, requestLines(40));
    let most = 0;
    pool.on('queued', () => {
      const s = pool.stats();
      most = Math.max(most, s.queued + s.inFlight);
    });
    const summary = await runBatch(pool, { ...f, maxPending: 3 }).summary;
    expect(summary.succeeded).toBe(40);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(3);
  });
});

describe('runBatch options', () => {
  it('throws a ConfigError naming the field', () => {
    expect(() => runBatch(pool, { input: 'a.jsonl', output: 'a.jsonl' })).toThrow(/must be three different files/);
    expect(() => runBatch(pool, { input: 'a.jsonl', output: 'b.jsonl', maxPending: 0 })).toThrow('Expected `maxPending` to be an integer >= 1, got `0` (number)');
    expect(() => runBatch(pool, { input: '', output: 'b.jsonl' })).toThrow('Expected `input` to be a file path');
  });
});

describe('runBatch when no key is left', () => {
  it('stops, writes no failure for requests that were never the problem, and says why', async () => {
    const f = files();
    writeLines(f.input, requestLines(10));
    for (const key of KEYS) sim.revokeKey(key);
    const summary = await runBatch(pool, f).summary;
    expect(summary.stoppedBy).toMatch(/^ERR_NO_USABLE_KEY/);
    expect(summary).toMatchObject({ succeeded: 0, failed: 0, notRun: 10, interrupted: true });
    expect(readJsonl(f.errors)).toEqual([]);
  });
});

describe('runBatch stop()', () => {
  it('cancels queued requests, lets in-flight ones finish and writes them; the next run sends only the rest', async () => {
    await pool.close();
    await sim.close();
    sim = await simulator({ latencyMs: 400, concurrency: 2 });
    pool = poolOn(sim, { concurrency: 2 });
    const f = files();
    writeLines(f.input, requestLines(20));
    const run = runBatch(pool, { ...f, maxPending: 10 });
    let inFlightAtStop = -1;
    run.on('stopping', (e) => (inFlightAtStop = e.inFlight));
    pool.once('start', () => setImmediate(() => run.stop())); // after the run's own 'start' listener
    const summary = await run.summary;
    expect(summary.interrupted).toBe(true);
    expect(inFlightAtStop).toBeGreaterThan(0);
    expect(summary.succeeded).toBeGreaterThanOrEqual(inFlightAtStop);
    expect(summary.notRun).toBe(20 - summary.succeeded);
    expect(readJsonl(f.output)).toHaveLength(summary.succeeded);
    expect(readJsonl(f.errors)).toHaveLength(0);

    const rest = await runBatch(pool, f).summary;
    expect(rest.succeeded).toBe(20 - summary.succeeded);
    expect(idCounts(readJsonl(f.output)).size).toBe(20);
    expect(readJsonl(f.output)).toHaveLength(20);
    expect(sim.stats().totals.served).toBe(20); // nothing was sent twice
  });
});
