import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { NEVER, type AccountUsage, type DisabledInfo, type LimitStore, type StoreAccount, type StoreContext, type StoreEvent } from '../store/limit-store.js';
import { WINDOWS_PER_DAY, type Limits } from '../tiers.js';
import { RedisStoreError, isPermanent, isPermanentReply, storeError } from './errors.js';
import { resolveRedisOptions, type RedisStoreOptions, type ResolvedRedisOptions } from './options.js';
import { connectRedis, connectSubscriber, isNoScript, type OwnedClient, type RedisClientLike, type RedisSubscriberLike } from './redis-client.js';
import { ENABLE_LUA, MERGE_LUA, MERGES_LUA } from './edit-scripts.js';
import { absorbReply, newAccountState, type AbsorbingStore, type AccountState } from './account-state.js';
import { ACQUIRE, DISABLE, OBSERVE, PAUSE, RELEASE, RENEW, RESTAMP, SET_LIMITS, SYNC, accountKeys, encodeLimits, parseReply, type Reply, type Script } from './scripts.js';

const RETRY_MS = [100, 250, 500, 1000, 2000, 5000, 10_000];
const noop = (): void => undefined;

/**
 * Account limits kept in Redis, shared by every pool (process, machine) that
 * uses the same Redis and prefix. Each decision is one Lua script on the
 * Redis clock; in-flight slots are leases that expire unless renewed.
 * See docs/distributed.md for the failure modes.
 */
export class RedisStore implements LimitStore {
  /** This pool's id in lease members and pub/sub messages. */
  readonly workerId = randomBytes(6).toString('hex');
  readonly prefix: string;
  readonly leaseMs: number;
  readonly pollMs: number;
  private readonly options: ResolvedRedisOptions;
  private readonly channel: string;
  private readonly accounts = new Map<string, AccountState>();
  private client: RedisClientLike | undefined;
  private owned: OwnedClient | undefined;
  private sub: RedisSubscriberLike | undefined;
  private subscribed = false;
  private listener: ((event: StoreEvent) => void) | undefined;
  private events: StoreEvent[] = [];
  private clock: Clock | undefined;
  private span = 0;
  private daySpan = 0;
  private windowMs = 0;
  private granularity = 1;
  private restampAfterMs = 10;
  private ttl = 0;
  private seq = 0;
  /** The last acquire failed: Redis may have granted it and the answer been lost. Its retry reuses the member. */
  private lost: { readonly account: string; readonly lease: number; readonly cost: number; readonly member: string } | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private startError: unknown;
  private started: Promise<void> | undefined;
  private closed = false;
  /** What absorbReply needs of this store. */
  private readonly absorbing: AbsorbingStore = { emit: (e) => this.emit(e), renew: (a) => this.renew(a), now: () => (this.clock as Clock).now() };

  constructor(options: RedisStoreOptions) {
    this.options = resolveRedisOptions(options);
    this.prefix = this.options.prefix;
    this.leaseMs = this.options.leaseMs;
    this.pollMs = this.options.pollMs;
    this.channel = `${this.prefix}events`;
  }

  listen(listener: (event: StoreEvent) => void): void {
    this.listener = listener;
  }

  init(context: StoreContext): Promise<void> {
    this.clock = context.clock;
    this.windowMs = context.windowMs;
    this.span = context.windowMs + context.safetyMarginMs;
    this.daySpan = context.windowMs * WINDOWS_PER_DAY + context.safetyMarginMs;
    this.granularity = context.windowMs / 60;
    this.restampAfterMs = Math.max(2, context.safetyMarginMs / 5);
    // Idle state lives one day window past its last use, then Redis drops it.
    this.ttl = Math.ceil(this.daySpan + this.span + this.leaseMs);
    for (const a of context.accounts) this.addAccount(a);
    this.started = this.start();
    return this.started;
  }

