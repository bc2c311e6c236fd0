/** The examples run as a user would run them (on the simulator) and print what they promise. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = { ...process.env, KIMI_API_KEYS: '' };

function run(file: string, extraEnv: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', file], { cwd: root, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('examples', () => {
  it('batch-job answers every prompt', () => {
    const r = run('examples/batch-job.ts');
    expect(r.stderr).toBe('');
    for (let i = 0; i < 12; i++) expect(r.stdout).toContain(`${i}: echo: Summarise document ${i} in one line.`);
    expect(r.stdout).toContain('12 succeeded, 0 failed');
    expect(r.status).toBe(0);
  });

  it('batch-file runs a JSONL file through runBatch, then skips it all on the second run', () => {
    // A folder of this run's own: two test runs at once must not share the files.
    const dir = mkdtempSync(join(tmpdir(), 'kimi-pool-example-'));
    const first = run('examples/batch-file.ts', { BATCH_DIR: dir });
    expect(first.stderr).toBe('');
    for (let i = 0; i < 8; i++) expect(first.stdout).toContain(`doc-${i}: echo: Summarise document ${i} in one line.`);
    expect(first.stdout).toContain('8 succeeded, 0 failed, 0 not run');
    const second = run('examples/batch-file.ts', { BATCH_DIR: dir });
    expect(second.stdout).toContain('0 to run, 8 answered before');
    expect(second.status).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the demo (npm run demo) runs kimi-pool batch on the sample file and prints the summary with its 429 count', () => {
    const r = run('examples/demo.ts');
    expect(r.stderr).toContain('200 requests: 0 answered before, 0 failed before, 200 to run'); // progress and notes go to stderr
    expect(r.stdout).toContain('200 succeeded, 0 failed, 0 not run');
    expect(r.stdout).toMatch(/429s: rate limit \d+ \(rpm/);
    expect(r.stdout).toMatch(/the simulator answered \d+ rate-limit 429s and served \d+ requests/);
    expect(r.stdout).toMatch(/efficiency \d\.\d\d/);
    expect(r.status).toBe(0);
  });

  it('streaming prints each streamed reply', () => {
    const r = run('examples/streaming.ts');
    expect(r.stdout).toContain('> What is a sliding window?\necho: What is a sliding window?\n');
    expect(r.stdout).toContain('> Why pool API keys?\necho: Why pool API keys?\n');
    expect(r.status).toBe(0);
  });

  it('long-lived discovers its accounts, swaps a key and takes a tier upgrade', () => {
    const r = run('examples/long-lived.ts');
    expect(r.stderr).toBe('');
    expect(r.stdout.match(/: account org-a, concurrency 2/g)).toHaveLength(2);
    expect(r.stdout.match(/: account org-b, concurrency 2/g)).toHaveLength(3);
    expect(r.stdout).toMatch(/^added sk-…\w+ to org-b$/m);
    expect(r.stdout).toMatch(/^removed sk-…\w+ from org-a$/m);
    expect(r.stdout).toContain('account org-b: concurrency 2 -> 4');
    expect(r.stdout).toContain('org-a: 1 keys');
    expect(r.stdout).toContain('org-b: 3 keys');
    expect(r.stdout).toContain('30 succeeded, 0 failed');
    expect(r.status).toBe(0);
  });

  it('metrics-worker serves /metrics and counts its requests', () => {
    const r = run('examples/metrics-worker.ts', { REQUESTS: '4', PORT: '0' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^serving http:\/\/127\.0\.0\.1:\d+\/metrics$/m);
    const succeeded = [...r.stdout.matchAll(/^kimi_pool_requests_total\{.*outcome="succeeded"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    expect(succeeded).toBe(4);
    expect(r.stdout).toContain('kimi_pool_queued 0');
    expect(r.status).toBe(0);
  });
});
