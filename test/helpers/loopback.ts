/**
 * A small HTTP server on 127.0.0.1 whose answers a test scripts one request at
 * a time: the misbehaving gateways and proxies the simulator does not play.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KimiPool, type KimiPoolOptions } from '../../src/index.js';

export interface Hit {
  /** 1 for the first request the server got, then 2, 3, ... */
  readonly n: number;
  readonly body: { stream?: boolean; messages?: { content?: string }[] };
  readonly auth: string | undefined;
}

export type Handler = (hit: Hit, res: ServerResponse, req: IncomingMessage) => void;

export interface Loopback {
  /** Base URL for the pool, e.g. `http://127.0.0.1:1234/v1`. */
  readonly url: string;
  readonly hits: Hit[];
  close(): Promise<void>;
}

/** Servers and pools made by this module, until {@link closeAll}. */
const open = new Set<{ close(): Promise<void> }>();

/** Closes every server and pool made since the last call: `afterEach(closeAll)`. */
export async function closeAll(): Promise<void> {
  const all = [...open];
  open.clear();
  for (const x of all) await x.close();
}

export async function loopback(handle: Handler): Promise<Loopback> {
  const hits: Hit[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const hit: Hit = { n: hits.length + 1, body: raw === '' ? {} : (JSON.parse(raw) as Hit['body']), auth: req.headers.authorization };
      hits.push(hit);
      handle(hit, res, req);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const made: Loopback = {
    url: `http://127.0.0.1:${port}/v1`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        // Stalled responses never end by themselves: cut them.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  open.add(made);
  return made;
}

export const completion = (content: string, extra: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'kimi-k2.5',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  ...extra,
});

export const chunk = (content: string) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'kimi-k2.5',
  choices: [{ index: 0, delta: { content }, finish_reason: null }],
});

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Starts an SSE response; `write` sends raw text, `event` one `data:` event. */
export function sse(res: ServerResponse, headers: Record<string, string> = {}) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
  res.flushHeaders();
  return {
    write: (text: string) => res.write(text),
    data: (value: unknown) => res.write(`data: ${typeof value === 'string' ? value : JSON.stringify(value)}\n\n`),
    end: () => res.end(),
  };
}

/** A one-key-per-account pool on the loopback server, roomy limits, fast retries, no jitter. */
export function poolOn(url: string, options: Partial<KimiPoolOptions> = {}, accounts = ['a']): KimiPool {
  const pool = new KimiPool({
    keys: accounts.map((account, i) => ({ key: `sk-loopback-secret-${i}-0123456789`, id: `key-${account}`, account })),
    accounts: Object.fromEntries(accounts.map((a) => [a, { concurrency: 4, rpm: 10_000, tpm: 100_000_000, tpd: Infinity }])),
    baseURL: url,
    retryBaseMs: 1,
    retryMaxMs: 2,
    random: () => 0.5,
    ...options,
  });
  open.add(pool);
  return pool;
}

/** The request parameters every test sends. */
export const params = (content = 'hi') => ({ model: 'kimi-k2.5', messages: [{ role: 'user' as const, content }], max_tokens: 8 });
