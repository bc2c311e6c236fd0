/**
 * An in-process Kimi that answers the real `openai` SDK through an injected
 * `fetch`, on a ManualClock: strict per-account limits over sliding windows,
 * Kimi's error bodies, scripted faults. Records every arrival so tests can
 * check the limits were never exceeded.
 */
import type { ManualClock } from '../../src/testing/manual-clock.js';
import { TIERS, WINDOWS_PER_DAY, type Limits } from '../../src/tiers.js';

export interface FakeAccount {
  readonly id: string;
  readonly keys: readonly string[];
  readonly limits?: Partial<Limits>;
}

export interface Arrival {
  readonly t: number;
  readonly done: number;
  readonly account: string;
  readonly key: string;
  readonly tokens: number;
}

/** A scripted answer: return one to replace the normal handling of a request. */
export interface Scripted {
  readonly status: number;
  readonly type?: string;
  readonly message?: string;
  readonly headers?: Record<string, string>;
  /** Throw a network error instead of answering (`'timeout'`: a connect timeout). */
  readonly drop?: boolean | 'timeout';
  /** Answer after this long instead of at once. @default 0 */
  readonly delayMs?: number;
  /** A raw body to send instead of a Kimi error body (e.g. malformed JSON with status 200). */
  readonly body?: string;
}

export interface FakeKimiOptions {
  readonly accounts: readonly FakeAccount[];
  readonly windowMs: number;
  /** Time from arrival to response. @default 100 */
  readonly latencyMs?: () => number;
  /** Time from the client's send to the server's arrival (jitter). @default 0 */
  readonly networkMs?: () => number;
  /**
   * Measure `latencyMs` from the client's send instead of the server's arrival:
   * the round trip stays fixed while the arrival jitters, so the jitter tests
   * the pool's safety margin without changing the ideal makespan.
   */
  readonly latencyFromSend?: boolean;
  /** Called at arrival (before the limits): return an answer to script a fault. */
  readonly script?: (req: { key: string; account: string; n: number; body: Record<string, unknown> }) => Scripted | undefined;
  /** Chunks per streamed reply. @default 3 */
  readonly streamChunks?: number;
  /** Throw after this many chunks of a stream (a cut stream). */
  readonly cutStreamAfter?: (n: number) => number | undefined;
}

interface AccountState {
  readonly id: string;
  limits: Limits;
  /** `available_balance`; at 0 or below chat answers a quota 429. */
  balance: number;
  inFlight: number;
  readonly starts: number[];
  readonly tokens: { t: number; n: number }[];
}

/** The simulator's rule (src/testing/simulator/content.ts): 3 + ceil(bytes/4) per message. */
export const promptTokens = (messages: unknown): number =>
  ((messages ?? []) as { content?: unknown }[]).reduce<number>((n, m) => {
    const text = typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? '');
    return n + 3 + Math.ceil(Buffer.byteLength(text, 'utf8') / 4);
  }, 0);

export class FakeKimi {
  readonly arrivals: Arrival[] = [];
  readonly refused: { t: number; account: string; dimension: string }[] = [];
  maxInFlight = new Map<string, number>();
  /** Questions to /users/me and /users/me/balance. */
  readonly asked: { t: number; path: 'me' | 'balance'; account: string }[] = [];
  private readonly accounts = new Map<string, AccountState>();
  private readonly byKey = new Map<string, AccountState>();
  private n = 0;

  constructor(
    private readonly clock: ManualClock,
    private readonly options: FakeKimiOptions,
  ) {
    for (const a of options.accounts) {
      const state: AccountState = { id: a.id, limits: { ...TIERS.tier0, ...a.limits }, balance: 100, inFlight: 0, starts: [], tokens: [] };
      this.accounts.set(a.id, state);
      for (const k of a.keys) this.byKey.set(k, state);
    }
  }

  /** Changes an account while it runs: its balance (a top-up) or its limits (a tier change). */
  setAccount(id: string, patch: { balance?: number; limits?: Partial<Limits> }): void {
    const a = this.accounts.get(id) as AccountState;
    if (patch.balance !== undefined) a.balance = patch.balance;
    if (patch.limits !== undefined) a.limits = { ...a.limits, ...patch.limits };
  }

