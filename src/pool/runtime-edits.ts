/**
 * Changes to a running pool: keys added and removed, limits set (a tier
 * upgrade), and the modules that change it on their own (discovery, account
 * merging, recovery), wired to the engine. Through a shared store the other
 * pools hear of removed keys, set limits, merged and restored accounts; keys
 * themselves never go through a store (each pool adds its own).
 */
import type { EventEmitter } from 'eventemitter3';
import { checkNumber, resolveConfig, type ResolvedKey } from '../config.js';
import { ConfigError, PoolClosedError } from '../errors.js';
import type { KimiPoolEvents } from '../events.js';
import type { KeyConfig, KimiPoolOptions, LimitOverrides } from '../options.js';
import type { StoreEvent } from '../store/limit-store.js';
import { isTierName, TIERS, type Limits, type TierName } from '../tiers.js';
import { AccountMerger } from './account-merge.js';
import { quiet } from './awaitable.js';
import { Discovery } from './discovery.js';
import type { Engine } from './engine.js';
import type { AccountMember, KeyMember } from './members.js';
import { Recovery } from './recovery.js';
import { Roster } from './roster.js';

const FIELDS = ['concurrency', 'rpm', 'tpm', 'tpd'] as const;

/** The limit numbers given for an account, in `accounts` or on its keys: they win over discovery. */
function pinnedFor(options: KimiPoolOptions, account: string, keys: readonly ResolvedKey[]): Partial<Limits> {
  const out: { -readonly [K in keyof Limits]?: number } = {};
  const take = (o: LimitOverrides | undefined): void => {
    for (const f of FIELDS) if (o?.[f] !== undefined) out[f] = o[f];
  };
  take(options.accounts?.[account]);
  if (Array.isArray(options.keys)) {
    const mine = new Set(keys.map((k) => k.apiKey));
    for (const k of options.keys as readonly (string | KeyConfig)[]) if (typeof k === 'object' && k !== null && mine.has(String(k.key).trim())) take(k);
  }
  return out;
}

/** Keys to discover: all with `discover: true`, else those whose KeyConfig says so. */
function discoverSet(options: KimiPoolOptions): (apiKey: string) => boolean {
  const pool = options.discover === true;
  const own = new Map<string, boolean>();
  if (Array.isArray(options.keys)) {
    for (const k of options.keys as readonly (string | KeyConfig)[]) if (typeof k === 'object' && k !== null && typeof k.discover === 'boolean') own.set(String(k.key).trim(), k.discover);
  }
  return (apiKey) => own.get(apiKey) ?? pool;
}

export class RuntimeEdits {
  readonly roster: Roster;
  readonly merger: AccountMerger;
  readonly recovery: Recovery;
  private readonly discovery: Discovery;
  private readonly discovers: (apiKey: string) => boolean;
  private readonly removing = new Map<KeyMember, () => void>();

  constructor(
    private readonly engine: Engine,
    private readonly options: KimiPoolOptions,
    private readonly events: EventEmitter<KimiPoolEvents>,
  ) {
    const fetch = options.clientOptions?.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.roster = new Roster(engine, events);
    this.merger = new AccountMerger(this.roster);
    this.recovery = new Recovery(engine, this.roster, engine.clock, events, fetch);
    this.discovery = new Discovery(this.roster, this.merger, fetch, events, (key, balance) => {
      engine.control.disableAccount(key.account, key, { kind: 'quota', kimiType: 'exceeded_current_quota_error', message: `available_balance is ${balance} (/v1/users/me/balance)` });
    });
    // However it was disabled (a quota error here, the balance at discovery, another pool on the store), it is checked later.
    events.on('account-disabled', (e) => {
      const account = this.roster.account(e.account);
      if (account !== undefined && account.disabled) this.recovery.disabled(account);
    });
    this.discovers = discoverSet(options);
    for (const a of engine.config.accounts) {
      const member = this.roster.account(a.id);
      if (member !== undefined) this.roster.pinned.set(member, pinnedFor(options, a.id, a.keys));
    }
    engine.hooks = {
      learned: (account) => this.recovery.learned(account),
      probed: (account) => this.recovery.probed(account),
      trialFailed: (account, key, fault) => this.recovery.trialFailed(account, key, fault),
      keyIdle: (key) => this.removing.get(key)?.(),
      orgSeen: (key, org) => this.merger.seen(key, org),
      storeEvent: (event) => this.storeEvent(event),
    };
    // Keys to discover are asked before anything starts.
    const first = engine.config.keys.filter((k) => this.discovers(k.apiKey));
    if (first.length > 0) {
      engine.dispatcher.gate(
        this.discovery.ask(first).then((answers) => {
          first.forEach((k, i) => {
            const key = engine.keys.find((m) => m.id === k.id);
            if (key !== undefined && !engine.closed) this.discovery.place(key, answers[i] as (typeof answers)[number]);
          });
        }),
      );
    }
  }

