// `npm test`'s pretest: the distributed-mode tests run on a real redis-server, so find one or,
// where that is safe (root or password-less sudo, with apt), install Debian's. Quiet when one is
// found; one line when it installs; otherwise exit 1 with one instruction (no test is skipped).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const KNOWN_PATHS = ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/opt/homebrew/bin/redis-server'];

/** How to get a redis-server by hand: the one instruction printed when none can be installed here. */
export const INSTALL_HINT =
  'install redis-server (Debian/Ubuntu: `sudo apt-get install redis-server`, macOS: `brew install redis`) ' +
  'or set KIMI_POOL_REDIS_SERVER to its path, then run `npm test` again';

/**
 * The redis-server binary the tests start: KIMI_POOL_REDIS_SERVER, else a usual install path, else
 * the PATH; undefined when there is none. Throws when KIMI_POOL_REDIS_SERVER names a missing file.
 */
export function findRedisServer() {
  const env = process.env.KIMI_POOL_REDIS_SERVER;
  if (env !== undefined && env !== '') {
    if (!existsSync(env)) throw new Error(`KIMI_POOL_REDIS_SERVER=${env} does not exist: ${INSTALL_HINT}`);
    return env;
  }
  for (const p of KNOWN_PATHS) if (existsSync(p)) return p;
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const found = which.stdout?.trim();
  return which.status === 0 && found ? found : undefined;
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** The command prefix that runs apt-get as root here, or undefined when apt-get cannot run as root. */
function aptRunner() {
  if (process.platform !== 'linux' || !has('apt-get')) return undefined;
  if (process.getuid?.() === 0) return [];
  // -n: never ask for a password; a prompt in the middle of `npm test` is worse than the hint.
  if (has('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) return ['sudo', '-n'];
  return undefined;
}

/**
 * Installs Debian's redis-server with scripts/install-redis.sh. Two test runs starting at once take
 * turns on a lock file (flock) and the second finds the binary; apt's own lock (another apt-get,
 * unattended-upgrades) is waited for rather than failed on.
 * @returns {{ failure?: string, present: boolean }} present: another run had installed it meanwhile
 */
function aptInstall(prefix) {
  const lock = join(tmpdir(), 'kimi-pool-redis-install.lock');
  const script = fileURLToPath(new URL('install-redis.sh', import.meta.url));
  const sh = has('flock') ? ['flock', '-w', '900', lock, 'sh', script] : ['sh', script];
  const [cmd, ...args] = [...prefix, ...sh];
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status === 0) return { present: r.stdout.trim() === 'present' };
  const failure = `${r.error?.message ?? ''}${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' / ');
  return { failure, present: false };
}

function version(binary) {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return /v=(\S+)/.exec(r.stdout ?? '')?.[1] ?? 'unknown version';
}

/** Finds or installs redis-server; returns the line to print, '' when nothing was done. Throws the hint. */
export function ensureRedisServer() {
  // A server to use is given: the tests start none of their own.
  if (process.env.KIMI_POOL_REDIS_URL) return '';
  if (findRedisServer() !== undefined) return '';
  const prefix = aptRunner();
  if (prefix === undefined) throw new Error(`npm test needs redis-server for the distributed-mode tests and none was found: ${INSTALL_HINT}`);
  const started = Date.now();
  const { failure, present } = aptInstall(prefix);
  const binary = findRedisServer();
  if (failure !== undefined || binary === undefined) {
    const tried = [...prefix, 'apt-get install redis-server'].join(' ');
    throw new Error(`npm test needs redis-server for the distributed-mode tests and \`${tried}\` failed (${failure || 'no binary after it'}): ${INSTALL_HINT}`);
  }
  if (present) return `pretest: redis-server ${version(binary)} was installed by another test run meanwhile (${binary})`;
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  return `pretest: redis-server was missing: installed Debian's redis-server ${version(binary)} with apt-get in ${secs} s (${binary}) for the distributed-mode tests`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const line = ensureRedisServer();
    if (line !== '') console.log(line);
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}
