/**
 * The dispatcher with a store that answers asynchronously (as the Redis one
 * does), on the injected clock.
 */
import { describe, expect, it } from 'vitest';
import { PoolClosedError } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { StoreContext } from '../../src/store/limit-store.js';
import { rig, ROOMY, settleAll, track, WINDOW } from '../helpers/pool.js';

/** A MemoryStore whose every decision resolves a tick later, counting the calls per account. */
class AsyncStore extends MemoryStore {
  readonly asked = new Map<string, number>();
  override init(context: StoreContext): void {
    super.init(context);
  }
  // @ts-expect-error: the interface allows a Promise; MemoryStore's own signature is sync.
  override acquire(account: string, tokens: number, lease: number): Promise<number> {
    const n = (this.asked.get(account) ?? 0) + 1;
    this.asked.set(account, n);
    // A dispatcher asking in a loop would never yield to the test: stop it here.
    if (n > 50) return Promise.reject(new Error(`asked ${n} times`));
    return Promise.resolve().then(() => super.acquire(account, tokens, lease));
  }
}

describe('an async store', () => {
  it('does not ask again an account that said NEVER to the head job while another account is waiting', async () => {
    const store = new AsyncStore();
    const r = rig({
      accounts: [
        { id: 'small', keys: ['sk-small-key-0001'], limits: { ...ROOMY, tpm: 100 } },
        { id: 'big', keys: ['sk-big-key-00001'], limits: { ...ROOMY, rpm: 1 } },
      ],
      pool: { store },
    });
    const ask = (tokens: number, content: string) =>
      track(r.pool.chat.completions.create({ model: 'm', messages: [{ role: 'user', content }], max_tokens: tokens }));
    // Fits both; takes "big"'s only start of this window, or "small"'s.
    const first = ask(10, 'a');
    const second = ask(10, 'b');
    // Fits only "big", whose start is used: it waits a window there.
    const large = ask(500, 'c');
    await settleAll(r.clock, [first, second, large]);
    expect([first, second, large].map((t) => t.value?.choices[0]?.message.content)).toEqual(['echo: a', 'echo: b', 'echo: c']);
    expect(r.of('start').find((s) => s.tokens > 500)?.account).toBe('big');
    // "small" was asked for the two small jobs and once for the large one, not in a loop.
    expect(store.asked.get('small')).toBeLessThanOrEqual(3);
    expect(r.clock.now()).toBeGreaterThanOrEqual(WINDOW);
  });
});

/** A MemoryStore whose decisions wait until the test lets them through; it logs grants, releases and close. */
class GatedStore extends MemoryStore {
  readonly log: string[] = [];
  private readonly gates: (() => void)[] = [];
  // @ts-expect-error: the interface allows a Promise; MemoryStore's own signature is sync.
  override acquire(account: string, tokens: number, lease: number): Promise<number> {
    return new Promise<void>((resolve) => this.gates.push(resolve)).then(() => {
      const wait = super.acquire(account, tokens, lease);
      if (wait === 0) this.log.push(`grant ${lease}`);
      return wait;
    });
  }
  override release(account: string, lease: number): Promise<void> {
    this.log.push(`release ${lease}`);
    return Promise.resolve().then(() => super.release(account, lease));
  }
  override close(): void {
    this.log.push('close');
    super.close();
  }
  /** Lets the oldest waiting decision through. */
  open(): void {
    this.gates.shift()?.();
  }
  get waiting(): number {
    return this.gates.length;
  }
}

describe('a grant that arrives for a request that can no longer take it', () => {
  it('pause() while the store decides: nothing starts, the grant is given back, resume() starts it', async () => {
    const store = new GatedStore();
    const r = rig({ pool: { store } });
    let ran = 0;
    const a = track(r.pool.schedule(() => (ran++, 'a')), r.clock);
    await r.clock.advance(0);
    expect(store.waiting).toBe(1);
    r.pool.pause();
    store.open();
    await r.clock.advance(100);
    expect(ran).toBe(0);
    expect(store.log).toEqual(['grant 1', 'release 1']);
    r.pool.resume();
    while (!a.settled) {
      store.open();
      await r.clock.advance(10);
    }
    expect(a.value).toBe('a');
    expect(ran).toBe(1);
  });

  it('close() while the store decides: the grant is given back before the store closes', async () => {
    const store = new GatedStore();
    const r = rig({ pool: { store } });
    const a = track(r.pool.schedule(() => 'a'), r.clock);
    await r.clock.advance(0);
    const closed = track(r.pool.close(), r.clock);
    await r.clock.advance(10);
    expect(a.error).toBeInstanceOf(PoolClosedError);
    expect(closed.settled).toBe(false);
    store.open();
    await settleAll(r.clock, [closed]);
    expect(store.log).toEqual(['grant 1', 'release 1', 'close']);
  });
});
