/**
 * A rig() whose requests are traced along the lifecycle table (engine hook
 * `RequestLifecycle.trace`) and whose limit store, a real MemoryStore, counts what it grants
 * and what it is given back, per lease: enough to check that every request is
 * answered once and frees its slot once.
 */
import { expect } from 'vitest';
import type { Engine } from '../../src/pool/engine.js';
import { TRANSITIONS, type RequestState, type Transition } from '../../src/pool/lifecycle.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { ChatCompletionChunk } from '../../src/chat.js';
import type { PooledStream } from '../../src/index.js';
import { kimi429, rig, ROOMY, type Rig, type RigOptions, type Tracked } from './pool.js';

/** A MemoryStore that records every granted lease and every release, and what does not pair up. */
export class CountingStore extends MemoryStore {
  grants = 0;
  releases = 0;
  /** Leases granted and not released yet (`account#lease`). */
  readonly open = new Set<string>();
  readonly violations: string[] = [];

  override acquire(account: string, tokens: number, lease: number): number {
    const wait = super.acquire(account, tokens, lease);
    if (wait === 0) {
      const id = `${account}#${lease}`;
      if (this.open.has(id)) this.violations.push(`lease ${id} granted while granted`);
      this.open.add(id);
      this.grants++;
    }
    return wait;
  }

  override release(account: string, lease: number): void {
    const id = `${account}#${lease}`;
    if (!this.open.delete(id)) this.violations.push(`lease ${id} released without a grant`);
    this.releases++;
    super.release(account, lease);
  }
}

export interface TracedRig extends Rig {
  readonly store: CountingStore;
  readonly engine: Engine;
  /** Each request's transitions, in order, by request id. */
  readonly paths: Map<number, Transition[]>;
  /** Every move of every request, in order: `id:transition`. */
  readonly log: string[];
  /** Moves that did not start where the request's previous move left it. */
  readonly breaks: string[];
}

/** A rig with the lifecycle traced; every transition seen is also added to `covered`. */
export function tracedRig(options: RigOptions, covered: Set<Transition>): TracedRig {
  const store = new CountingStore();
  const r = rig({ ...options, pool: { ...options.pool, store } });
  const engine = (r.pool as unknown as { engine: Engine }).engine;
  const paths = new Map<number, Transition[]>();
  const at = new Map<number, RequestState>();
  const breaks: string[] = [];
  const log: string[] = [];
  // The lifecycle tells of every move it makes; the rig records it.
  engine.lifecycle.trace = (job, transition, from) => {
    const was = at.get(job.seq) ?? 'queued';
    if (from !== was) breaks.push(`request ${job.seq}: ${transition} from ${from}, but its last move left it ${was}`);
    at.set(job.seq, TRANSITIONS[transition].to);
    paths.set(job.seq, [...(paths.get(job.seq) ?? []), transition]);
    log.push(`${job.seq}:${transition}`);
    covered.add(transition);
  };
  return { ...r, store, engine, paths, log, breaks };
}

/** How a request's caller was answered, and whether a `success` event counted it. */
export type Outcome = { readonly value: unknown; readonly success?: 0 | 1 } | { readonly error: abstract new (...args: never[]) => Error };

/**
 * Request `id` went along `path` (ending done), its caller got `outcome`, and
 * one `failed` event (an error) or at most one `success` event (a value) told of it.
 */
export function expectLife(r: TracedRig, id: number, tracked: Tracked<unknown>, path: readonly Transition[], outcome: Outcome): void {
  expect(r.paths.get(id), `path of request ${id}`).toEqual(path);
  expect(tracked.settled, `request ${id} settled`).toBe(true);
  const failed = r.of('failed').filter((e) => e.requestId === id);
  const success = r.of('success').filter((e) => e.requestId === id);
  if ('error' in outcome) {
    expect(tracked.error).toBeInstanceOf(outcome.error);
    expect(failed.map((e) => e.error)).toEqual([tracked.error]);
    expect(success).toEqual([]);
  } else {
    expect(tracked.error).toBeUndefined();
    expect(tracked.value).toBe(outcome.value);
    expect(failed).toEqual([]);
    expect(success).toHaveLength(outcome.success ?? 1);
  }
}

/** Nothing holds a slot anywhere, and the store got back every lease it granted, once: one per `start`. */
export function expectSlotsFree(r: TracedRig): void {
  expect(r.breaks).toEqual([]);
  const s = r.pool.stats();
  expect(s.inFlight).toBe(0);
  expect(s.accounts.map((a) => a.inFlight)).toEqual(s.accounts.map(() => 0));
  expect(s.keys.map((k) => k.inFlight)).toEqual(s.keys.map(() => 0));
  expect(r.store.violations).toEqual([]);
  expect([...r.store.open]).toEqual([]);
  const starts = [...r.paths.values()].flat().filter((t) => t === 'start').length;
  expect(r.store.grants).toBe(starts);
  expect(r.store.releases).toBe(starts);
  for (const [id, path] of r.paths) expect(TRANSITIONS[path[path.length - 1] as Transition].to, `request ${id} ends done`).toBe('done');
}

// ---- what the lifecycle scenarios share

export const ONE = { ...ROOMY, concurrency: 1 };
export const TWO_ACCOUNTS = [
  { id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: ONE },
  { id: 'org-b', keys: ['sk-bbbbbbbbbbbb1'], limits: ONE },
];

/** Errors as the openai SDK throws them (status and Kimi's error body). */
export const apiError = (status: number, type: string, message: string): Error => Object.assign(new Error(`${status} ${message}`), { status, error: { type, message } });
export const rateLimited = (): Error => apiError(429, 'rate_limit_reached_error', kimi429.rpm(100, 1));
export const serverError = (): Error => apiError(500, 'server_error', 'boom');

/** A task that resolves with `value` after `ms` of clock time, whatever its signal says. */
export const resolvesAfter = <T>(r: TracedRig, ms: number, value: T): Promise<T> => new Promise((resolve) => r.clock.setTimeout(() => resolve(value), ms));

export const streamOf = (r: TracedRig, content: string) =>
  r.pool.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content }], max_tokens: 10, stream: true });

export async function readAll(s: PooledStream<ChatCompletionChunk>): Promise<{ chunks: number; error: unknown }> {
  let chunks = 0;
  try {
    for await (const _ of s) chunks++;
  } catch (error) {
    return { chunks, error };
  }
  return { chunks, error: undefined };
}