  /** The `fetch` to give the pool's `clientOptions`. */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const signal = init?.signal ?? undefined;
    const auth = new Headers(init?.headers).get('authorization') ?? '';
    const key = auth.replace(/^Bearer /, '');
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const body = JSON.parse(String(init?.body ?? '{}')) as Record<string, unknown>;
    const network = this.options.networkMs?.() ?? 0;
    await this.sleep(network, signal);
    const n = this.n++;
    const account = this.byKey.get(key);
    if (account === undefined) return this.error(401, 'invalid_authentication_error', 'Invalid Authentication');
    const path = new URL(url).pathname;
    if (path.endsWith('/users/me') || path.endsWith('/users/me/balance')) {
      this.asked.push({ t: this.clock.now(), path: path.endsWith('/balance') ? 'balance' : 'me', account: account.id });
      const l = account.limits;
      const n = (v: number): number | undefined => (Number.isFinite(v) ? v : undefined);
      const data = path.endsWith('/balance')
        ? { available_balance: account.balance, voucher_balance: 0, cash_balance: account.balance }
        : { organization: { id: account.id, max_concurrency: n(l.concurrency), max_request_per_minute: n(l.rpm), max_token_per_minute: n(l.tpm), max_token_quota: n(l.tpd) } };
      return new Response(JSON.stringify({ code: 0, data, scode: '0x0', status: true }), { status: 200, headers: { 'content-type': 'application/json' } });
    }
    if (account.balance <= 0) return this.error(429, 'exceeded_current_quota_error', 'Your account is suspended due to insufficient balance, please recharge your account');
    const scripted = this.options.script?.({ key, account: account.id, n, body });
    if (scripted?.delayMs !== undefined) await this.sleep(scripted.delayMs, signal);
    if (scripted?.drop === 'timeout') throw new TypeError('fetch failed', { cause: Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }) });
    if (scripted?.drop === true) throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    if (scripted?.body !== undefined) return new Response(scripted.body, { status: scripted.status, headers: { 'content-type': 'application/json', ...scripted.headers } });
    if (scripted !== undefined) return this.error(scripted.status, scripted.type, scripted.message ?? 'scripted', scripted.headers);
    const now = this.clock.now();
    const w = this.options.windowMs;
    const l = account.limits;
    const reserve = promptTokens(body.messages) + Number(body.max_tokens ?? body.max_completion_tokens ?? 32_768);
    const inWindow = account.starts.filter((t) => t > now - w).length;
    const tpm = account.tokens.filter((e) => e.t > now - w).reduce((s, e) => s + e.n, 0);
    const tpd = account.tokens.filter((e) => e.t > now - w * WINDOWS_PER_DAY).reduce((s, e) => s + e.n, 0);
    const ak = `ak-${key.slice(-4)}`;
    if (account.inFlight >= l.concurrency) return this.refuse(account, 'concurrency', `Your account ${account.id}<${ak}> request reached organization max concurrency: ${l.concurrency}, please try again after 1 seconds`);
    if (inWindow >= l.rpm) {
      const oldest = account.starts.filter((t) => t > now - w)[0] as number;
      const s = Math.max(1, Math.ceil((oldest + w - now) / 1000));
      return this.refuse(account, 'rpm', `Your account ${account.id}<${ak}> request reached organization max RPM: ${l.rpm}, please try again after ${s} seconds`);
    }
    if (tpm + reserve > l.tpm) return this.refuse(account, 'tpm', `Your account ${account.id}<${ak}> request reached organization TPM rate limit, current:${tpm + reserve}, limit:${l.tpm}`);
    if (tpd + reserve > l.tpd) return this.refuse(account, 'tpd', `Your account ${account.id}<${ak}> request reached organization TPD rate limit, current:${tpd + reserve}, limit:${l.tpd}`);
    account.starts.push(now);
    account.tokens.push({ t: now, n: reserve });
    account.inFlight++;
    this.maxInFlight.set(account.id, Math.max(this.maxInFlight.get(account.id) ?? 0, account.inFlight));
    const arrival = { t: now, done: NaN, account: account.id, key, tokens: reserve };
    this.arrivals.push(arrival);
    const messages = (body.messages ?? []) as { content?: unknown }[];
    const reply = `echo: ${String(messages[messages.length - 1]?.content ?? '')}`;
    const usage = { prompt_tokens: promptTokens(body.messages), completion_tokens: 5, total_tokens: promptTokens(body.messages) + 5 };
    try {
      const latency = this.options.latencyMs?.() ?? 100;
      await this.sleep(this.options.latencyFromSend === true ? Math.max(0, latency - network) : latency, signal);
    } catch (error) {
      account.inFlight--;
      (arrival as { done: number }).done = this.clock.now();
      throw error;
    }
    if (body.stream === true) return this.stream(account, arrival, reply, usage, signal, n);
    account.inFlight--;
    (arrival as { done: number }).done = this.clock.now();
    const completion = { id: `cmpl-${n}`, object: 'chat.completion', created: 0, model: String(body.model), choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }], usage };
    return new Response(JSON.stringify(completion), { status: 200, headers: { 'content-type': 'application/json', 'msh-org-id': account.id } });
  };

  /** Checks every sliding window of every account against its limits; returns the violations. */
  violations(): string[] {
    const out: string[] = [];
    const w = this.options.windowMs;
    for (const a of this.accounts.values()) {
      const mine = this.arrivals.filter((x) => x.account === a.id).sort((x, y) => x.t - y.t);
      for (let i = 0; i < mine.length; i++) {
        const t = (mine[i] as Arrival).t;
        const win = mine.filter((x) => x.t > t - w && x.t <= t);
        if (win.length > a.limits.rpm) out.push(`${a.id}: ${win.length} starts in the window ending ${t}`);
        const tok = win.reduce((s, x) => s + x.tokens, 0);
        if (tok > a.limits.tpm) out.push(`${a.id}: ${tok} tokens in the window ending ${t}`);
      }
      if ((this.maxInFlight.get(a.id) ?? 0) > a.limits.concurrency) out.push(`${a.id}: ${this.maxInFlight.get(a.id)} in flight`);
    }
    return out;
  }

  private stream(account: AccountState, arrival: Arrival, reply: string, usage: object, signal: AbortSignal | undefined, n: number): Response {
    const chunks = this.options.streamChunks ?? 3;
    const cut = this.options.cutStreamAfter?.(n);
    const enc = new TextEncoder();
    let i = 0;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      account.inFlight--;
      (arrival as { done: number }).done = this.clock.now();
    };
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        // Like undici: aborting the request's signal errors a body still being read.
        signal?.addEventListener('abort', () => {
          if (finished) return;
          finish();
          controller.error(signal.reason ?? new DOMException('This operation was aborted', 'AbortError'));
        }, { once: true });
      },
      pull: async (controller) => {
        if (finished) return;
        if (cut !== undefined && i === cut) {
          finish();
          controller.error(Object.assign(new Error('terminated'), { code: 'ECONNRESET' }));
          return;
        }
        if (i > 0) await this.sleep(10, signal).catch(() => undefined);
        if (finished) return;
        if (i < chunks) {
          const part = reply.slice(Math.floor((i * reply.length) / chunks), Math.floor(((i + 1) * reply.length) / chunks));
          const last = i === chunks - 1;
          const chunk = { id: `cmpl-${n}`, object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: part }, finish_reason: last ? 'stop' : null, ...(last ? { usage } : {}) }] };
          controller.enqueue(enc.encode(`data: ${JSON.stringify(chunk)}\n\n`));
          i++;
          return;
        }
        controller.enqueue(enc.encode('data: [DONE]\n\n'));
        finish();
        controller.close();
      },
      cancel: () => finish(),
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  }

  private refuse(account: AccountState, dimension: string, message: string): Response {
    this.refused.push({ t: this.clock.now(), account: account.id, dimension });
    return this.error(429, 'rate_limit_reached_error', message);
  }

  private error(status: number, type: string | undefined, message: string, headers: Record<string, string> = {}): Response {
    return new Response(JSON.stringify({ error: { type, message } }), { status, headers: { 'content-type': 'application/json', ...headers } });
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = this.clock.setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => {
        this.clock.clearTimeout(t);
        reject(signal.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError'));
      }, { once: true });
    });
  }
}
