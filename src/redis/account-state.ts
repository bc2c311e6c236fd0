/**
 * One account as a Redis store sees it, and how an answer of a script
 * updates that view: the account's epoch (state loss), disabled keys and
 * limits in force, each change reported once as a store event. Also the
 * leases this pool holds there, and the usage read from the last answer.
 */
import type { AccountUsage, StoreEvent } from '../store/limit-store.js';
import { decodeLimits, type Reply } from './scripts.js';

/** One account as this pool sees it in Redis. */
export interface AccountState {
  readonly id: string;
  readonly keys: readonly string[];
  /** Limits this pool was configured with, encoded. */
  readonly cfg: string;
  /** Limits in force as last seen. */
  lim: string;
  epoch: string;
  dv: string;
  synced: boolean;
  /** A pause this pool knows of (clock time): carried with each acquire, in case its write failed. */
  pauseUntil: number;
  /** Bumped by every wake: an acquire that saw the account full while one came asks again soon. */
  wakes: number;
  /** The last decision found the account at its concurrency limit: a release elsewhere is worth a wake. */
  full: boolean;
  /** Lease members this pool holds, by the pool's lease id (oldest first). */
  readonly held: Map<number, string[]>;
  /** Granted members whose request has not left yet: their cost and when the grant was read (local clock). */
  readonly unsent: Map<string, { readonly cost: number; readonly at: number }>;
  /** Window plus this account's margin (see setMargin), and the day's. */
  span: number;
  daySpan: number;
  heldCount: number;
  /** Disabled fields already reported. */
  readonly seen: Set<string>;
  lostWarned: string;
  snap: { at: number; reply: Reply | undefined };
}

/** A new account's view, before its first answer. */
export function newAccountState(id: string, keys: readonly string[], cfg: string, span: number, daySpan: number): AccountState {
  return {
    id, keys, cfg, lim: cfg, epoch: '', dv: '', synced: false,
    pauseUntil: -Infinity, wakes: 0, full: false, held: new Map(), unsent: new Map(), span, daySpan, heldCount: 0, seen: new Set(),
    lostWarned: '', snap: { at: 0, reply: undefined },
  };
}

/** What {@link absorbReply} needs of the store. */
export interface AbsorbingStore {
  /** Reports an event to the pool. */
  emit(event: StoreEvent): void;
  /** Re-registers the account's leases (its state was lost). */
  renew(a: AccountState): Promise<unknown>;
  /** The pool's clock, ms. */
  now(): number;
}

const noop = (): void => undefined;

/** Learns the epoch, disabled keys and limits from an answer, and keeps it for usage(). */
export function absorbReply(a: AccountState, r: Reply, store: AbsorbingStore): void {
  if (a.epoch !== '' && (r.lost || r.epoch !== a.epoch) && a.lostWarned !== r.epoch) {
    a.lostWarned = r.epoch;
    store.emit({
      type: 'warning',
      code: 'store_state_lost',
      message: `The Redis state of account ${a.id} was lost (Redis restarted without persistence, or its keys were evicted or deleted): usage recorded before is gone, so no request starts there until one window after the loss; leases of running requests are re-registered`,
    });
    a.epoch = r.epoch;
    if (a.heldCount > 0) store.renew(a).catch(noop);
  }
  a.epoch = r.epoch;
  if (r.dv !== a.dv) {
    for (const [field, reason] of r.disabled) {
      if (a.seen.has(field)) continue;
      a.seen.add(field);
      let why: { key?: string; status?: number; kimiType?: string } = {};
      try {
        why = JSON.parse(reason) as typeof why;
      } catch {
        // A reason written by hand: the flag still counts.
      }
      const scope = field === 'off' ? 'account' : 'key';
      store.emit({ type: 'disabled', scope, account: a.id, key: scope === 'key' ? field.slice(2) : why.key, status: why.status, kimiType: why.kimiType });
    }
    a.dv = r.dv;
  }
  if (r.limits !== a.lim) {
    a.lim = r.limits;
    store.emit({ type: 'limits', account: a.id, limits: decodeLimits(r.limits) });
  }
  a.snap = { at: store.now(), reply: r };
}

/** Books `member` as held under the pool's `lease`. */
export function hold(a: AccountState, lease: number, member: string): void {
  const list = a.held.get(lease);
  if (list === undefined) a.held.set(lease, [member]);
  else list.push(member);
  a.heldCount++;
}

/** Takes the oldest member held under `lease` off the books and returns it; undefined when none is held. */
export function letGo(a: AccountState, lease: number): string | undefined {
  const list = a.held.get(lease);
  const member = list?.shift();
  if (list === undefined || member === undefined) return undefined;
  a.unsent.delete(member);
  if (list.length === 0) a.held.delete(lease);
  a.heldCount--;
  return member;
}

/** Every member this pool holds on the account. */
export function heldMembers(a: AccountState): string[] {
  const members: string[] = [];
  for (const list of a.held.values()) members.push(...list);
  return members;
}

/** The account's usage as the last answer told it, aged to `now` (clock ms), with a pause this pool knows of. */
export function usageOf(a: AccountState, now: number): AccountUsage {
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