  private async start(): Promise<void> {
    const { url, client } = this.options;
    if (client !== undefined) this.client = client;
    else {
      try {
        this.client = this.owned = await connectRedis(url as string, { commandTimeoutMs: this.options.commandTimeoutMs });
      } catch (error) {
        // No ioredis (or it refused the URL): nothing will ever run. Every call rejects with this.
        throw (this.startError = storeError('creating the ioredis client', error, true));
      }
    }
    this.client.on?.('ready', this.onReady);
    if (this.options.subscribe) {
      this.sub = this.owned !== undefined ? await connectSubscriber(url as string) : this.client.duplicate?.();
      this.sub?.on('error', noop);
      this.sub?.on('message', (_channel: string, message: string) => this.onMessage(message));
      this.subscribe();
    }
    this.timer = setInterval(() => this.tick(), this.leaseMs / 3);
    this.timer.unref();
    if (this.owned !== undefined) {
      // If Redis is down the client keeps reconnecting; decisions fail fast and the pool retries them.
      await this.owned.connect().catch((error: unknown) => Promise.reject(storeError('connect', error, false)));
    }
    await Promise.all([...this.accounts.values()].map((a) => this.sync(a)));
    await this.readMerges();
  }

  /** An account learned of at run time (or at init): its state is joined on first use. */
  addAccount(account: StoreAccount): void {
    if (this.accounts.has(account.id)) return;
    this.accounts.set(account.id, newAccountState(account.id, accountKeys(this.prefix, account.id), encodeLimits(account.limits), this.span, this.daySpan));
  }

  /**
   * Records that `from` is `into` (Msh-Org-Id, discovery) and tells the other
   * pools (event `merged`); pools that start later read it at init. Usage
   * recorded under `from` stays there: for one window the two may count
   * apart, and a 429 then is handled as any other. Never rejects.
   */
  merge(from: string, into: string): Promise<void> {
    const message = JSON.stringify({ t: 'm', w: this.workerId, a: from, i: into });
    return this.persist(() => this.eval(MERGE_LUA, [`${this.prefix}merges`], [from, into, this.sub !== undefined ? this.channel : '', message]));
  }

  /** Clears a disabled flag (recovery, a key added again) and tells the other pools (event `enabled`). Never rejects. */
  enable(info: { readonly scope: 'key' | 'account'; readonly account: string; readonly key: string | undefined }): Promise<void> {
    const a = this.accounts.get(info.account);
    if (a === undefined) return Promise.resolve();
    const field = info.scope === 'account' ? 'off' : `k:${info.key ?? ''}`;
    a.seen.delete(field);
    const message = JSON.stringify({ t: 'e', w: this.workerId, a: a.id, f: field });
    return this.persist(() => this.eval(ENABLE_LUA, [a.keys[0] as string], [field, this.sub !== undefined ? this.channel : '', message]));
  }

