/**
 * What settled holds no memory: a settled request drops its task and params,
 * and aborted entries leave the queue instead of waiting to be reached.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { RequestAbortedError, RequestTimeoutError } from '../../src/errors.js';
import { JobQueue, type Queueable } from '../../src/queue/job-queue.js';
import type { RequestOptions } from '../../src/options.js';
import { ask, rig, ROOMY, settleAll, track, type Rig } from '../helpers/pool.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Lets pending rejections and finalizers run, then collects (twice: WeakRefs clear on the second). */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
}

/**
 * Submits `n` requests of `size`-character prompts; WeakRefs to their messages.
 * A plain function, so that no suspended async frame of the test keeps the last one.
 */
function submit(r: Rig, n: number, size: number, options: RequestOptions) {
  const prompts: WeakRef<object>[] = [];
  const waiting = [];
  for (let i = 0; i < n; i++) {
    const messages = [{ role: 'user' as const, content: `${i} ${'x'.repeat(size)}` }];
    prompts.push(new WeakRef(messages));
    waiting.push(track(r.pool.chat.completions.create({ model: 'kimi-k2.5', messages, max_tokens: 10 }, options), r.clock));
  }
  return { prompts, waiting };
}

describe('settled requests hold no params', () => {
  const ends: [string, (c: AbortController) => { signal?: AbortSignal; timeout?: number }, (c: AbortController) => void, new (...a: never[]) => Error][] = [
    ['aborted while queued', (c) => ({ signal: c.signal }), (c) => c.abort(), RequestAbortedError],
    ['timed out while queued', () => ({ timeout: 500 }), () => undefined, RequestTimeoutError],
  ];
  it.each(ends)('%s', async (_, options, end, errorClass) => {
    // One slot, taken by a long request: everything else waits in the queue.
    const r = rig({ accounts: [{ id: 'org-a', keys: ['sk-aaaaaaaaaaaa1'], limits: { ...ROOMY, concurrency: 1 } }], fake: { latencyMs: () => 10_000 } });
    const first = track(ask(r.pool, 'first'), r.clock);
    const controller = new AbortController();
    const { prompts, waiting } = submit(r, 3_000, 30_000, options(controller));
    expect(r.pool.stats().queued).toBe(3_000);
    end(controller);
    await r.clock.advance(600);
    await settleAll(r.clock, waiting);
    expect(waiting.every((w) => w.error instanceof errorClass)).toBe(true);
    waiting.length = 0;
    await collect();
    expect(prompts.map((p, i) => (p.deref() !== undefined ? i : -1)).filter((i) => i >= 0)).toEqual([]);
    // The pool still works: the long request ends, the next one runs.
    await settleAll(r.clock, [first]);
    const next = track(ask(r.pool, 'next'), r.clock);
    await settleAll(r.clock, [next]);
    expect(next.error).toBeUndefined();
  });

  it('a request that succeeded or failed after running drops its params too', async () => {
    const r = rig();
    const { prompts: refs, waiting: done } = submit(r, 10, 10, {});
    await settleAll(r.clock, done);
    done.length = 0;
    await collect();
    expect(refs.map((p, i) => (p.deref() !== undefined ? i : -1)).filter((i) => i >= 0)).toEqual([]);
  });
});

describe('JobQueue forgets removed entries', () => {
  interface Item extends Queueable {
    readonly seq: number;
    readonly priority: number;
    queued: boolean;
  }
  const cases: [string, number, number][] = [
    // name, entries, kept
    ['all forgotten', 5_000, 0],
    ['most forgotten', 5_000, 100],
    ['few forgotten (no rebuild needed)', 1_000, 900],
  ];
  it.each(cases)('%s', (_, n, kept) => {
    const q = new JobQueue<Item>();
    const items: Item[] = [];
    for (let i = 0; i < n; i++) {
      const item: Item = { seq: i, priority: i % 3, queued: false };
      items.push(item);
      if (i % 2 === 0) q.push(item);
      else q.pushBack(item);
    }
    // Forget all but `kept`, spread over the queue.
    const keep = new Set(items.filter((_, i) => i % Math.max(1, Math.floor(n / Math.max(1, kept))) === 0).slice(0, kept));
    for (const item of items) if (!keep.has(item)) q.forget(item);
    expect(q.size).toBe(keep.size);
    // Forgotten entries are not held beyond a bounded slack (the rebuild's threshold).
    expect(q.stored).toBeLessThanOrEqual(keep.size + 1025 + keep.size);
    // Order is kept: priority first, then seq.
    const out = q.drain();
    const expected = [...keep].sort((a, b) => b.priority - a.priority || a.seq - b.seq);
    expect(out).toEqual(expected);
  });
});
