import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint } from '../../../src/fingerprint.js';
import { simulatorOptionsFromJson } from '../../../src/testing/index.js';

const root = join(import.meta.dirname, '../../..');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kimi-sim-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `kimi-pool` from source; `onLine` may send a signal once the server is up. */
function run(args: string[], onOutput?: (stdout: string, kill: () => void) => void) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', 'src/cli.ts', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    onOutput?.(stdout, () => child.kill('SIGTERM'));
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('kimi-pool simulate', () => {
  it('serves the example config, prints URL and key fingerprints, stops on SIGTERM', async () => {
    let checked: Promise<unknown> | undefined;
    const result = await run(['simulate', '--config', 'examples/simulator.config.json', '--port', '0'], (out, kill) => {
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out)?.[1];
      if (!url || checked) return;
      checked = fetch(`${url}/models`, { headers: { authorization: 'Bearer sk-team-1' } })
        .then(async (res) => ({ status: res.status, org: res.headers.get('msh-org-id'), gid: res.headers.get('msh-gid') }))
        .finally(kill);
    });
    expect(await checked).toEqual({ status: 200, org: 'org-team', gid: 'enterprise-custom' });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('org-free (tier0)');
    expect(result.stdout).toContain(fingerprint('sk-free-1'));
    expect(result.stdout).toContain('tpd=unlimited');
    expect(result.stdout).not.toContain('sk-free-1');
    expect(result.stdout).toMatch(/Stopped \(SIGTERM\)/);
  });

  it('fails with the field name on a bad config and prints usage on bad arguments', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ accounts: [{ id: 'x', keys: ['sk-x'], tier: 'gold' }] }));
    const failed = await run(['simulate', '--config', bad]);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toMatch(/`accounts\[0\]\.tier`/);
    const usage = await run(['simulate', '--port', 'x']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/Expected --port to be an integer >= 0, got x/);
  });

  it('reads null limits as unlimited', () => {
    const options = simulatorOptionsFromJson({ accounts: [{ id: 'a', keys: ['sk-a'], limits: { tpd: null, rpm: 5 } }] });
    expect(options.accounts[0]?.limits).toEqual({ tpd: Infinity, rpm: 5 });
    expect(() => simulatorOptionsFromJson([])).toThrow(TypeError);
  });
});
