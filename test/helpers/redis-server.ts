/**
 * A real redis-server for the Redis store tests: CI's (KIMI_POOL_REDIS_URL) or
 * one started here on a free loopback port. No binary means a FAILED test with
 * the reason, never a skipped one: `npm test`'s pretest (scripts/ensure-redis.mjs)
 * installs redis-server where it can.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { findRedisServer, INSTALL_HINT } from '../../scripts/ensure-redis.mjs';

/** The redis-server binary: KIMI_POOL_REDIS_SERVER, else a usual install path, else the PATH. */
export function redisServerBinary(): string {
  const found = findRedisServer();
  if (found === undefined) throw new Error(`The Redis store tests need a real redis-server and none was found: ${INSTALL_HINT} (or set KIMI_POOL_REDIS_URL to a running server)`);
  return found;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A redis-server child process on a fixed port that can be killed and started again (no persistence). */
export class RedisServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly binary: string,
  ) {}

  static async start(port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await freePort()), redisServerBinary());
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${out}`);
      const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${this.port}: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL: the server's state is gone (no persistence). */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

/** A Redis for a test file: CI's running server, else one started here (stop it in afterAll). */
export async function testRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const url = process.env.KIMI_POOL_REDIS_URL;
  if (url !== undefined && url !== '') return { url, stop: async () => undefined };
  const server = await RedisServer.start();
  return { url: server.url, stop: () => server.kill() };
}

/** A fresh key prefix, so that tests sharing one server never see each other's state. */
export function testPrefix(name: string): string {
  return `kp-test:${name}:${Math.random().toString(36).slice(2, 10)}:`;
}

/**
 * A Redis for the whole test file (see {@link testRedis}), started before its
 * tests and stopped after them. Read `.url` inside a test or hook.
 */
export function useTestRedis(): { readonly url: string } {
  let server: { url: string; stop: () => Promise<void> } | undefined;
  beforeAll(async () => {
    server = await testRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    get url(): string {
      if (server === undefined) throw new Error('useTestRedis: read .url inside a test or a hook');
      return server.url;
    },
  };
}
