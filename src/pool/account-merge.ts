/**
 * Kimi's limits are per organisation, and every response names it
 * (`Msh-Org-Id`; discovery asks `/v1/users/me`). Two configured accounts that
 * answer for one organisation are one budget: this merges them, so that they
 * are enforced as one from then on, in the store too (a shared store tells
 * the other pools, event `merged`).
 *
 * Input: "this key's response said org X" ({@link AccountMerger.seen}). The
 * account kept is the one with the smaller id, so that every pool that sees
 * the same two merges them the same way.
 */
import type { Limits } from '../tiers.js';
import { quiet } from './awaitable.js';
import type { AccountMember, KeyMember } from './members.js';
import { copyLimits, type Roster } from './roster.js';

const min = (a: Limits, b: Limits): Limits => ({
  concurrency: Math.min(a.concurrency, b.concurrency),
  rpm: Math.min(a.rpm, b.rpm),
  tpm: Math.min(a.tpm, b.tpm),
  tpd: Math.min(a.tpd, b.tpd),
});

function minPinned(a: Partial<Limits>, b: Partial<Limits>): Partial<Limits> {
  const out: { -readonly [K in keyof Limits]?: number } = { ...a };
  for (const f of ['concurrency', 'rpm', 'tpm', 'tpd'] as const) {
    const v = b[f];
    if (v !== undefined) out[f] = Math.min(v, out[f] ?? Infinity);
  }
  return out;
}

export class AccountMerger {
  private readonly byOrg = new Map<string, AccountMember>();

  constructor(private readonly roster: Roster) {}

  /** The live account known to be organisation `org`. */
  accountFor(org: string): AccountMember | undefined {
    const a = this.byOrg.get(org);
    if (a !== undefined && this.roster.engine.accounts.includes(a)) return a;
    return undefined;
  }

  /** Records that `account` is organisation `org`. */
  note(org: string, account: AccountMember): void {
    this.byOrg.set(org, account);
    this.roster.orgOf.set(account, org);
  }

  /** A response to `key` said its organisation is `org` (`Msh-Org-Id`, 429s included). */
  seen(key: KeyMember, org: string | null | undefined): void {
    if (org === null || org === undefined || org === '') return;
    const account = key.account;
    if (!this.roster.engine.accounts.includes(account)) return;
    const known = this.accountFor(org);
    if (known === undefined) return this.note(org, account);
    if (known === account) return;
    const [into, from] = known.id < account.id ? [known, account] : [account, known];
    this.mergeInto(from, into, org);
  }

  /**
   * Moves every key of `from` into `into` and retires `from`. The limits of
   * the two may differ (configured apart): the lower of each holds, since one
   * of them must be wrong and a too-high limit costs 429s.
   */
  mergeInto(from: AccountMember, into: AccountMember, org: string | undefined, share = true): void {
    if (from === into) return;
    const r = this.roster;
    const store = r.engine.store;
    // Told by another pool (share false): the store knows already.
    if (share) quiet(store.merge?.(from.id, into.id));
    r.pinned.set(into, minPinned(r.pinned.get(into) ?? {}, r.pinned.get(from) ?? {}));
    const configured = min(into.configured, from.configured);
    const limits = min(into.limits, from.limits);
    for (const key of [...from.keys]) r.moveKey(key, into);
    const fromOrg = r.orgOf.get(from);
    r.retire(from);
    const known = org ?? fromOrg;
    if (known !== undefined) this.note(known, into);
    for (const [o, a] of this.byOrg) if (a === from) this.byOrg.set(o, into);
    into.configured = configured;
    r.applyLimits(into, limits, 'merged', false);
    r.events.emit('account-merged', { account: from.id, into: into.id, org: known, keys: into.keys.map((k) => k.id), limits: copyLimits(into.limits) });
  }

  /** Another pool on the shared store merged `from` into `into`. */
  merged(fromId: string, intoId: string): void {
    const r = this.roster;
    const from = r.account(fromId);
    if (from === undefined) return;
    let into = r.account(intoId);
    if (into === undefined) {
      if (!r.canAddAccounts) return;
      into = r.addAccount(intoId, from.limits, from.tier, r.pinned.get(from) ?? {});
    }
    this.mergeInto(from, into, undefined, false);
  }
}
