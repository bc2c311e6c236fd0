import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchLockedError, BatchOutputError } from '../../src/batch/errors.js';
import { lockOutput } from '../../src/batch/output-lock.js';
import { IdSet } from '../../src/batch/id-set.js';
import { readLines } from '../../src/batch/lines.js';
import { ResultLog } from '../../src/batch/result-log.js';

const dir = mkdtempSync(join(tmpdir(), 'kimi-batch-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function collect(path: string) {
  const out = [];
  for await (const l of readLines(path)) out.push(l);
  return out;
}

describe('readLines', () => {
  it('gives each line with its number and end offset, across chunk boundaries and multi-byte characters', async () => {
    const long = 'é'.repeat(70_000); // 140,000 bytes: spans three 64 KiB chunks
    const path = join(dir, 'lines.txt');
    writeFileSync(path, `a\r\n${long}\n\nlast`);
    const lines = await collect(path);
    expect(lines.map((l) => l.text)).toEqual(['a', long, '', 'last']);
    expect(lines.map((l) => l.line)).toEqual([1, 2, 3, 4]);
    expect(lines.map((l) => l.end)).toEqual([3, 3 + 140_001, 3 + 140_002, 3 + 140_002 + 4]);
    expect(lines.map((l) => l.complete)).toEqual([true, true, true, false]);
  });
});

describe('IdSet', () => {
  it('keeps a value per id through growth and tells present from absent', () => {
    const set = new IdSet(4);
    for (let i = 1; i <= 50_000; i++) expect(set.add(`id-${i}`, i)).toBe(0);
    expect(set.size).toBe(50_000);
    expect(set.add('id-123', 9)).toBe(123);
    for (let i = 1; i <= 50_000; i += 997) expect(set.get(`id-${i}`)).toBe(i);
    expect(set.has('id-0')).toBe(false);
    expect(set.has('id-50001')).toBe(false);
    expect(set.bytes).toBeLessThanOrEqual(50_000 * 32);
  });
});

/** A result line as a batch writes it. */
const result = (id: string) => ({ id: `batch_req_${id}`, custom_id: id, response: { status_code: 200, request_id: null, body: {} }, error: null });

describe('ResultLog', () => {
  it('finds the ids of whole lines, cuts a torn last line, then appends whole lines', async () => {
    const path = join(dir, 'out.jsonl');
    writeFileSync(path, `${JSON.stringify(result('a'))}\n${JSON.stringify(result('b'))}\n{"custom_id":"c","respo`);
    const scan = await ResultLog.scan(path);
    expect(scan.lines).toBe(2);
    expect(scan.ids.has('a') && scan.ids.has('b')).toBe(true);
    expect(scan.ids.has('c')).toBe(false);
    expect(scan.tornBytes).toBe('{"custom_id":"c","respo'.length);
    const log = ResultLog.open(path, scan, 10);
    log.append(result('c'));
    log.close();
    expect(readFileSync(path, 'utf8').split('\n')).toEqual([...['a', 'b', 'c'].map((id) => JSON.stringify(result(id))), '']);
  });

  it('treats a missing file as empty and refuses a file that is not ours', async () => {
    const missing = await ResultLog.scan(join(dir, 'none.jsonl'));
    expect(missing.lines).toBe(0);
    const path = join(dir, 'foreign.jsonl');
    writeFileSync(path, `${JSON.stringify(result('a'))}\nnot json\n`);
    await expect(ResultLog.scan(path)).rejects.toThrow(BatchOutputError);
    await expect(ResultLog.scan(path)).rejects.toThrow(/line 2 is not JSON/);
    appendFileSync(join(dir, 'noid.jsonl'), '{"id":1}\n');
    await expect(ResultLog.scan(join(dir, 'noid.jsonl'))).rejects.toThrow(/line 1 has no string custom_id/);
    // An input file given as --output by mistake: request lines are not answers.
    writeFileSync(join(dir, 'requests.jsonl'), '{"custom_id":"r1","body":{"model":"kimi-k2.5","messages":[]}}\n');
    await expect(ResultLog.scan(join(dir, 'requests.jsonl'))).rejects.toThrow(/line 1 is not a result line .*an input file\?/);
  });
});

describe('lockOutput', () => {
  it('lets one run at a time write an output file, and takes over a lock left by a run that died', () => {
    const out = join(dir, 'locked.jsonl');
    const unlock = lockOutput(out);
    // A second run in this process, then one in another (live) process, are refused.
    expect(() => lockOutput(out)).toThrow(BatchLockedError);
    unlock();
    writeFileSync(`${out}.lock`, `${process.ppid}\n`);
    expect(() => lockOutput(out)).toThrow(/being written by another kimi-pool batch run \(pid \d+/);
    // A pid that runs no more: taken over.
    writeFileSync(`${out}.lock`, '2147483646\n');
    const again = lockOutput(out);
    expect(readFileSync(`${out}.lock`, 'utf8').trim()).toBe(String(process.pid));
    again();
    expect(() => readFileSync(`${out}.lock`)).toThrow();
  });
});
