/** Runs `kimi-pool` from source as a child process, and a recording HTTP proxy in front of the simulator. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Running {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): { stdout: string; stderr: string };
  readonly done: Promise<Finished>;
}

/** Starts `kimi-pool ...args` with `env` added to a copy of this process's environment (KIMI_API_KEYS cleared). */
export function startCli(args: readonly string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', 'src/cli.ts', ...args], {
    cwd: root,
    env: { ...process.env, KIMI_API_KEYS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => void (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
  const done = new Promise<Finished>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, output: () => ({ stdout, stderr }), done };
}

export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<Finished> {
  return startCli(args, env).done;
}

/** Polls `check` every 10 ms until it is true (or `ms` pass: then rejects). */
export async function until(check: () => boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A proxy that forwards to `target` and counts the chat requests it saw, by their last message's content. */
export interface RecordingProxy {
  readonly url: string;
  /** content -> times sent (429s and faults included). */
  readonly sent: Map<string, number>;
  /** content -> times answered with 200. */
  readonly served: Map<string, number>;
  close(): Promise<void>;
}

export async function recordingProxy(target: string): Promise<RecordingProxy> {
  const sent = new Map<string, number>();
  const served = new Map<string, number>();
  const base = new URL(target);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let content: string | undefined;
      try {
        const messages = (JSON.parse(body.toString()) as { messages?: { content?: string }[] }).messages ?? [];
        content = String(messages.at(-1)?.content);
        sent.set(content, (sent.get(content) ?? 0) + 1);
      } catch {
        // Not a chat body: forwarded all the same.
      }
      const headers = { ...req.headers, host: base.host };
      delete headers['content-length'];
      fetch(`${base.origin}${req.url}`, { method: req.method, headers: headers as unknown as Record<string, string>, ...(body.length > 0 ? { body } : {}) })
        .then(async (r) => {
          const text = Buffer.from(await r.arrayBuffer());
          if (content !== undefined && r.status === 200) served.set(content, (served.get(content) ?? 0) + 1);
          res.writeHead(r.status, Object.fromEntries([...r.headers].filter(([k]) => k !== 'content-encoding' && k !== 'content-length' && k !== 'transfer-encoding')));
          res.end(text);
        })
        .catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${base.pathname}`,
    sent,
    served,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
