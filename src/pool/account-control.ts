import type { EventEmitter } from 'eventemitter3';
import type { Clock } from '../clock.js';
import { type KimiPoolError, NoUsableKeyError, RequestTooLargeError } from '../errors.js';
import type { KimiPoolEvents } from '../events.js';
import { redactKeys } from '../fingerprint.js';
import type { Fault } from '../kimi-errors.js';
import type { Awaitable, LimitStore, StoreEvent } from '../store/limit-store.js';
import { quiet } from './awaitable.js';
import type { Dispatcher } from './dispatcher.js';
import type { AccountMember, KeyMember } from './members.js';

/**
 * What happens to accounts and keys as a whole: pauses after a 429, keys and
 * accounts disabled (here or, through a shared store, by another pool), and
 * the moment no usable key is left.
 */
export class AccountControl {
  /** Set once nothing can run any more (no usable key, or a broken store); every request from then on fails with it. */
  dead: KimiPoolError | undefined;
  private closed = false;

  constructor(
    readonly accounts: readonly AccountMember[],
    private readonly dispatcher: Dispatcher,
    private readonly store: LimitStore,
    private readonly clock: Clock,
    private readonly events: EventEmitter<KimiPoolEvents>,
    /** Called once when nothing can run any more. */
    private readonly onDead: (error: KimiPoolError) => void,
  ) {}

  /** Pauses an account for `ms` (a 429 said so); `cooldown-end` fires when it ends. */
  pause(account: AccountMember, ms: number): Awaitable<void> {
    const until = this.clock.now() + ms;
    if (until > account.pausedUntil) {
      account.pausedUntil = until;
      if (account.pauseTimer !== undefined) this.clock.clearTimeout(account.pauseTimer);
      account.pauseTimer = undefined;
      // After close() nothing waits for the pause: arm no timer that would outlive the pool.
      if (!this.closed) {
        account.pauseTimer = this.clock.setTimeout(() => {
          account.pauseTimer = undefined;
          if (this.events.listenerCount('cooldown-end') > 0) this.events.emit('cooldown-end', { account: account.id, pausedMs: ms });
          this.dispatcher.pump();
        }, ms);
      }
    }
    return this.store.pause(account.id, ms);
  }

  disableKey(key: KeyMember, fault: Fault): void {
    if (key.disabled) return;
    key.disabled = true;
    key.disabledReason = `${fault.status ?? ''} ${fault.kimiType ?? fault.kind}`.trim();
    key.disabledMessage = fault.message;
    this.events.emit('key-disabled', { key: key.id, account: key.account.id, status: fault.status, kimiType: fault.kimiType, message: fault.message });
    quiet(this.store.disable?.({ scope: 'key', account: key.account.id, key: key.id, status: fault.status, kimiType: fault.kimiType }));
    if (!key.account.usable) this.dispatcher.kill(key.account);
    this.checkUsable();
  }

  disableAccount(account: AccountMember, key: KeyMember, fault: Fault): void {
    if (account.disabled) return;
    account.disabled = true;
    account.disabledReason = `${fault.status ?? ''} ${fault.kimiType ?? fault.kind}`.trim();
    account.disabledMessage = fault.message;
    this.dispatcher.kill(account);
    this.events.emit('account-disabled', { account: account.id, key: key.id, status: fault.status, kimiType: fault.kimiType, message: fault.message });
    quiet(this.store.disable?.({ scope: 'account', account: account.id, key: key.id, status: fault.status, kimiType: fault.kimiType }));
    this.checkUsable();
  }

  /** A shared store heard of a change made by another pool on it (a freed slot, a disabled key, learned limits). */
  storeEvent(event: StoreEvent): void {
    if (event.type === 'warning') {
      this.events.emit('warning', { code: event.code, message: event.message });
      return;
    }
    const account = this.accounts.find((a) => a.id === event.account);
    if (account === undefined || this.closed) return;
    if (event.type === 'wake') return this.dispatcher.wake(account);
    // Handled by the modules that made them (account merging, recovery).
    if (event.type === 'merged' || event.type === 'enabled') return;
    if (event.type === 'limits') {
      account.limits = event.limits;
      // What did not fit before may fit now, or fit nowhere: decide again.
      account.neverFor = undefined;
      this.dispatcher.pump();
      return;
    }
    // Another pool saw the 401 or the quota error: the same reaction as seeing it here.
    const reason = `${event.status ?? ''} ${event.kimiType ?? ''}`.trim() || 'disabled';
    const message = `Disabled by another pool sharing the limit store (${reason})`;
    if (event.scope === 'account') {
      if (account.disabled) return;
      account.disabled = true;
      account.disabledReason = reason;
      account.disabledMessage = message;
      this.dispatcher.kill(account);
      this.events.emit('account-disabled', { account: account.id, key: event.key ?? '', status: event.status, kimiType: event.kimiType, message });
    } else {
      const key = account.keys.find((k) => k.id === event.key);
      if (key === undefined || key.disabled) return;
      key.disabled = true;
      key.disabledReason = reason;
      key.disabledMessage = message;
      this.events.emit('key-disabled', { key: key.id, account: account.id, status: event.status, kimiType: event.kimiType, message });
      if (!account.usable) this.dispatcher.kill(account);
    }
    this.checkUsable();
  }

  /** An error if `tokens` fits no usable account's TPM and TPD, else undefined. */
  tooLarge(tokens: number): RequestTooLargeError | undefined {
    let tpm = 0;
    let tpd = 0;
    for (const a of this.accounts) {
      if (!a.usable) continue;
      if (tokens <= a.limits.tpm && tokens <= a.limits.tpd) return undefined;
      tpm = Math.max(tpm, a.limits.tpm);
      tpd = Math.max(tpd, a.limits.tpd);
    }
    return new RequestTooLargeError(
      `The request reserves ${tokens} tokens (prompt estimate + max_tokens), more than any usable account allows (largest TPM ${tpm}, TPD ${tpd}): lower max_tokens or split the prompt`,
      tokens,
    );
  }

  /** Stops every pause timer: after close() nothing waits for them. */
  close(): void {
    this.closed = true;
    for (const a of this.accounts) {
      if (a.pauseTimer !== undefined) this.clock.clearTimeout(a.pauseTimer);
      a.pauseTimer = undefined;
    }
  }

  /** When no key is left, everything waiting fails with one clear error. */
  private checkUsable(): void {
    if (this.dead !== undefined || this.accounts.some((a) => a.usable)) return;
    // Each key or account once, with Kimi's own words (a key of its own account is named once).
    const why = (reason: string | undefined, message: string | undefined): string =>
      `${reason ?? 'disabled'}${message ? ` ${JSON.stringify(redactKeys(message))}` : ''}`;
    const reasons = this.accounts.flatMap((a) => {
      if (a.disabledReason !== undefined) return [`${a.keys.length === 1 && a.keys[0]?.id === a.id ? 'key' : 'account'} ${a.id}: ${why(a.disabledReason, a.disabledMessage)}`];
      return a.keys.map((k) => `key ${k.id}${k.id === a.id ? '' : ` (account ${a.id})`}: ${why(k.disabledReason, k.disabledMessage)}`);
    });
    this.fatal(new NoUsableKeyError(`No usable key left: every key is revoked or its account disabled (${reasons.join('; ')})`));
  }

  /** Nothing can run any more: the first cause wins. */
  fatal(error: KimiPoolError): void {
    if (this.dead !== undefined) return;
    this.dead = error;
    this.onDead(error);
  }
}
