/**
 * The HTTP server: reads the body, authenticates the bearer key, sets the
 * `Msh-*` headers and routes to the endpoint handlers.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AccountState } from './accounts.js';
import { handleChat } from './chat.js';
import { balance, estimateTokens, listModels, me } from './endpoints.js';
import { kimiErrors } from './errors.js';
import { BodyTooLargeError, readBody, sendError, sleep } from './http.js';
import { resolveOptions } from './options.js';
import { SimulatorState } from './state.js';
import type { KimiSimulator, KimiSimulatorOptions } from './types.js';

const HOST = '127.0.0.1';

/** `Msh-*` headers: account ones only when the key belongs to an account. */
function mshHeaders(account: AccountState | undefined): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { 'msh-request-id': randomUUID() };
  if (account) {
    headers['msh-org-id'] = account.id;
    headers['msh-gid'] = account.group;
    headers['msh-project-id'] = account.projectId;
    headers['msh-uid'] = account.uid;
  }
  return headers;
}

function bearer(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

/** Sockets that have carried a request: the first request of any other pays `newConnectionDelayMs`. */
const usedSockets = new WeakSet<Socket>();

/** How long the request travels (arrival delay, plus the handshake on a new connection) before it counts. */
function arrivalDelay(state: SimulatorState, socket: Socket): number {
  const { arrivalDelayMs: [min, max], newConnectionDelayMs } = state.options;
  let ms = min === max ? min : min + state.arrivalRandom() * (max - min);
  if (!usedSockets.has(socket)) {
    usedSockets.add(socket);
    ms += newConnectionDelayMs;
  }
  return ms;
}

async function handle(state: SimulatorState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // Read the body first, even for a 401: answering before the body is consumed
  // would break the keep-alive connection the client will reuse.
  let bodyText: string;
  try {
    bodyText = await readBody(req);
  } catch (error) {
    if (error instanceof BodyTooLargeError) sendError(res, mshHeaders(undefined), kimiErrors.payloadTooLarge());
    else res.destroy();
    return;
  }
  // The request counts `delay` after it was read, whenever this process gets to run again
  // (a busy machine fires the timer late; Kimi's limiter would not have waited for us).
  const delay = arrivalDelay(state, req.socket);
  const read = state.now();
  if (delay > 0 && !(await sleep(delay, state.closing.signal))) return;
  const now = state.countAt(read, delay);
  const key = bearer(req);
  const identity = state.authenticate(key);
  const headers = mshHeaders(identity.account);
  const path = new URL(req.url ?? '/', `http://${HOST}`).pathname.replace(/\/+$/, '');
  const route = `${req.method ?? 'GET'} ${path}`;

  if (!identity.ok || key === undefined) {
    state.countAuthFailure(identity.account);
    if (route === 'POST /v1/chat/completions') {
      state.record({
        t: state.sinceStart(now), account: identity.account?.id ?? null, key: state.keyName(key),
        status: 401, kind: 'auth', tokens: 0, counted: false,
      });
    }
    sendError(res, headers, kimiErrors.invalidAuthentication());
    return;
  }
  const account = identity.account;
  switch (route) {
    case 'POST /v1/chat/completions':
      await handleChat(state, { req, res, headers, key, account, now }, bodyText);
      return;
    case 'GET /v1/models':
      listModels(state, res, headers);
      return;
    case 'POST /v1/tokenizers/estimate-token-count':
      estimateTokens(state, res, headers, bodyText);
      return;
    case 'GET /v1/users/me/balance':
      balance(account, res, headers);
      return;
    case 'GET /v1/users/me':
      me(account, res, headers);
      return;
    default:
      sendError(res, headers, kimiErrors.routeNotFound(req.method ?? 'GET', path));
  }
}

/**
 * Starts a local Kimi API server on 127.0.0.1 that enforces per-account
 * concurrency, RPM, TPM and TPD limits exactly as documented, with seeded fault injection.
 *
 * @throws TypeError naming the field when an option is invalid.
 * @example
 * const sim = await startKimiSimulator({ accounts: [{ id: 'org-a', keys: ['sk-a1'] }], windowMs: 1000 });
 * const client = new OpenAI({ apiKey: 'sk-a1', baseURL: sim.url, maxRetries: 0 });
 * await sim.close();
 */
export async function startKimiSimulator(options: KimiSimulatorOptions): Promise<KimiSimulator> {
  const state = new SimulatorState(resolveOptions(options));
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    handle(state, req, res).catch(() => res.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(state.options.port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : state.options.port;
  let closed: Promise<void> | undefined;

  return {
    url: `http://${HOST}:${port}/v1`,
    port,
    stats: () => state.stats(),
    setAccount: (id, patch) => state.setAccount(id, patch),
    revokeKey: (key) => state.revokeKey(key),
    setFaults: (faults) => state.setFaults(faults),
    close() {
      closed ??= (async () => {
        state.closing.abort();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        // Open keep-alive and streaming sockets would keep close() waiting forever.
        for (const socket of sockets) socket.destroy();
        await stopped;
        // Responses emit 'close' a tick after their socket: wait so stats() is final.
        await state.settled();
      })();
      return closed;
    },
  };
}
