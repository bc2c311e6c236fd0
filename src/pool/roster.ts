/**
 * The pool's accounts as they change while it runs: accounts added (a key of
 * a new account, an organisation found by discovery), keys moved between
 * accounts (two turned out to be one), accounts retired once empty, limits
 * replaced. Every change goes through here so that the engine, the dispatcher
 * and the store see it at once, and each emits one event.
 */
import type { EventEmitter } from 'eventemitter3';
import { ConfigError } from '../errors.js';
import type { KimiPoolEvents } from '../events.js';
import type { Limits, TierName } from '../tiers.js';
import { quiet } from './awaitable.js';
import type { Engine } from './engine.js';
import { AccountMember, type KeyMember } from './members.js';

/** The limits an event or stats show: a copy, never a live object. */
const copy = (l: Limits): Limits => ({ concurrency: l.concurrency, rpm: l.rpm, tpm: l.tpm, tpd: l.tpd });

const sameLimits = (a: Limits, b: Limits): boolean => a.concurrency === b.concurrency && a.rpm === b.rpm && a.tpm === b.tpm && a.tpd === b.tpd;

export class Roster {
  /** Limits the user gave as numbers, per account: they win over what Kimi says. */
  readonly pinned = new Map<AccountMember, Partial<Limits>>();
  /** Kimi organisation id per account, when known. */
  readonly orgOf = new Map<AccountMember, string>();

  constructor(
    readonly engine: Engine,
    readonly events: EventEmitter<KimiPoolEvents>,
  ) {}

  account(id: string): AccountMember | undefined {
    return this.engine.accounts.find((a) => a.id === id);
  }

  /** False for a store of your own without `addAccount`: the pool then keeps the accounts it started with. */
  get canAddAccounts(): boolean {
    return this.engine.store.addAccount !== undefined;
  }

  /**
   * A new account with `limits` (already with its pinned values); it takes requests as soon as a key joins it.
   * @throws {ConfigError} when the store cannot take accounts at run time.
   */
  addAccount(id: string, limits: Limits, tier: TierName, pinned: Partial<Limits> = {}): AccountMember {
    const e = this.engine;
    if (!this.canAddAccounts) throw new ConfigError(`Account "${id}" is new, and the limit store has no addAccount(): give the key an account the pool started with, or a store that implements addAccount`);
    const account = new AccountMember(id, limits, tier, e.config.safetyMarginMs);
    quiet(e.store.addAccount?.({ id, limits }));
    this.pinned.set(account, pinned);
    e.accounts.push(account);
    e.dispatcher.add(account);
    return account;
  }

  /** Moves `key` to `into`; its requests in flight end where they started. */
  moveKey(key: KeyMember, into: AccountMember): void {
    const from = key.account;
    if (from === into) return;
    const i = from.keys.indexOf(key);
    if (i >= 0) from.keys.splice(i, 1);
    key.account = into;
    into.keys.push(key);
    if (into.usable) this.engine.dispatcher.revive(into);
  }

  /** Drops an account left without keys: out of the dispatcher, stats and the usable set. */
  retire(account: AccountMember): void {
    if (account.keys.length > 0) return;
    this.engine.dispatcher.kill(account);
    const list = this.engine.accounts;
    const i = list.indexOf(account);
    if (i >= 0) list.splice(i, 1);
    this.pinned.delete(account);
    this.orgOf.delete(account);
  }

  /**
   * Puts `limits` in force on `account` (its configured ones too: what a
   * limit learned from a 429 eases back to), in the store as well.
   */
  applyLimits(account: AccountMember, limits: Limits, reason: 'set' | 'discovered' | 'merged' | 'eased', configured = true): void {
    const previous = account.limits;
    if (configured) account.configured = limits;
    if (sameLimits(previous, limits)) return;
    account.limits = limits;
    // What did not fit before may fit now, or fit nowhere: decide again.
    account.neverFor = undefined;
    quiet(this.engine.store.setLimits(account.id, limits));
    this.events.emit('limits-changed', { account: account.id, limits: copy(limits), previous: copy(previous), reason });
    this.engine.dispatcher.pump();
  }

  /** `base` with the account's pinned values on top. */
  withPinned(account: AccountMember, base: Partial<Limits>, fallback: Limits): Limits {
    const p = this.pinned.get(account) ?? {};
    return {
      concurrency: p.concurrency ?? base.concurrency ?? fallback.concurrency,
      rpm: p.rpm ?? base.rpm ?? fallback.rpm,
      tpm: p.tpm ?? base.tpm ?? fallback.tpm,
      tpd: p.tpd ?? base.tpd ?? fallback.tpd,
    };
  }
}

export { copy as copyLimits, sameLimits };
