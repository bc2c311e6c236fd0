import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { NEVER, type AccountUsage, type DisabledInfo, type LimitStore, type StoreAccount, type StoreContext, type StoreEvent } from '../store/limit-store.js';
import type { Limits } from '../tiers.js';
import { storeError } from './errors.js';
import { resolveRedisOptions, type RedisStoreOptions, type ResolvedRedisOptions } from './options.js';
import { closeOwned, connectRedis, connectSubscriber, type OwnedClient, type RedisClientLike } from './redis-client.js';
import { absorbReply, heldMembers, hold, letGo, newAccountState, usageOf, type AbsorbingStore, type AccountState } from './account-state.js';
import { ACQUIRE, DISABLE, ENABLE, MERGE, MERGES, OBSERVE, PAUSE, RELEASE, RENEW, RESTAMP, SET_LIMITS, SYNC, accountKeys, encodeLimits, type Reply, type Script } from './scripts.js';
import { clientOrThrow, readReply, runScript, writeEventually } from './run-script.js';
import { StoreChannel, type ChannelMessage } from './store-channel.js';
import { EventQueue } from './event-queue.js';
import { NO_TIMING, spans, storeTiming, type StoreTiming } from './store-timing.js';

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
  private readonly channel: StoreChannel;
  private readonly accounts = new Map<string, AccountState>();
  private client: RedisClientLike | undefined;
  private owned: OwnedClient | undefined;
  private readonly events = new EventQueue();
  private clock: Clock | undefined;
  private timing: StoreTiming = NO_TIMING;
  private seq = 0;
  /** The last acquire failed: Redis may have granted it and the answer been lost. Its retry reuses the member. */
  private lost: { readonly account: string; readonly lease: number; readonly cost: number; readonly member: string } | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private startError: unknown;
  private started: Promise<void> | undefined;
  private closed = false;
  /** What absorbReply needs of this store. */
  private readonly absorbing: AbsorbingStore = { emit: (e) => this.events.emit(e), renew: (a) => this.renew(a), now: () => (this.clock as Clock).now() };

  constructor(options: RedisStoreOptions) {
    this.options = resolveRedisOptions(options);
    this.prefix = this.options.prefix;
    this.leaseMs = this.options.leaseMs;
    this.pollMs = this.options.pollMs;
    this.channel = new StoreChannel(this.prefix, this.workerId);
  }

  listen(listener: (event: StoreEvent) => void): void {
    this.events.listen(listener);
  }

  init(context: StoreContext): Promise<void> {
    this.clock = context.clock;
    this.timing = storeTiming(context, this.leaseMs);
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
      const sub = this.owned !== undefined ? await connectSubscriber(url as string) : this.client.duplicate?.();
      this.channel.listen(sub, (m) => this.onMessage(m));
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
    this.accounts.set(account.id, newAccountState(account.id, accountKeys(this.prefix, account.id), encodeLimits(account.limits), this.timing.span, this.timing.daySpan));
  }

  /**
   * Records that `from` is `into` (Msh-Org-Id, discovery) and tells the other
   * pools (event `merged`); pools that start later read it at init. Usage
   * recorded under `from` stays there: for one window the two may count
   * apart, and a 429 then is handled as any other. Never rejects.
   */
  merge(from: string, into: string): Promise<void> {
    return this.persist(() => this.eval(MERGE, [`${this.prefix}merges`], [from, into, ...this.channel.publish({ t: 'm', a: from, i: into })]));
  }

  /** Clears a disabled flag (recovery, a key added again) and tells the other pools (event `enabled`). Never rejects. */
  enable(info: { readonly scope: 'key' | 'account'; readonly account: string; readonly key: string | undefined }): Promise<void> {
    const a = this.accounts.get(info.account);
    if (a === undefined) return Promise.resolve();
    const field = info.scope === 'account' ? 'off' : `k:${info.key ?? ''}`;
    a.seen.delete(field);
    return this.persist(() => this.eval(ENABLE, [a.keys[0] as string], [field, ...this.channel.publish({ t: 'e', a: a.id, f: field })]));
  }

  /** Merges recorded by pools before this one started. */
  private async readMerges(): Promise<void> {
    const raw = await this.eval(MERGES, [`${this.prefix}merges`], []).catch(() => []);
    if (!Array.isArray(raw)) return;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const from = String(raw[i]);
      if (this.accounts.has(from)) this.events.emit({ type: 'merged', account: from, into: String(raw[i + 1]) });
    }
  }

  /** Runs a run-time edit script (merge, merges, enable), which reads no account state. */
  private async eval(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return runScript(clientOrThrow(this.client, this.startError), script, keys, args);
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
      r = await this.call(ACQUIRE, a, [cost, member, this.leaseMs, this.timing.granularity, pauseMs, this.pollMs]);
    } catch (error) {
      this.lost = { account, lease, cost, member };
      throw error;
    }
    a.full = r.status === 1 && r.concurrencyFull;
    switch (r.status) {
      case 0:
        hold(a, lease, member);
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
    if ((this.clock as Clock).now() - grant.at <= this.timing.restampAfterMs) return Promise.resolve();
    return this.run(RESTAMP, a, [member, grant.cost]).then(noop, noop);
  }

  /** Widens the account's windows by `marginMs` over the window, for this pool's decisions from now on. */
  setMargin(account: string, marginMs: number): void {
    const a = this.account(account);
    ({ span: a.span, daySpan: a.daySpan } = spans(this.timing.windowMs, marginMs));
  }

  release(account: string, lease: number): Promise<void> {
    const a = this.account(account);
    const member = letGo(a, lease);
    if (member === undefined) return Promise.resolve();
    // If Redis cannot hear it now, the lease expires on its own within leaseMs.
    return this.persist(() => this.run(RELEASE, a, [member, ...this.channel.publish({ t: 'w', a: a.id })]).then(() => this.wake(a, false)));
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
    return this.persist(() => this.call(OBSERVE, a, [dimension === 'tpd' ? 'tpd' : 'tpm', n, this.timing.granularity]));
  }

  disable(info: DisabledInfo): Promise<void> {
    const a = this.account(info.account);
    const field = info.scope === 'account' ? 'off' : `k:${info.key ?? ''}`;
    a.seen.add(field);
    // Only what the other pools need: never the key, nor the message.
    const reason = JSON.stringify({ key: info.key, status: info.status, kimiType: info.kimiType });
    return this.persist(() => this.call(DISABLE, a, [field, reason, ...this.channel.publish({ t: 'd', a: a.id })]));
  }

  usage(account: string): AccountUsage {
    return usageOf(this.account(account), (this.clock as Clock).now());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.events.close();
    // Closed while still connecting: let that finish, then close what it made.
    await this.started?.catch(noop);
    if (this.timer !== undefined) clearInterval(this.timer);
    // Normally nothing: the pool closes the store once its requests ended.
    const left: Promise<unknown>[] = [];
    for (const a of this.accounts.values()) {
      for (const m of heldMembers(a)) left.push(this.run(RELEASE, a, [m, '', '']).catch(noop));
      a.held.clear();
      a.heldCount = 0;
    }
    await Promise.all(left);
    this.client?.off?.('ready', this.onReady);
    await this.channel.close();
    if (this.owned !== undefined) await closeOwned(this.owned);
  }

  /** Creates or joins the account's state and learns what is recorded there (limits, disabled). */
  private async sync(a: AccountState): Promise<void> {
    await this.call(SYNC, a, []);
    a.synced = true;
  }

  /** Renews this pool's leases. */
  private tick(): void {
    for (const a of this.accounts.values()) {
      if (a.heldCount > 0) this.renew(a).catch(noop);
    }
    this.channel.resubscribe();
  }

  private renew(a: AccountState): Promise<Reply> {
    return this.call(RENEW, a, [this.leaseMs, ...heldMembers(a)]);
  }

  /** Connected (again): re-register leases now and let the pool retry at once rather than after its backoff. */
  private readonly onReady = (): void => {
    for (const a of this.accounts.values()) {
      if (a.heldCount > 0) this.renew(a).catch(noop);
      this.wake(a);
    }
  };

  /** What another pool said on the channel about an account. */
  private onMessage(m: ChannelMessage): void {
    const a = this.accounts.get(m.a);
    if (a === undefined) return;
    if (m.t === 'w') this.wake(a, false);
    else if (m.t === 'm') this.events.emit({ type: 'merged', account: a.id, into: m.i });
    else if (m.t === 'e') {
      a.seen.delete(m.f);
      this.events.emit({ type: 'enabled', scope: m.f === 'off' ? 'account' : 'key', account: a.id, key: m.f === 'off' ? undefined : m.f.slice(2) });
    }
    // The answer carries the disabled fields; absorbing it reports them.
    else this.call(RENEW, a, [this.leaseMs]).catch(noop);
  }

  /** Lets the pool ask again now; a freed slot only matters to an account that was full. */
  private wake(a: AccountState, always = true): void {
    a.wakes++;
    if (always || a.full) this.events.emit({ type: 'wake', account: a.id });
  }

  /** Runs a per-account script and learns from its answer. */
  private async call(script: Script, a: AccountState, extra: readonly (string | number)[]): Promise<Reply> {
    const r = readReply(script, await this.run(script, a, extra));
    absorbReply(a, r, this.absorbing);
    return r;
  }

  /** Runs a per-account script: its keys, then the ARGV every script takes first (prelude.lua), then `extra`. */
  private async run(script: Script, a: AccountState, extra: readonly (string | number)[]): Promise<unknown> {
    return runScript(clientOrThrow(this.client, this.startError), script, a.keys, [a.epoch, a.cfg, a.span, a.daySpan, this.timing.ttl, a.dv, ...extra]);
  }

  /** A write that must reach Redis eventually (run-script.ts), retried until the store closes. Never rejects. */
  private persist(op: () => Promise<unknown>): Promise<void> {
    return writeEventually(op, () => this.closed);
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
