/**
 * A pool wired to a FakeKimi on a ManualClock, with every event recorded, and
 * small helpers to follow promises without awaiting them (time only moves when
 * the test says so).
 */
import { KimiPool, type KeyConfig, type KimiPoolEvents, type KimiPoolOptions } from '../../src/index.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import type { Limits } from '../../src/tiers.js';
import { FakeKimi, promptTokens, type FakeAccount, type FakeKimiOptions } from './fake-kimi.js';

/** Roomy limits: only what a test lowers binds. */
export const ROOMY: Limits = { concurrency: 10, rpm: 1_000, tpm: 10_000_000, tpd: Infinity };

export const WINDOW = 1_000;

export type EventName = keyof KimiPoolEvents;
export interface Recorded {
  readonly name: EventName;
  readonly payload: Parameters<KimiPoolEvents[EventName]>[0];
  readonly t: number;
}

export interface Rig {
  readonly clock: ManualClock;
  readonly fake: FakeKimi;
  readonly pool: KimiPool;
  readonly events: Recorded[];
  /** Payloads of one event, in order. */
  of<E extends EventName>(name: E): Parameters<KimiPoolEvents[E]>[0][];
}

export const EVENT_NAMES: readonly EventName[] = ['queued', 'start', 'success', 'retry', 'ratelimited', 'cooldown-end', 'key-disabled', 'account-disabled', 'failed', 'idle', 'warning'];

export interface RigOptions {
  /** Accounts with their keys and limits (the pool is told the same limits). @default one account of one key, ROOMY */
  readonly accounts?: readonly FakeAccount[];
  readonly pool?: Partial<KimiPoolOptions>;
  readonly fake?: Partial<FakeKimiOptions>;
  /** Limits the pool is told, when they should differ from the server's. */
  readonly poolLimits?: Readonly<Record<string, Partial<Limits>>>;
}

/**
 * The options that put a pool on `fake` and `clock`: the test WINDOW, no
 * safety margin, a fixed random (backoff jitter), prompts counted as the fake counts them.
 */
export function onFake(clock: ManualClock, fake: FakeKimi): Omit<KimiPoolOptions, 'keys'> {
  return {
    windowMs: WINDOW,
    safetyMarginMs: 0,
    clock,
    random: () => 0.5,
    clientOptions: { fetch: fake.fetch },
    estimatePromptTokens: (p) => promptTokens(p.messages),
  };
}

/** Builds a pool, a fake Kimi and a clock. Every key of an account is configured with the account's id. */
export function rig(options: RigOptions = {}): Rig {
  const clock = new ManualClock();
  const accounts = options.accounts ?? [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ROOMY }];
  const fake = new FakeKimi(clock, { windowMs: WINDOW, accounts, ...options.fake });
  const keys: KeyConfig[] = accounts.flatMap((a) => a.keys.map((key) => ({ key, account: a.id })));
  const pool = new KimiPool({
    keys,
    accounts: Object.fromEntries(accounts.map((a) => [a.id, { ...a.limits, ...options.poolLimits?.[a.id] }])),
    ...onFake(clock, fake),
    ...options.pool,
  });
  const events: Recorded[] = [];
  for (const name of EVENT_NAMES) {
    pool.on(name, ((payload: Recorded['payload']) => events.push({ name, payload, t: clock.now() })) as never);
  }
  return {
    clock,
    fake,
    pool,
    events,
    of: <E extends EventName>(name: E) => events.filter((e) => e.name === name).map((e) => e.payload) as Parameters<KimiPoolEvents[E]>[0][],
  };
}

/** A promise's outcome, readable synchronously; counts how often it settled. */
export interface Tracked<T> {
  readonly promise: Promise<T>;
  settled: boolean;
  value: T | undefined;
  error: unknown;
  at: number;
}

export function track<T>(promise: Promise<T>, clock?: ManualClock): Tracked<T> {
  const t: Tracked<T> = { promise, settled: false, value: undefined, error: undefined, at: NaN };
  promise.then(
    (v) => {
      t.settled = true;
      t.value = v;
      t.at = clock?.now() ?? NaN;
    },
    (e: unknown) => {
      t.settled = true;
      t.error = e;
      t.at = clock?.now() ?? NaN;
    },
  );
  return t;
}

/** A small chat request (10 completion tokens). */
export function ask(pool: KimiPool, content: string, options?: Parameters<KimiPool['chat']['completions']['create']>[1], extra: Record<string, unknown> = {}) {
  return pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content }], max_tokens: 10, ...extra }, options);
}

/** Runs the clock until every tracked promise settled. */
export async function settleAll(clock: ManualClock, tracked: readonly Tracked<unknown>[], limitMs?: number): Promise<void> {
  await clock.runUntil(() => tracked.every((t) => t.settled), limitMs);
}

/** A rate-limit 429 body as Kimi sends it. */
export const kimi429 = {
  concurrency: (n: number, s = 1) => `Your account org-x<ak-1234> request reached organization max concurrency: ${n}, please try again after ${s} seconds`,
  rpm: (n: number, s = 1) => `Your account org-x<ak-1234> request reached organization max RPM: ${n}, please try again after ${s} seconds`,
  tpm: (c: number, l: number) => `Your account org-x<ak-1234> request reached organization TPM rate limit, current:${c}, limit:${l}`,
  tpd: (c: number, l: number) => `Your account org-x<ak-1234> request reached organization TPD rate limit, current:${c}, limit:${l}`,
  old: (n: number, s = 1) => `request reached max request: ${n}, please try again after ${s} seconds`,
};