  /** Merges recorded by pools before this one started. */
  private async readMerges(): Promise<void> {
    const raw = await this.eval(MERGES_LUA, [`${this.prefix}merges`], []).catch(() => []);
    if (!Array.isArray(raw)) return;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const from = String(raw[i]);
      if (this.accounts.has(from)) this.emit({ type: 'merged', account: from, into: String(raw[i + 1]) });
    }
  }

  private eval(lua: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const client = this.client;
    if (client === undefined) return Promise.reject(new RedisStoreError('Redis store: init() has not run', { permanent: true }));
    return client.eval(lua, keys.length, ...keys, ...args);
  }

  async acquire(account: string, tokens: number, lease: number): Promise<number> {
    const a = this.account(account);
    const clock = this.clock as Clock;
    const cost = Math.ceil(tokens);
    // Only the next call, if it retries the failed one (same lease, account, tokens), reuses its member: the script
    // gives back a grant whose answer was lost and decides again. Other calls ask anew (a lost grant then expires).
    const last = this.lost;
    this.lost = undefined;
    const reuse = last !== undefined && last.account === account && last.lease === lease && last.cost === cost;
    const member = reuse ? last.member : `${this.workerId}:${lease}:${(++this.seq).toString(36)}`;
    let r: Reply, asked: number, wakes: number;
    try {
      if (!a.synced) await this.sync(a);
      wakes = a.wakes;
      asked = clock.now();
      const pauseMs = Math.max(0, Math.ceil(a.pauseUntil - asked));
      r = await this.call(ACQUIRE, a, [cost, member, this.leaseMs, this.granularity, pauseMs, this.pollMs]);
    } catch (error) {
      this.lost = { account, lease, cost, member };
      throw error;
    }
    a.full = r.status === 1 && r.concurrencyFull;
    switch (r.status) {
      case 0:
        this.hold(a, lease, member);
        a.unsent.set(member, { cost, at: asked });
        return 0;
      case 2:
        return NEVER;
      case 3:
        // Disabled by another pool: the 'disabled' event takes the account out; until then, wait.
        return this.pollMs;
      default:
        return r.concurrencyFull && a.wakes !== wakes ? 1 : Math.max(1, r.wait);
    }
  }

  /**
   * The request left now: its start and TPM reservation, recorded at the
   * server's time of the grant, move to the server's time of this call
   * (RESTAMP: only ever later). Skipped when it left within `restampAfterMs`
   * of asking for the grant, which the margin covers: most requests then cost
   * no extra round trip. Never rejects.
   */
  sent(account: string, lease: number, _tokens: number): Promise<void> {
    const a = this.account(account);
    const list = a.held.get(lease);
    const member = list?.[list.length - 1];
    const grant = member === undefined ? undefined : a.unsent.get(member);
    if (member === undefined || grant === undefined) return Promise.resolve();
    a.unsent.delete(member);
    if ((this.clock as Clock).now() - grant.at <= this.restampAfterMs) return Promise.resolve();
    return this.run(RESTAMP, a, [member, grant.cost]).then(noop, noop);
  }

  /** Widens the account's windows by `marginMs` over the window, for this pool's decisions from now on. */
  setMargin(account: string, marginMs: number): void {
    const a = this.account(account);
    a.span = this.windowMs + marginMs;
    a.daySpan = this.windowMs * WINDOWS_PER_DAY + marginMs;
  }

  release(account: string, lease: number): Promise<void> {
    const a = this.account(account);
    const list = a.held.get(lease);
    const member = list?.shift();
    if (member !== undefined) a.unsent.delete(member);
    if (list === undefined || member === undefined) return Promise.resolve();
    if (list.length === 0) a.held.delete(lease);
    a.heldCount--;
    const message = JSON.stringify({ t: 'w', w: this.workerId, a: a.id });
    // If Redis cannot hear it now, the lease expires on its own within leaseMs.
    return this.persist(() => this.run(RELEASE, a, [member, this.sub !== undefined ? this.channel : '', message]).then(() => this.wake(a, false)));
  }

  pause(account: string, ms: number): Promise<void> {
    const a = this.account(account);
    const until = (this.clock as Clock).now() + ms;
    if (until > a.pauseUntil) a.pauseUntil = until;
    return this.persist(() => this.call(PAUSE, a, [Math.ceil(ms)]));
  }

  setLimits(account: string, limits: Limits): Promise<void> {
    const a = this.account(account);
    const lim = encodeLimits(limits);
    a.lim = lim;
    return this.persist(() => this.call(SET_LIMITS, a, [lim]));
  }

  /** Records what a TPM or TPD 429 said the API counted ("current"). Never rejects. */
  observe(account: string, dimension: 'tpm' | 'tpd', used: number): Promise<void> {
    const a = this.account(account);
    const n = Math.ceil(used);
    if (!(n > 0) || !Number.isFinite(n)) return Promise.resolve();
    return this.persist(() => this.call(OBSERVE, a, [dimension === 'tpd' ? 'tpd' : 'tpm', n, this.granularity]));
  }

  disable(info: DisabledInfo): Promise<void> {
    const a = this.account(info.account);
    const field = info.scope === 'account' ? 'off' : `k:${info.key ?? ''}`;
    a.seen.add(field);
    // Only what the other pools need: never the key, nor the message.
    const reason = JSON.stringify({ key: info.key, status: info.status, kimiType: info.kimiType });
    const message = JSON.stringify({ t: 'd', w: this.workerId, a: a.id });
    return this.persist(() => this.call(DISABLE, a, [field, reason, this.sub !== undefined ? this.channel : '', message]));
  }

  usage(account: string): AccountUsage {
    const a = this.account(account);
    const now = (this.clock as Clock).now();
    const r = a.snap.reply;
    const elapsed = now - a.snap.at;
    let pausedUntil = r !== undefined && r.pauseLeft > elapsed ? a.snap.at + r.pauseLeft : -Infinity;
    if (a.pauseUntil > pausedUntil) pausedUntil = a.pauseUntil;
    return {
      inFlight: r?.inFlight ?? 0,
      startsInWindow: r?.starts ?? 0,
      tokensInWindow: r?.tokens ?? 0,
      pausedUntil: pausedUntil > now ? pausedUntil : null,
      nextFreeInMs: r?.concurrencyFull === true ? null : Math.max(0, (r?.status === 1 ? r.wait : 0) - elapsed, pausedUntil - now),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Closed while still connecting: let that finish, then close what it made.
    await this.started?.catch(noop);
    if (this.timer !== undefined) clearInterval(this.timer);
    // Normally nothing: the pool closes the store once its requests ended.
    const left: Promise<unknown>[] = [];
    for (const a of this.accounts.values()) {
      for (const list of a.held.values()) for (const m of list) left.push(this.run(RELEASE, a, [m, '', '']).catch(noop));
      a.held.clear();
      a.heldCount = 0;
    }
    await Promise.all(left);
    this.client?.off?.('ready', this.onReady);
    const sub = this.sub as (RedisSubscriberLike & { disconnect?: () => void }) | undefined;
    if (sub?.disconnect !== undefined) sub.disconnect();
    else await sub?.quit().catch(noop);
    const owned = this.owned;
    if (owned !== undefined) {
      if (owned.status === 'ready') await owned.quit().catch(() => owned.disconnect());
      else owned.disconnect();
    }
  }

  /** Creates or joins the account's state and learns what is recorded there (limits, disabled). */
  private async sync(a: AccountState): Promise<void> {
    await this.call(SYNC, a, []);
    a.synced = true;
  }

  private hold(a: AccountState, lease: number, member: string): void {
    const list = a.held.get(lease);
    if (list === undefined) a.held.set(lease, [member]);
    else list.push(member);
    a.heldCount++;
  }

  /** Renews this pool's leases. */
  private tick(): void {
    for (const a of this.accounts.values()) {
      if (a.heldCount > 0) this.renew(a).catch(noop);
    }
    if (this.sub !== undefined && !this.subscribed) this.subscribe();
  }

  private renew(a: AccountState): Promise<Reply> {
    const members: string[] = [];
    for (const list of a.held.values()) members.push(...list);
    return this.call(RENEW, a, [this.leaseMs, ...members]);
  }

  private subscribe(): void {
    this.subscribed = true;
    this.sub?.subscribe(this.channel).catch(() => {
      this.subscribed = false;
    });
  }

  /** Connected (again): re-register leases now and let the pool retry at once rather than after its backoff. */
  private readonly onReady = (): void => {
    for (const a of this.accounts.values()) {
      if (a.heldCount > 0) this.renew(a).catch(noop);
      this.wake(a);
    }
  };

  private onMessage(message: string): void {
    let m: { t?: unknown; w?: unknown; a?: unknown };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      return;
    }
    if (m.w === this.workerId || typeof m.a !== 'string') return;
    const a = this.accounts.get(m.a);
    if (a === undefined) return;
    if (m.t === 'w') this.wake(a, false);
    else if (m.t === 'm' && typeof (m as { i?: unknown }).i === 'string') this.emit({ type: 'merged', account: a.id, into: (m as { i: string }).i });
    else if (m.t === 'e' && typeof (m as { f?: unknown }).f === 'string') {
      const field = (m as { f: string }).f;
      a.seen.delete(field);
      this.emit({ type: 'enabled', scope: field === 'off' ? 'account' : 'key', account: a.id, key: field === 'off' ? undefined : field.slice(2) });
    }
    // The answer carries the disabled fields; absorbing it reports them.
    else if (m.t === 'd') this.call(RENEW, a, [this.leaseMs]).catch(noop);
  }

  /** Lets the pool ask again now; a freed slot only matters to an account that was full. */
  private wake(a: AccountState, always = true): void {
    a.wakes++;
    if (always || a.full) this.emit({ type: 'wake', account: a.id });
  }

  /** Runs a per-account script and learns from its answer. */
  private async call(script: Script, a: AccountState, extra: readonly (string | number)[]): Promise<Reply> {
    const raw = await this.run(script, a, extra);
    let r: Reply;
    try {
      r = parseReply(raw);
    } catch (error) {
      // Not a script's answer: not a Redis, or a client or proxy that changes replies. Asking again gets the same.
      throw storeError(script.name, error, true);
    }
    absorbReply(a, r, this.absorbing);
    return r;
  }

  /** Runs a script. Rejects with a {@link RedisStoreError}, `permanent` when no retry can help. */
  private async run(script: Script, a: AccountState, extra: readonly (string | number)[]): Promise<unknown> {
    const client = this.client;
    if (client === undefined) {
      if (this.startError !== undefined) throw this.startError;
      throw new RedisStoreError('Redis store: init() has not run', { permanent: true });
    }
    const args: (string | number)[] = [...a.keys, a.epoch, a.cfg, a.span, a.daySpan, this.ttl, a.dv, ...extra];
    try {
      return await client.evalsha(script.sha, a.keys.length, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw storeError(script.name, error);
    }
    // First use on this server, or it restarted: EVAL loads the script. A server that answers
    // NOSCRIPT here too, or has no EVAL, will never run it.
    try {
      return await client.eval(script.lua, a.keys.length, ...args);
    } catch (error) {
      throw storeError(script.name, error, isNoScript(error) || isPermanentReply(error));
    }
  }

  /** Events reach the pool after the current answer was handled, never in the middle of it. */
  private emit(event: StoreEvent): void {
    if (this.listener === undefined || this.closed) return;
    this.events.push(event);
    if (this.events.length === 1) {
      setImmediate(() => {
        const events = this.events;
        this.events = [];
        for (const e of events) this.listener?.(e);
      });
    }
  }

  /** A write that must reach Redis eventually: tried now, then again in the background. Never rejects. */
  private persist(op: () => Promise<unknown>): Promise<void> {
    const again = (n: number, error: unknown): void => {
      if (this.closed || n >= RETRY_MS.length || isPermanent(error)) return;
      setTimeout(() => op().then(noop, (e: unknown) => again(n + 1, e)), RETRY_MS[n]).unref();
    };
    return op().then(noop, (e: unknown) => again(0, e));
  }

  private account(id: string): AccountState {
    const a = this.accounts.get(id);
    if (a === undefined) throw new Error(`RedisStore: unknown account ${id}`);
    return a;
  }
}

/**
 * A limit store in Redis, shared by every pool that uses the same Redis and
 * prefix: `new KimiPool({ keys, store: redisStore({ url: process.env.REDIS_URL }) })`.
 */
export function redisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
