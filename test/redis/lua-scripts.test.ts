/**
 * The Redis store's Lua files (src/redis/lua/): each is a script the store
 * runs, under the SHA1 Redis gives it, from src/ as from the built dist/, and
 * runnable by hand with redis-cli once `npm run lua` has combined it with the
 * prelude.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../../src/redis/index.js';
import { DECISION_SCRIPTS, LUA_DIR, SCRIPTS, accountKeys, parseReply } from '../../src/redis/scripts.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { RedisServer, redisServerBinary, testPrefix } from '../helpers/redis-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const luaDir = fileURLToPath(LUA_DIR);

// A server of this file's own: the test of which scripts the store runs empties its script cache.
let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await RedisServer.start();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.kill();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the Lua files', () => {
  it('are the prelude and one file per script, every script with its file: none missing, none unused', () => {
    expect(luaDir).toBe(join(root, 'src/redis/lua/'));
    const files = readdirSync(luaDir).filter((f) => f.endsWith('.lua')).sort();
    expect(files).toEqual(['prelude.lua', ...SCRIPTS.map((s) => `${s.name}.lua`)].sort());
    expect(SCRIPTS.map((s) => s.name)).toEqual(['acquire', 'release', 'renew', 'restamp', 'pause', 'set-limits', 'observe', 'disable', 'sync', 'merge', 'merges', 'enable']);
    const prelude = readFileSync(join(luaDir, 'prelude.lua'), 'utf8');
    // A decision script runs after the prelude; the run-time edits stand alone.
    for (const s of SCRIPTS) {
      const own = readFileSync(join(luaDir, `${s.name}.lua`), 'utf8');
      expect(s.lua).toBe(DECISION_SCRIPTS.includes(s) ? `${prelude}\n${own}` : own);
    }
  });

  it('SCRIPT LOAD gives each script the SHA1 the store runs it under (EVALSHA)', async () => {
    for (const s of SCRIPTS) expect(await redis.script('LOAD', s.lua), s.name).toBe(s.sha);
    expect(new Set(SCRIPTS.map((s) => s.sha)).size).toBe(SCRIPTS.length);
  });

  it('the store runs every one of them', async () => {
    await redis.script('FLUSH');
    const clock = new ManualClock(1_000_000);
    const prefix = testPrefix('lua');
    const store = redisStore({ url: server.url, prefix, leaseMs: 300, subscribe: false });
    try {
      await store.init({ accounts: [{ id: 'a', limits: { concurrency: 2, rpm: 10, tpm: 1000, tpd: 10_000 } }], windowMs: 60_000, safetyMarginMs: 1000, clock }); // sync
      expect(await store.acquire('a', 10, 1)).toBe(0); // acquire
      await clock.advance(1000);
      await store.sent?.('a', 1, 10); // restamp: sent later than restampAfterMs (200 ms) after its grant
      await store.pause('a', 10); // pause
      await store.setLimits('a', { concurrency: 2, rpm: 20, tpm: 1000, tpd: 10_000 }); // set-limits
      await store.observe('a', 'tpm', 500); // observe
      await store.disable({ scope: 'key', account: 'a', key: 'k1', status: 401, kimiType: 'invalid_authentication_error' }); // disable
      await store.enable({ scope: 'key', account: 'a', key: 'k1' }); // enable
      store.addAccount({ id: 'b', limits: { concurrency: 1, rpm: 10, tpm: 1000, tpd: 10_000 } });
      await store.merge('b', 'a'); // merge
      // renew: the store renews held leases every leaseMs / 3 on a real timer.
      const renew = SCRIPTS.find((s) => s.name === 'renew')?.sha as string;
      const exists = async (sha: string): Promise<boolean> => ((await redis.script('EXISTS', sha)) as number[])[0] === 1;
      for (let i = 0; i < 400 && !(await exists(renew)); i++) await sleep(50);
      await store.release('a', 1); // release
    } finally {
      await store.close();
    }
    // merges: read by a pool at start, to follow the merges made before it.
    const next = redisStore({ url: server.url, prefix, subscribe: false });
    const merged: unknown[] = [];
    next.listen((e) => merged.push(e));
    try {
      const limits = { concurrency: 2, rpm: 10, tpm: 1000, tpd: 10_000 };
      await next.init({ accounts: [{ id: 'a', limits }, { id: 'b', limits }], windowMs: 60_000, safetyMarginMs: 1000, clock });
      await sleep(10);
      expect(merged).toContainEqual({ type: 'merged', account: 'b', into: 'a' });
    } finally {
      await next.close();
    }
    const exists = (await redis.script('EXISTS', ...SCRIPTS.map((s) => s.sha))) as number[];
    expect(Object.fromEntries(SCRIPTS.map((s, i) => [s.name, exists[i]]))).toEqual(Object.fromEntries(SCRIPTS.map((s) => [s.name, 1])));
  });

  it('`npm run lua` writes each as Redis runs it, and redis-cli --eval runs it', () => {
    const out = mkdtempSync(join(tmpdir(), 'kimi-pool-lua-'));
    try {
      const written = spawnSync('npm', ['run', '--silent', 'lua', '--', out], { cwd: root, encoding: 'utf8' });
      expect(written.status, written.stderr).toBe(0);
      for (const s of SCRIPTS) {
        expect(written.stdout).toContain(`${s.sha}  ${join(out, `${s.name}.lua`)}`);
        expect(readFileSync(join(out, `${s.name}.lua`), 'utf8')).toBe(s.lua);
      }
      const cli = join(dirname(redisServerBinary()), 'redis-cli');
      if (!existsSync(cli)) throw new Error(`No redis-cli beside ${redisServerBinary()}: install redis-tools`);
      const keys = accountKeys(testPrefix('cli'), 'a');
      // The six keys, then the common ARGV (epoch, limits, span, day span, ttl, dv), then the script's own.
      const evalFile = (name: string, ...own: string[]): unknown[] => {
        const r = spawnSync(cli, ['-p', String(server.port), '--eval', join(out, `${name}.lua`), ...keys, ',', '', '2,10,1000,-1', '60000', '86400000', '100000', '', ...own], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        return r.stdout.trimEnd().split('\n');
      };
      const sync = parseReply(evalFile('sync'));
      expect(sync).toMatchObject({ status: 0, inFlight: 0, limits: '2,10,1000,-1', lost: false });
      // 100 tokens, member, leaseMs, granularity, pauseMs, pollMs: granted, one in flight, one start, 100 tokens.
      const granted = parseReply(evalFile('acquire', '100', 'w:1:1', '15000', '1000', '0', '200'));
      expect(granted).toMatchObject({ status: 0, inFlight: 1, starts: 1, tokens: 100, epoch: sync.epoch });
      // 1000 more tokens do not fit the TPM window of 1000: wait until the first 100 leave it, within the span.
      const waits = parseReply(evalFile('acquire', '1000', 'w:1:2', '15000', '1000', '0', '200'));
      expect(waits).toMatchObject({ status: 1, concurrencyFull: false, inFlight: 1 });
      expect(waits.wait).toBeGreaterThan(0);
      expect(waits.wait).toBeLessThanOrEqual(60_000);
      expect(evalFile('release', 'w:1:1', '', '')).toEqual(['1']);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('the built package', () => {
  // tsc over all of src/ takes a while on a busy machine; nothing here depends on how long.
  it('`npm run build` puts the Lua files in dist/, and dist/redis loads them', { timeout: 300_000 }, () => {
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, encoding: 'utf8' });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    expect(readdirSync(join(root, 'dist/redis/lua')).sort()).toEqual(readdirSync(luaDir).sort());
    const program = `
      const redis = await import('./dist/redis/index.js');
      const { SCRIPTS, LUA_DIR } = await import('./dist/redis/scripts.js');
      console.log(JSON.stringify({ exports: Object.keys(redis).sort(), dir: LUA_DIR.href, scripts: SCRIPTS.map((s) => [s.name, s.sha]) }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', program], { cwd: root, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const loaded = JSON.parse(run.stdout) as { exports: string[]; dir: string; scripts: [string, string][] };
    expect(loaded.exports).toEqual(['RedisStore', 'RedisStoreError', 'redisStore']);
    expect(fileURLToPath(loaded.dir)).toBe(join(root, 'dist/redis/lua/'));
    expect(loaded.scripts).toEqual(SCRIPTS.map((s) => [s.name, s.sha]));
    // And they ship: "files" takes dist/ and src/, .lua files included.
    const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
    expect(pack.status, pack.stderr).toBe(0);
    const files = (JSON.parse(pack.stdout) as [{ files: { path: string }[] }])[0].files.map((f) => f.path);
    for (const f of readdirSync(luaDir)) {
      expect(files).toContain(`src/redis/lua/${f}`);
      expect(files).toContain(`dist/redis/lua/${f}`);
    }
  });
});
