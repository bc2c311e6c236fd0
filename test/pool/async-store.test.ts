/**
 * The dispatcher with a store that answers asynchronously (as the Redis one
 * does), on the injected clock.
 */
import { describe, expect, it } from 'vitest';
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
