/**
 * Discovery (option `discover`): before a key's first request the pool asks
 * Kimi which organisation the key belongs to and what that organisation's
 * limits and balance are, then groups the key with the others of its
 * organisation and puts those limits in force. A limit the user gave as a
 * number wins; a tier preset does not (it is a guess, the answer is not).
 * An endpoint that fails or is missing leaves the configuration in force and
 * the `discovered` event says why.
 *
 * A key of no configured account joins an account named after its
 * organisation id, so that every pool that discovers the same keys (several
 * processes on one Redis store) names the account the same way.
 */
import type { EventEmitter } from 'eventemitter3';
import type { KimiPoolEvents } from '../events.js';
import type { Limits } from '../tiers.js';
import type { AccountMerger } from './account-merge.js';
import { askAboutKey, type KeyAnswers } from './kimi-account-api.js';
import type { KeyMember } from './members.js';
import { copyLimits, type Roster } from './roster.js';

const FIELDS = ['concurrency', 'rpm', 'tpm', 'tpd'] as const;

/** What a key is asked with: its credentials and where. */
export interface Askable {
  readonly apiKey: string;
  readonly baseURL: string;
}

export class Discovery {
  constructor(
    private readonly roster: Roster,
    private readonly merger: AccountMerger,
    private readonly fetch: typeof globalThis.fetch,
    private readonly events: EventEmitter<KimiPoolEvents>,
    /** Takes an account out until it is topped up (its balance is 0 or less). */
    private readonly outOfBalance: (key: KeyMember, balance: number) => void,
  ) {}

  /** Asks Kimi about each key, all at once; never rejects. */
  ask(keys: readonly Askable[]): Promise<KeyAnswers[]> {
    return Promise.all(keys.map((k) => askAboutKey(this.fetch, k.baseURL, k.apiKey)));
  }

  /**
   * Applies Kimi's answers about `key` (in the account it was configured in):
   * moves it to its organisation's account and sets that account's limits.
   */
  place(key: KeyMember, answers: KeyAnswers): void {
    const r = this.roster;
    const reasons: string[] = [];
    let org: string | undefined;
    let fromKimi: (keyof Limits)[] = [];
    if (answers.me.ok) {
      org = answers.me.value.org;
      const configured = key.account;
      // An account named by the user (not the key's own default one) keeps its name.
      const named = configured.id !== key.id;
      let target = this.merger.accountFor(org) ?? (named || !r.canAddAccounts ? configured : r.account(org));
      target ??= r.addAccount(org, configured.limits, configured.tier, r.pinned.get(configured) ?? {});
      if (target !== configured) {
        const [into, from] = named && target.id > configured.id ? [configured, target] : [target, configured];
        this.merger.mergeInto(from, into, org);
        target = into;
      }
      this.merger.note(org, target);
      const pinned = r.pinned.get(target) ?? {};
      const told = answers.me.value.limits;
      fromKimi = FIELDS.filter((f) => pinned[f] === undefined && told[f] !== undefined);
      r.applyLimits(target, r.withPinned(target, told, target.configured), 'discovered');
    } else reasons.push(answers.me.reason);
    let balance: number | undefined;
    if (answers.balance.ok) balance = answers.balance.value;
    else reasons.push(answers.balance.reason);
    const account = key.account;
    this.events.emit('discovered', {
      key: key.id,
      account: account.id,
      org,
      limits: copyLimits(account.limits),
      fromKimi,
      balance,
      fallback: reasons.length === 0 ? undefined : `${reasons.join('; ')}: ${answers.me.ok ? 'balance unknown' : 'configured account and limits kept'}`,
    });
    if (balance !== undefined && balance <= 0) this.outOfBalance(key, balance);
  }
}
