/**
 * Shared state of one simulator: accounts by id and by key, revoked keys,
 * fault settings, the PRNG, the clock and the arrival log.
 */
import { setMaxListeners } from 'node:events';
import { fingerprint } from '../../fingerprint.js';
import { AccountState } from './accounts.js';
import { validateFaults, validatePatch, type ResolvedFaults, type ResolvedOptions } from './options.js';
import { createRandom, type Random } from './random.js';
import type { ArrivalRecord, SimulatorFaults, SimulatorStats } from './types.js';

/** Result of {@link SimulatorState.authenticate}. */
export type Identity =
  | { readonly ok: true; readonly account: AccountState }
  /** `account` is set for a revoked key of a known account. */
  | { readonly ok: false; readonly account: AccountState | undefined };

export class SimulatorState {
  readonly options: ResolvedOptions;
  readonly accounts = new Map<string, AccountState>();
  readonly random: Random;
  /** Draws arrival delays, apart from `random` so that faults stay as the seed gives them. */
  readonly arrivalRandom: Random;
  /** Aborted on close: pending sleeps end and handlers stop writing. */
  readonly closing = new AbortController();
  readonly startedAt = Date.now();
  readonly #byKey = new Map<string, AccountState>();
  readonly #revoked = new Set<string>();
  readonly #startNow: number;
  readonly #log: ArrivalRecord[] = [];
  #faults: ResolvedFaults;
  readonly #open = new Set<Promise<void>>();
  /** 401s for keys that belong to no account. */
  #unknownAuth = 0;

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.random = createRandom(options.seed);
    this.arrivalRandom = createRandom(options.seed ^ 0x5eed);
    this.#faults = options.faults;
    this.#startNow = options.now();
    // Every pending reply listens on this signal; hundreds in flight are normal, not a leak.
    setMaxListeners(0, this.closing.signal);
    for (const config of options.accounts) {
      const account = new AccountState(config, options.windowMs);
      this.accounts.set(account.id, account);
      for (const key of account.keys) this.#byKey.set(key, account);
    }
  }

  get faults(): ResolvedFaults {
    return this.#faults;
  }

  /** Current time on the window clock. */
  now(): number {
    return this.options.now();
  }

  #lastCount = -Infinity;

  /**
   * The time a request read at `read` counts, `delay` later: never before one
   * counted already (the windows take arrivals in order).
   */
  countAt(read: number, delay: number): number {
    this.#lastCount = Math.max(this.#lastCount, read + delay);
    return this.#lastCount;
  }

  /** ms since start on the window clock. */
  sinceStart(now: number): number {
    return now - this.#startNow;
  }

  /** The account of a bearer key; `ok: false` when the key is missing, unknown or revoked. */
  authenticate(key: string | undefined): Identity {
    const account = key === undefined ? undefined : this.#byKey.get(key);
    if (account && key !== undefined && !this.#revoked.has(key)) return { ok: true, account };
    return { ok: false, account };
  }

  /** Counts a 401 on the account of the key, or on the unknown-key counter. */
  countAuthFailure(account: AccountState | undefined): void {
    if (account) account.stats.refused.auth += 1;
    else this.#unknownAuth += 1;
  }

  /** Keeps `done` (an admitted request's end) until it settles, for {@link SimulatorState.settled}. */
  track(done: Promise<void>): void {
    this.#open.add(done);
    void done.then(() => this.#open.delete(done));
  }

  /** Resolves once every admitted request has ended (so in-flight counts are final). */
  async settled(): Promise<void> {
    await Promise.all([...this.#open]);
  }

  /** Appends to the arrival log when `recordArrivals` is on. */
  record(entry: ArrivalRecord): void {
    if (this.options.recordArrivals) this.#log.push(entry);
  }

  /** A key's log name: its fingerprint, never the key. */
  keyName(key: string | undefined): string {
    return key === undefined ? '(none)' : fingerprint(key);
  }

  revokeKey(key: string): void {
    if (typeof key !== 'string' || !this.#byKey.has(key)) {
      throw new TypeError(`Expected \`key\` to be a key of a simulated account, got ${key === undefined ? 'undefined' : fingerprint(String(key))}`);
    }
    this.#revoked.add(key);
  }

  setAccount(id: string, patch: unknown): void {
    const account = this.accounts.get(id);
    if (!account) throw new TypeError(`Expected \`id\` to be one of ${[...this.accounts.keys()].join(', ')}, got \`${String(id)}\``);
    account.apply(validatePatch(patch));
  }

  setFaults(faults: SimulatorFaults): void {
    this.#faults = validateFaults(faults);
  }

  /** JSON-serialisable snapshot; counters are copied so later requests do not change it. */
  stats(): SimulatorStats {
    const accounts: SimulatorStats['accounts'] = {};
    const totals = { served: 0, rateLimited: 0, quota: 0, auth: this.#unknownAuth, invalid: 0, faults: 0 };
    for (const account of this.accounts.values()) {
      const s = account.stats;
      accounts[account.id] = { ...s, refused: { ...s.refused }, faults: { ...s.faults } };
      totals.served += s.served;
      totals.rateLimited += s.refused.concurrency + s.refused.rpm + s.refused.tpm + s.refused.tpd;
      totals.quota += s.refused.quota;
      totals.auth += s.refused.auth;
      totals.invalid += s.refused.invalid;
      totals.faults += Object.values(s.faults).reduce((a, b) => a + b, 0);
    }
    const snapshot: SimulatorStats = { windowMs: this.options.windowMs, startedAt: this.startedAt, accounts, totals };
    if (this.options.recordArrivals) snapshot.log = this.#log.map((entry) => ({ ...entry }));
    return snapshot;
  }
}
