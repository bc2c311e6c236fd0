/** `npm test`'s pretest: quiet when a Redis is given, one clear instruction when none can be had. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../scripts/ensure-redis.mjs', import.meta.url));

function run(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [script], { env: { ...process.env, KIMI_POOL_REDIS_URL: '', KIMI_POOL_REDIS_SERVER: '', ...env }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('scripts/ensure-redis.mjs', () => {
  it('says nothing and installs nothing when KIMI_POOL_REDIS_URL names a running server', () => {
    expect(run({ KIMI_POOL_REDIS_URL: 'redis://127.0.0.1:6379', KIMI_POOL_REDIS_SERVER: '/no/such/redis-server' })).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('says nothing when it finds the binary', () => {
    expect(run({ KIMI_POOL_REDIS_SERVER: process.execPath })).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('fails with one line naming the path and how to get redis-server', () => {
    const r = run({ KIMI_POOL_REDIS_SERVER: '/no/such/redis-server' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('KIMI_POOL_REDIS_SERVER=/no/such/redis-server does not exist');
    expect(r.stderr).toContain('sudo apt-get install redis-server');
  });
});
