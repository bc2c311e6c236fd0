/**
 * Every ```ts example in the README runs as written: each block saved as a file of its own and run
 * as a user would (tsx, `import ... from 'kimi-pool'`), with KIMI_API_KEYS and KIMI_BASE_URL set to
 * the embedded simulator's and REDIS_URL to a real redis-server.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKimiSimulator, type KimiSimulator } from '../src/testing/index.js';
import { testRedis } from './helpers/redis-server.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
/** Each example with the README's line just before it, as its name. */
const examples = [...readme.matchAll(/^```ts\n([^]*?)^```$/gm)].map((m) => ({
  code: m[1] ?? '',
  title: readme.slice(0, m.index).trim().split('\n').at(-1)?.slice(0, 60) ?? '',
}));

function run(file: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // Asynchronous: the simulator answers from this process while the example runs. In the
  // example's own folder, so files it writes (a batch's input and answers) stay there.
  return new Promise((resolve) => {
    execFile(process.execPath, ['--conditions=source', '--import', 'tsx', file], { cwd: dirname(file), env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

describe('README examples', () => {
  let sim: KimiSimulator;
  let redis: { url: string; stop: () => Promise<void> };
  // Inside the package, so that `import 'kimi-pool'` resolves to this package, as in a user's project.
  const dir = mkdtempSync(join(root, '.readme-'));

  beforeAll(async () => {
    sim = await startKimiSimulator({
      accounts: [
        { id: 'org-a', keys: ['sk-readme-a-0001'], tier: 'tier1' },
        { id: 'org-b', keys: ['sk-readme-b-0001'], tier: 'tier1' },
      ],
    });
    redis = await testRedis();
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await sim?.close();
    await redis?.stop();
  });

  it('opens with the two set-up commands, which CI runs as written (.ci/run)', () => {
    expect(readme).toMatch(/^# kimi-pool\n\n```sh\nnpm install && npm run demo +#[^\n]*\nnpm test +#[^\n]*\n```\n/);
  });

  it('has its examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(7);
  });

  it.each(examples.map(({ code, title }, i) => [i + 1, title, code] as const))('example %i (after "%s") runs and prints', async (i, _, code) => {
    const file = join(dir, `example-${i}.ts`);
    writeFileSync(file, code);
    const env = {
      ...process.env,
      KIMI_API_KEYS: 'sk-readme-a-0001,sk-readme-b-0001',
      KIMI_BASE_URL: sim.url,
      KEY_FREE: 'sk-readme-free-0001',
      KEY_TEAM_1: 'sk-readme-team-0001',
      KEY_TEAM_2: 'sk-readme-team-0002',
      REDIS_URL: redis.url,
    };
    const r = await run(file, env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).not.toBe('');
    // Any reply the example prints is the simulator's echo of its own prompt.
    if (/message\.content|delta\?\.content/.test(code)) expect(r.stdout).toMatch(/echo: /);
  });

  it('type-check as a strict TypeScript project would compile them', async () => {
    examples.forEach(({ code }, i) => writeFileSync(join(dir, `typed-${i + 1}.ts`), code));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.json', compilerOptions: { noEmit: true }, include: ['typed-*.ts'] }));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await new Promise<{ error: Error | null; stdout: string }>((resolve) => {
      execFile(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: root, timeout: 120_000 }, (error, stdout) => resolve({ error, stdout }));
    });
    expect(r.stdout).toBe('');
    expect(r.error).toBeNull();
  });
});
