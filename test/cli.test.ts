/** The `kimi-pool` command line: version, help, usage errors, the simulator with built-in accounts. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runCli, startCli, until } from './batch/cli-harness.js';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('kimi-pool', () => {
  it('prints its version with --version and -v', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await runCli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
  });

  it('prints usage and exits 2 when run with no command or an unknown one', async () => {
    const bare = await runCli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: kimi-pool');
    expect(bare.stderr).toContain('batch');
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
  });

  it('has --help for every command, with the exit codes', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Exit codes: 0');
    const batch = await runCli(['batch', '--help']);
    expect(batch.code).toBe(0);
    for (const option of ['--output', '--errors', '--config', '--base-url', '--retry-errors', '--progress', '--dry-run', '--prices']) expect(batch.stdout).toContain(option);
    expect(batch.stdout).toContain('KIMI_API_KEYS');
    const simulate = await runCli(['simulate', '--help']);
    expect(simulate.code).toBe(0);
    expect(simulate.stdout).toContain('--window-ms');
    expect(simulate.stdout).toContain('sk-sim-team-1');
  });

  it('simulate runs without a config file (as from an installed package), with flags for the window and latency', async () => {
    const sim = startCli(['simulate', '--port', '0', '--window-ms', '2000', '--latency-ms', '5-10']);
    await until(() => /listening on http:\/\/127\.0\.0\.1:\d+\/v1/.test(sim.output().stdout), 20_000, 'the simulator');
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(sim.output().stdout)![1];
    const res = await fetch(`${url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-sim-team-1', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 'ping' }], max_tokens: 8 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('msh-org-id')).toBe('org-team');
    sim.child.kill('SIGTERM');
    const done = await sim.done;
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('window: 2000 ms');
    expect(done.stdout).toContain('org-free (tier0)');
    expect(done.stdout).not.toContain('sk-sim-team-1');
    expect(done.stdout).toMatch(/Stopped \(SIGTERM\)\. served=1/);
  });
});