  /** See {@link KimiPool.addKeys}. */
  async addKeys(keys: KimiPoolOptions['keys']): Promise<string[]> {
    const o = this.options;
    const e = this.engine;
    if (e.closed) throw new PoolClosedError('addKeys: the pool is closed');
    // Validated as the constructor does; accounts options apply to the accounts these keys name.
    const probe = resolveConfig({ ...o, keys, accounts: undefined });
    const named = new Set(probe.accounts.map((a) => a.id));
    const accounts = Object.fromEntries(Object.entries(o.accounts ?? {}).filter(([id]) => named.has(id)));
    const config = resolveConfig({ ...o, keys, accounts });
    for (const k of config.keys) {
      const clash = e.keys.find((m) => m.id === k.id || m.client.apiKey === k.apiKey);
      if (clash !== undefined) throw new ConfigError(`addKeys: key ${k.id} is already in the pool (as ${clash.id}): remove it first (removeKey) or give another key`);
    }
    const wants = discoverSet({ ...o, keys });
    const ask = config.keys.filter((k) => wants(k.apiKey));
    const answers = ask.length > 0 ? await this.discovery.ask(ask) : [];
    if (e.closed) throw new PoolClosedError('addKeys: the pool was closed while its keys were being discovered');
    const added: KeyMember[] = [];
    for (const a of config.accounts) {
      const pinned = pinnedFor({ ...o, keys, accounts }, a.id, a.keys);
      let account = this.roster.account(a.id);
      account ??= this.roster.addAccount(a.id, a.limits, a.tier, pinned);
      for (const k of a.keys) {
        added.push(e.addKey(k, account));
        // Added again after a removal: the other pools on a shared store take it back too.
        quiet(e.store.enable?.({ scope: 'key', account: account.id, key: k.id }));
      }
    }
    for (const key of added) {
      const i = ask.findIndex((k) => k.id === key.id);
      if (i >= 0) this.discovery.place(key, answers[i] as (typeof answers)[number]);
      this.events.emit('key-added', { key: key.id, account: key.account.id });
    }
    for (const key of added) e.dispatcher.revive(key.account);
    return added.map((k) => k.id);
  }

  /** See {@link KimiPool.removeKey}. */
  removeKey(id: string, drain: boolean): Promise<void> {
    const e = this.engine;
    const key = e.keys.find((k) => k.id === id);
    if (key === undefined) return Promise.reject(new ConfigError(`removeKey: no key with id "${id}" in the pool (ids: ${e.keys.map((k) => k.id).join(', ')})`));
    const account = key.account;
    // No new request starts on it from now on.
    key.disabled = true;
    key.disabledReason = 'removed';
    quiet(e.store.disable?.({ scope: 'key', account: account.id, key: key.id, status: undefined, kimiType: 'removed' }));
    const done = new Promise<void>((resolve) => {
      const finish = (): void => {
        this.removing.delete(key);
        const from = key.account;
        e.dropKey(key);
        this.events.emit('key-removed', { key: key.id, account: from.id });
        if (from.keys.length === 0) this.roster.retire(from);
        resolve();
      };
      if (key.inFlight === 0) return finish();
      this.removing.set(key, finish);
    });
    return drain ? done : Promise.resolve();
  }

  /** See {@link KimiPool.setLimits}. */
  setLimits(accountId: string, limits: LimitOverrides | TierName): void {
    const account = this.roster.account(accountId);
    if (account === undefined) throw new ConfigError(`setLimits: no account "${accountId}" in the pool (accounts: ${this.engine.accounts.map((a) => a.id).join(', ')})`);
    let given: LimitOverrides;
    if (typeof limits === 'string') {
      if (!isTierName(limits)) throw new ConfigError(`setLimits: unknown tier \`${limits}\`: expected one of ${Object.keys(TIERS).join(', ')}`);
      given = TIERS[limits];
    } else {
      if (limits === null || typeof limits !== 'object') throw new ConfigError(`setLimits: expected limits ({ concurrency, rpm, tpm, tpd }) or a tier name, got \`${String(limits)}\``);
      given = limits;
    }
    for (const f of FIELDS) if (given[f] !== undefined) checkNumber(`limits.${f}`, given[f], { min: 0, exclusiveMin: true, integer: true, infinity: true });
    const pinned = { ...this.roster.pinned.get(account) };
    for (const f of FIELDS) if (given[f] !== undefined) pinned[f] = given[f];
    this.roster.pinned.set(account, pinned);
    this.roster.applyLimits(account, this.roster.withPinned(account, given, account.configured), 'set');
  }

  close(): void {
    this.recovery.close();
  }

  private storeEvent(event: Extract<StoreEvent, { type: 'merged' | 'enabled' }>): void {
    if (this.engine.closed) return;
    if (event.type === 'merged') return this.merger.merged(event.account, event.into);
    const account: AccountMember | undefined = this.roster.account(event.account);
    if (account === undefined) return;
    if (event.scope === 'account') return this.recovery.enabledElsewhere(account);
    const key = account.keys.find((k) => k.id === event.key);
    if (key === undefined || !key.disabled) return;
    key.disabled = false;
    key.disabledReason = undefined;
    this.engine.dispatcher.revive(account);
  }
}
